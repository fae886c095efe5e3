/**
 * The two ends of an accepted stream connection, as a PROXY header names them:
 * the client (getpeername) and the address it connected to (getsockname).
 *
 * Node knows both for TCP. For unix sockets it knows neither, so the listener's
 * own address is looked up once and the client's per connection, through the
 * addon's fdinfo when it is there; an unnamed client — nearly every unix
 * client, since connect() does not bind — is an empty path, which the encoder
 * sends as 108 zero bytes.
 */
import { isIPv6, type Server, type Socket } from 'node:net';
import type { FdInfo, SocketAddress } from '../native/binding.js';
import type { ProxiedFlow } from './encode.js';

/** fdinfo's formatted unix address (`/path`, `@abstract`, '' when unnamed) as a SocketAddress. */
export function unixAddress(text: string): SocketAddress {
  return text.startsWith('@')
    ? { family: 'unix', path: text.slice(1), abstract: true }
    : { family: 'unix', path: text, abstract: false };
}

type FdInfoOf = (fd: number) => Pick<FdInfo, 'family' | 'localAddress' | 'peerAddress'>;

/** What a listener contributes to every header: for a unix listener, its own address. */
export interface ListenerEnds {
  unix: SocketAddress | null;
}

export function listenerEnds(fd: number, server: Server | undefined, fdinfo: FdInfoOf | null): ListenerEnds {
  const bound = server?.address();
  if (typeof bound === 'string') return { unix: unixAddress(bound) };
  if (!fdinfo) return { unix: null };
  const info = fdinfo(fd);
  return { unix: info.family === 'unix' ? unixAddress(info.localAddress) : null };
}

function inet(address: string | undefined, port: number | undefined): SocketAddress | null {
  if (address === undefined || port === undefined) return null;
  return { family: isIPv6(address) ? 'inet6' : 'inet', address, port };
}

/** The fd under a Node socket; libuv exposes it on the handle, and only on Unix. */
function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

export function streamFlow(client: Socket, listener: ListenerEnds, fdinfo: FdInfoOf | null): ProxiedFlow {
  if (!listener.unix) {
    return {
      transport: 'stream',
      source: inet(client.remoteAddress, client.remotePort),
      destination: inet(client.localAddress, client.localPort),
    };
  }
  const fd = fdOf(client);
  let peer = '';
  if (fdinfo && fd >= 0) {
    try {
      peer = fdinfo(fd).peerAddress;
    } catch {
      // The client is already gone: it stays unnamed, and the relay will see the reset soon enough.
    }
  }
  return { transport: 'stream', source: unixAddress(peer), destination: listener.unix };
}
