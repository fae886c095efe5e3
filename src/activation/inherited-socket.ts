/**
 * Adopting the fds systemd handed over: classify each with getsockopt and set
 * O_NONBLOCK and FD_CLOEXEC before any event loop watches it.
 *
 * O_NONBLOCK matters more than it looks: systemd passes listening sockets in
 * blocking mode, and a loop that accept()s on a blocking fd after a spurious
 * wakeup hangs there, with its idle timer never firing.
 */
import { ConfigError } from '../errors.js';
import type { FdInfo, NativeBinding, SocketFamily, SocketType } from '../native/binding.js';
import type { ListenedFd } from './listen-fds.js';

export type SocketRole = 'stream-listener' | 'datagram' | 'stream-connection';

export interface InheritedSocket {
  fd: number;
  name: string;
  role: SocketRole;
  type: SocketType;
  family: SocketFamily;
  /** For logs and metrics labels: the fd name when it has one, else the local address. */
  label: string;
  localAddress: string;
}

/** Families sockrelay relays; anything else (netlink, packet, …) the addon reports as 'unknown'. */
const PROXIED_FAMILIES: ReadonlySet<SocketFamily> = new Set(['inet', 'inet6', 'unix']);

/** A stream socket that neither listens nor has a peer (bound, or never used) is no Accept=yes connection. */
const isUnconnected = (info: FdInfo): boolean => info.type === 'stream' && !info.listening && !info.connected;

function describe(info: FdInfo): string {
  if (!info.isSocket) return `a ${info.fileType}, not a socket`;
  const type = info.type === 'dgram' ? 'datagram' : info.type;
  if (info.family === 'unknown') return `a ${type} socket of a family other than inet, inet6 and unix`;
  const article = info.family.startsWith('inet') ? 'an' : 'a';
  if (isUnconnected(info))
    return `${article} ${info.family} stream socket that neither listens nor is connected`;
  return `${article} ${info.family} ${type} socket${info.listening ? ' (listening)' : ''}`;
}

function roleOf(info: FdInfo): SocketRole | null {
  if (!info.isSocket) return null;
  if (info.type === 'stream') {
    if (info.listening) return 'stream-listener';
    return isUnconnected(info) ? null : 'stream-connection';
  }
  if (info.type === 'dgram' && PROXIED_FAMILIES.has(info.family)) return 'datagram';
  return null;
}

export function adoptInheritedSockets(
  listened: ListenedFd[],
  native: Pick<NativeBinding, 'fdinfo' | 'setFdFlags'>,
  supportedRoles: ReadonlySet<SocketRole>,
): InheritedSocket[] {
  return listened.map(({ fd, name }) => {
    let info: FdInfo;
    try {
      info = native.fdinfo(fd);
    } catch (err) {
      throw new ConfigError(
        'ERR_BAD_FD',
        `fd ${fd} (${name}) cannot be inspected: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const role = roleOf(info);
    if (role === null || !supportedRoles.has(role)) {
      throw new ConfigError(
        'ERR_UNSUPPORTED_FD',
        `fd ${fd} (${name}) is ${describe(info)}, which sockrelay ${role ? 'was not built to handle here' : 'cannot proxy'}`,
      );
    }
    native.setFdFlags(fd, { nonblock: true, cloexec: true });
    return {
      fd,
      name,
      role,
      type: info.type,
      family: info.family,
      label: name !== 'unknown' ? name : info.localAddress || `fd${fd}`,
      localAddress: info.localAddress,
    };
  });
}
