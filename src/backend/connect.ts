/**
 * Connecting to a backend that may not be there yet.
 *
 * A backend started on demand is often still starting when the first client
 * arrives. Rather than resetting that client (what systemd-socket-proxyd does,
 * systemd#2105), we try every address in turn and, while the deadline allows,
 * retry with a capped exponential backoff: the first retry comes within ~10 ms
 * so a backend that is about to listen costs almost nothing, later ones are at
 * most 500 ms apart so a slow one is not hammered. A connect that hangs (a
 * black-holed address) is abandoned at the deadline, not after the kernel's
 * ~2 minutes of SYN retries.
 *
 * The native engine connects its own backends; this is for the one connection
 * it is handed already accepted (an Accept=yes socket), which it can only
 * adopt with its backend socket connected. So the result is a bare fd: the
 * Node socket used to connect never reads (it is paused before it connects),
 * and is closed once its fd is dup'd, so no byte of the backend's is taken.
 */
import { connect } from 'node:net';
import type { NativeBinding, SocketAddress } from '../native/binding.js';

export const FIRST_RETRY_MS = 10;
export const MAX_RETRY_MS = 500;

export type ConnectFailure = 'refused' | 'timeout' | 'other';

export class BackendConnectError extends Error {
  constructor(
    readonly reason: ConnectFailure,
    readonly code: string,
  ) {
    super(`backend connect failed: ${code}`);
  }
}

/** Errors meaning "nobody listens there (yet)". */
const REFUSED = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EAGAIN']);

type FdOps = Pick<NativeBinding, 'connectUnix' | 'dup'>;

function connectOnce(address: SocketAddress, timeoutMs: number, native: FdOps): Promise<number> {
  if (address.family === 'unix' && address.abstract) {
    // Node 20 pads abstract names to all of sun_path; the addon connects to the name as written.
    try {
      return Promise.resolve(native.connectUnix(address));
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) => {
    const options =
      address.family === 'unix'
        ? { path: address.abstract ? `\0${address.path}` : address.path }
        : { host: address.address, port: address.port };
    const socket = connect({ ...options, allowHalfOpen: true });
    socket.pause();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      try {
        const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
        resolve(native.dup(fd));
      } catch (err) {
        reject(err);
      } finally {
        socket.destroy();
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'UNKNOWN';
}

/**
 * Resolves with the fd of a connected socket (nonblocking, CLOEXEC, the caller's), or rejects with a BackendConnectError once
 * every address failed and the deadline (ms from now; 0 = a single pass) ran out.
 */
export async function connectBackend(
  addresses: readonly SocketAddress[],
  connectTimeoutMs: number,
  native: FdOps,
): Promise<number> {
  const deadline = Date.now() + connectTimeoutMs;
  let delay = FIRST_RETRY_MS;
  let lastCode = 'UNKNOWN';
  for (;;) {
    for (const address of addresses) {
      const left = deadline - Date.now();
      // A single pass (no deadline) still gives each address a bounded attempt.
      const attemptMs = connectTimeoutMs === 0 ? 10_000 : left;
      if (attemptMs <= 0) break;
      try {
        return await connectOnce(address, attemptMs, native);
      } catch (err) {
        lastCode = codeOf(err);
      }
    }
    const left = deadline - Date.now();
    if (connectTimeoutMs === 0 || left <= 0) break;
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(delay, left)));
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
  const reason: ConnectFailure = REFUSED.has(lastCode)
    ? 'refused'
    : lastCode === 'ETIMEDOUT'
      ? 'timeout'
      : 'other';
  throw new BackendConnectError(reason, lastCode);
}
