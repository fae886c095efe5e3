/** The start-up steps of runDaemon that are not a module of their own. */
import type { InheritedSocket } from '../activation/inherited-socket.js';
import { formatSocketAddress, resolveBackend } from '../backend/resolve.js';
import type { AddressSpec } from '../config/address.js';
import type { Config } from '../config/config.js';
import { formatTimeSpan } from '../config/time-span.js';
import type { EngineBackend } from '../engine/types.js';
import { ConfigError } from '../errors.js';
import type { FdStore } from '../handover/fd-store.js';
import type { Logger } from '../logger.js';
import type { NativeBinding, NofileLimit } from '../native/binding.js';
import type { RoutedSocket } from '../routing.js';
import type { Gathered } from '../sockets.js';
import { handoverTargets, type DataPlane } from './data-plane.js';

/** FileDescriptorName=metrics: a socket for the metrics endpoint, not for proxying. */
const METRICS_FD_NAME = 'metrics';

/** The sockets to proxy and the fds to serve metrics on; an error when there is nothing at all. */
export function socketsToServe(gathered: Gathered): { proxied: InheritedSocket[]; metricsFds: number[] } {
  const { sockets, activation } = gathered;
  if (sockets.length === 0) {
    const why = activation.ours ? 'LISTEN_FDS=0' : `not socket-activated (${activation.reason})`;
    throw new ConfigError('ERR_NO_SOCKETS', `no sockets to serve: ${why}, and no --listen given`);
  }
  const isMetrics = (s: InheritedSocket): boolean =>
    s.name === METRICS_FD_NAME && s.role === 'stream-listener';
  return {
    proxied: sockets.filter((s) => !isMetrics(s)),
    metricsFds: sockets.filter(isMetrics).map((s) => s.fd),
  };
}

/** Resolves each distinct backend (a name again later: src/backend/re-resolve.ts). */
export async function resolveBackends(routed: RoutedSocket[]): Promise<Map<AddressSpec, EngineBackend>> {
  const backends = new Map<AddressSpec, EngineBackend>();
  for (const { backend } of routed) {
    if (!backends.has(backend)) backends.set(backend, await resolveBackend(backend));
  }
  return backends;
}

/**
 * Connections a previous instance handed over resume before anything new is accepted. The
 * handover code loads only then: most starts have nothing to resume.
 */
export async function resumeConnections(
  gathered: Gathered,
  binding: NativeBinding,
  plane: DataPlane,
  store: FdStore | null,
  logger: Logger,
): Promise<void> {
  if (gathered.handedOver.length === 0) return;
  const { resumeHandedOver } = await import('../handover/handover.js');
  const targets = handoverTargets(binding, plane);
  const report = resumeHandedOver(gathered.handedOver, targets, binding, store, logger);
  for (const { fd, why } of report.rejected) logger.warn({ fd, why }, 'handed-over fd rejected and closed');
  logger.info(
    { connections: report.connections, sessions: report.sessions },
    'resumed handed-over connections',
  );
}

export function logStarted(
  routed: RoutedSocket[],
  backends: Map<AddressSpec, EngineBackend>,
  unusedRoutes: string[],
  config: Config,
  nofile: NofileLimit,
  logger: Logger,
): void {
  for (const name of unusedRoutes) logger.warn({ route: name }, 'no fd has this name; --route unused');
  logger.info(
    {
      listeners: routed.map(({ socket, backend, proxyProtocol, transparent }) => ({
        fd: socket.fd,
        name: socket.name,
        address: socket.localAddress,
        family: socket.family,
        kind: socket.role,
        backend: backend.text,
        ...(proxyProtocol ? { proxyProtocol } : {}),
        ...(transparent ? { transparent } : {}),
      })),
      backends: [...backends.values()].map((b) => ({
        spec: b.spec,
        addresses: b.addresses.map(formatSocketAddress),
      })),
      connectionsMax: config.connectionsMax,
      ...(config.sourceLimits ? { sourceLimits: config.sourceLimits } : {}),
      exitIdleTime: formatTimeSpan(config.exitIdleTimeMs),
      nofile,
    },
    'sockrelay started',
  );
}
