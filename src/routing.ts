/**
 * Which backend each socket goes to. An fd named NAME (FileDescriptorName= in
 * the socket unit, LISTEN_FDNAMES here) goes to `--route NAME=BACKEND`; every
 * other fd to the positional BACKEND. An fd with neither is a configuration
 * error naming that fd, found before anything is served. systemd-socket-proxyd
 * sends every fd to one backend (systemd#15599).
 *
 * The PROXY protocol header follows the route: `--route NAME=…,proxy-protocol=`
 * for that route, else `--proxy-protocol`. v1 has no form for datagrams, so a
 * datagram socket asked to send it is a configuration error, not a silent v2.
 *
 * Transparent mode follows the route the same way (`transparent=yes|no`, else
 * `--transparent`). It keeps the client's address, so a unix socket on either
 * side, where there is no address to keep, is a configuration error too.
 */
import type { AddressSpec } from './config/address.js';
import type { Config } from './config/config.js';
import { ConfigError } from './errors.js';
import type { ProxyProtocolVersion } from './proxy-protocol/version.js';
import type { InheritedSocket } from './activation/inherited-socket.js';

export interface RoutedSocket {
  socket: InheritedSocket;
  backend: AddressSpec;
  /** The PROXY header to send before the client's bytes (on every datagram for UDP); null: none. */
  proxyProtocol: ProxyProtocolVersion | null;
  /** Backend sockets bound to the client's own address and port (IP_TRANSPARENT). */
  transparent: boolean;
}

export interface Routing {
  routed: RoutedSocket[];
  /** --route names that match no fd: likely a typo or a socket unit that changed. */
  unusedRoutes: string[];
}

export function routeSockets(
  sockets: InheritedSocket[],
  config: Pick<
    Config,
    'routes' | 'backend' | 'proxyProtocol' | 'routeProxyProtocol' | 'transparent' | 'routeTransparent'
  >,
): Routing {
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
    const own = byName ? config.routeProxyProtocol.get(socket.name) : undefined;
    const proxyProtocol = own === undefined ? config.proxyProtocol : own;
    if (proxyProtocol === 'v1' && socket.role === 'datagram') {
      throw new ConfigError(
        'ERR_PROXY_PROTOCOL_V1_DATAGRAM',
        `fd ${socket.fd} (${socket.name}) is a datagram socket: PROXY protocol v1 describes TCP only; use v2`,
      );
    }
    const transparent = (byName && config.routeTransparent.get(socket.name)) ?? config.transparent;
    if (transparent && (socket.family === 'unix' || backend.kind === 'unix')) {
      const which = socket.family === 'unix' ? 'is a unix socket' : `goes to the unix socket ${backend.text}`;
      throw new ConfigError(
        'ERR_TRANSPARENT_UNIX',
        `fd ${socket.fd} (${socket.name}) ${which}: transparent mode keeps the client's IP address, and a unix socket has none; set transparent=no on its --route`,
      );
    }
    return { socket, backend, proxyProtocol, transparent };
  });
  const unusedRoutes = [...config.routes.keys()].filter((name) => !used.has(name));
  return { routed, unusedRoutes };
}
