/**
 * What the `dgram` relay needs from a socket that `node:dgram` does not offer:
 * its libuv handle, found by the symbol its state hides under. Every use is
 * guarded, so a Node that moved these things degrades to "not supported" instead
 * of throwing: stopAccepting() then reads and ignores, export returns [], and
 * adoption refuses with ERR_UDP_ADOPT_UNSUPPORTED.
 */
import type dgram from 'node:dgram';

export interface DgramHandle {
  fd?: number;
  recvStart?: () => number;
  recvStop?: () => number;
  /** Fills `out` with { address, family, port }; returns 0 or a negative errno. */
  getpeername?: (out: Record<string, unknown>) => number;
}

interface DgramState {
  handle?: unknown;
  connectState?: number;
}

/** node:dgram's CONNECT_STATE_CONNECTED (lib/dgram.js, unchanged since connect() came in Node 12). */
const CONNECT_STATE_CONNECTED = 2;

function socketState(socket: dgram.Socket): DgramState | null {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  return key ? ((socket as unknown as Record<symbol, DgramState | undefined>)[key] ?? null) : null;
}

export function dgramHandle(socket: dgram.Socket | null): DgramHandle | null {
  if (!socket) return null;
  return (socketState(socket)?.handle as DgramHandle | undefined) ?? null;
}

/**
 * Tells dgram that a socket opened from an fd is connected, as the kernel (and libuv) already know:
 * libuv refuses connect() on it (EISCONN) and sends with an address (EISCONN), while dgram sends
 * without one only once it believes it connected. True when dgram now agrees.
 */
export function markConnected(socket: dgram.Socket): boolean {
  const state = socketState(socket);
  if (!state || typeof state.connectState !== 'number') return false;
  state.connectState = CONNECT_STATE_CONNECTED;
  try {
    socket.remoteAddress();
    return true;
  } catch {
    return false;
  }
}
