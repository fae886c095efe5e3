/**
 * Sessions handed over to and from the `dgram` relay: the text of a client address
 * back into what `dgram` reports, and an inherited upstream fd into a `dgram`
 * socket that sends to its backend without a lookup and does not read before the
 * relay starts. Errors match the native relay's: TypeError with code
 * ERR_INVALID_ARG_VALUE for bad input, Node system errors for failed calls.
 */
import dgram from 'node:dgram';
import { closeSync, fstatSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { getSystemErrorName } from 'node:util';

import type { NativeBinding } from '../native/binding.js';
import { dgramHandle, markConnected } from './dgram-handle.js';
import type { HandoverSession } from './types.js';

/** The addon's fd calls, when it is there. */
export type FdOps = Pick<NativeBinding, 'dup' | 'setFdFlags'>;

export type HandoverError = Error & { code: string; errno?: number; syscall?: string };

export function invalidArg(message: string): HandoverError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_VALUE' });
}

/** `1.2.3.4:5` on an inet socket, `[::1]:5` on an inet6 one, as dgram's rinfo names them. */
export function parseClient(
  text: string,
  family: 'inet' | 'inet6',
): { address: string; port: number } | HandoverError {
  const match = family === 'inet' ? /^([\d.]+):(\d{1,5})$/.exec(text) : /^\[(.+)\]:(\d{1,5})$/.exec(text);
  const address = match?.[1] ?? '';
  const port = Number(match?.[2]);
  const valid = family === 'inet' ? isIPv4(address) : isIPv6(address);
  if (!valid || !(port >= 1 && port <= 65535)) {
    return invalidArg(`client: not an ${family === 'inet' ? 'IPv4' : 'IPv6'} address and port: ${text}`);
  }
  return { address, port };
}

export function formatClient(client: { address: string; port: number }): string {
  return client.address.includes(':')
    ? `[${client.address}]:${client.port}`
    : `${client.address}:${client.port}`;
}

export interface AdoptContext {
  /** The relay's own socket's family: what a client address must be. */
  family: 'inet' | 'inet6';
  socketType: 'udp4' | 'udp6';
  fds: FdOps | null;
  /** fds the relay holds already (its own socket, earlier entries): never closed when refused. */
  taken: Set<number>;
  has: (key: string) => boolean;
  full: () => boolean;
}

export interface AdoptedUpstream {
  key: string;
  client: { address: string; port: number };
  socket: dgram.Socket;
  family: 'inet' | 'inet6';
}

/**
 * Checks one entry in the native relay's order (an fd the relay may take, a client address of its
 * family not already in a session, a connected UDP socket, a free session) and opens its socket.
 * A refused fd is closed unless it is not open or in `context.taken`. `local` is not used: without
 * IP_PKTINFO, dgram's replies leave from the address routing chooses.
 */
export function adoptUpstream(
  entry: HandoverSession,
  context: AdoptContext,
): AdoptedUpstream | HandoverError {
  const fd = entry.upstreamFd;
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff)
    return invalidArg('upstreamFd must be an integer >= 0');
  if (context.taken.has(fd)) return invalidArg(`upstreamFd ${fd} is the relay's own socket or given twice`);
  context.taken.add(fd);
  const refuse = (error: HandoverError): HandoverError => {
    closeSync(fd);
    return error;
  };
  if (typeof entry.client !== 'string' || typeof entry.local !== 'string') {
    return refuse(invalidArg('client and local must be strings'));
  }
  const client = parseClient(entry.client, context.family);
  if (client instanceof Error) return refuse(client);
  const key = `${client.address}|${client.port}`;
  if (context.has(key)) return refuse(invalidArg(`client ${entry.client} already has a session`));
  const opened = openUpstream(fd, context.socketType, context.fds);
  if (opened instanceof Error) {
    if (opened.code === 'EBADF') context.taken.delete(fd);
    return opened;
  }
  if (context.full()) {
    opened.socket.close();
    return Object.assign(new Error('sessionsMax sessions are open already'), {
      code: 'ERR_UDP_SESSIONS_MAX',
    });
  }
  const family = opened.socket.remoteAddress().family === 'IPv6' ? 'inet6' : 'inet';
  return { key, client, socket: opened.socket, family };
}

/**
 * Opens `fd` as a dgram socket connected to its backend, not yet reading. On failure the fd is closed
 * (unless not open) and the error returned. `type` only picks dgram's resolver, which a connected
 * socket never uses, so a guess from the configured backends is enough.
 */
function openUpstream(
  fd: number,
  type: 'udp4' | 'udp6',
  fds: FdOps | null,
): { socket: dgram.Socket } | HandoverError {
  try {
    if (!fstatSync(fd).isSocket()) {
      closeSync(fd);
      return invalidArg('upstreamFd is not a datagram socket');
    }
  } catch (err) {
    return err as HandoverError;
  }
  const socket = dgram.createSocket(type);
  try {
    // Refuses (ERR_INVALID_FD_TYPE) anything libuv does not call UDP: streams, unix sockets.
    socket.bind({ fd });
  } catch {
    socket.close();
    closeSync(fd);
    return invalidArg('upstreamFd is not a UDP socket');
  }
  const handle = dgramHandle(socket);
  // Until start(), replies wait in the kernel: read now, they would have no socket to leave by.
  handle?.recvStop?.();
  const peer: Record<string, unknown> = {};
  const err = handle?.getpeername?.(peer);
  let error: HandoverError | null = null;
  if (err === undefined) {
    error = Object.assign(new Error('this Node has no dgram handle to adopt a socket with'), {
      code: 'ERR_UDP_ADOPT_UNSUPPORTED',
    });
  } else if (err < 0) {
    // Unconnected, the socket would take replies from anyone and send nowhere.
    const code = getSystemErrorName(err);
    error = Object.assign(new Error(`getpeername ${code}`), { code, errno: err, syscall: 'getpeername' });
  } else if (!markConnected(socket)) {
    error = Object.assign(new Error('this Node does not let dgram send on an adopted socket'), {
      code: 'ERR_UDP_ADOPT_UNSUPPORTED',
    });
  }
  if (error) {
    socket.close();
    return error;
  }
  // libuv made it nonblocking; systemd hands fds over without CLOEXEC, which only the addon can set.
  fds?.setFdFlags(fd, { cloexec: true });
  return { socket };
}
