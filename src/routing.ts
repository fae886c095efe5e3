/**
 * Which backend each socket goes to. An fd named NAME (FileDescriptorName= in
 * the socket unit, LISTEN_FDNAMES here) goes to `--route NAME=BACKEND`; every
 * other fd to the positional BACKEND. An fd with neither is a configuration
 * error naming that fd, found before anything is served. systemd-socket-proxyd
 * sends every fd to one backend (systemd#15599).
 */
import type { AddressSpec } from './config/address.js';
import type { Config } from './config/config.js';
import { ConfigError } from './errors.js';
import type { GatheredSocket } from './sockets.js';

export interface RoutedSocket {
  socket: GatheredSocket;
  backend: AddressSpec;
}

export interface Routing {
  routed: RoutedSocket[];
  /** --route names that match no fd: likely a typo or a socket unit that changed. */
  unusedRoutes: string[];
}

export function routeSockets(sockets: GatheredSocket[], config: Pick<Config, 'routes' | 'backend'>): Routing {
  const used = new Set<string>();
  const routed = sockets.map((socket) => {
    const byName = config.routes.get(socket.name);
    if (byName) used.add(socket.name);
    const backend = byName ?? config.backend;
    if (!backend) {
      const named = socket.name !== 'unknown' ? ` and no --route ${socket.name}=BACKEND` : '';
      throw new ConfigError(
        'ERR_NO_ROUTE',
        `fd ${socket.fd} (${socket.name}) has no backend: no BACKEND given${named}`,
      );
    }
    return { socket, backend };
  });
  const unusedRoutes = [...config.routes.keys()].filter((name) => !used.has(name));
  return { routed, unusedRoutes };
}
