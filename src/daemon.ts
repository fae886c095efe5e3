/**
 * The daemon: gather the sockets, route each to its backend, start what
 * serves them (the stream engine for listeners, a UDP relay per datagram
 * socket, a stream engine for an Accept=yes connection), tell systemd, and
 * run until idle or signalled (src/lifecycle/run-loop.ts).
 */
import { formatSocketAddress, resolveAddress } from './backend/resolve.js';
import type { SocketRole } from './activation/inherited-socket.js';
import type { AddressSpec } from './config/address.js';
import type { Config } from './config/config.js';
import { formatTimeSpan } from './config/time-span.js';
import { selectEngine } from './engine/select-engine.js';
import { StreamEngine } from './engine/stream-engine.js';
import type { Engine, EngineBackend, EngineListener, EngineStats } from './engine/types.js';
import { ConfigError, ExitCode } from './errors.js';
import { engineSource, udpSource, type ActivitySource } from './lifecycle/activity-source.js';
import type { Clock } from './lifecycle/idle-monitor.js';
import { Notifier, notifyTargetFromEnv } from './lifecycle/notify.js';
import { runUntilDone } from './lifecycle/run-loop.js';
import { fdStoreFromEnv } from './handover/fd-store.js';
import { handOver, resumeHandedOver } from './handover/handover.js';
import type { Logger } from './logger.js';
import type { Metrics, MetricsSources } from './metrics/index.js';
import type { NativeLoad } from './native/binding.js';
import { routeSockets, type RoutedSocket } from './routing.js';
import { gatherSockets } from './sockets.js';
import { createUdpRelay } from './udp/index.js';
import type { UdpRelay } from './udp/types.js';

export interface DaemonDeps {
  logger: Logger;
  native: NativeLoad;
  env: NodeJS.ProcessEnv;
  pid: number;
  /** Where SIGTERM/SIGINT come from (the process, or a test's emitter). */
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
  /** sockrelay's version, for sockrelay_info. */
  version: string;
  clock?: Clock;
}

/** How long a handover may wait for connections to flush into the kernel before draining them. */
const HANDOVER_FLUSH_MAX_MS = 3000;

/** FileDescriptorName=metrics: a socket for the metrics endpoint, not for proxying. */
const METRICS_FD_NAME = 'metrics';

const SUPPORTED_ROLES: ReadonlySet<SocketRole> = new Set([
  'stream-listener',
  'stream-connection',
  'datagram',
]);
/** Native and timer APIs take 32-bit milliseconds. */
const MAX_MS = 2_147_483_647;

/** Resolves each distinct backend once. */
async function resolveBackends(routed: RoutedSocket[]): Promise<Map<AddressSpec, EngineBackend>> {
  const backends = new Map<AddressSpec, EngineBackend>();
  for (const { backend } of routed) {
    if (!backends.has(backend))
      backends.set(backend, { spec: backend.text, addresses: await resolveAddress(backend) });
  }
  return backends;
}

function statusLine(engines: Engine[], relays: UdpRelay[]): string {
  let open = 0;
  let bytesIn = 0n;
  let bytesOut = 0n;
  for (const engine of engines) {
    for (const l of engine.stats().listeners) {
      open += l.active;
      bytesIn += l.bytesIn;
      bytesOut += l.bytesOut;
    }
  }
  let sessions = 0;
  for (const relay of relays) {
    const s = relay.stats();
    sessions += s.sessionsActive;
    bytesIn += s.bytesIn;
    bytesOut += s.bytesOut;
  }
  const udp = relays.length > 0 ? `, ${sessions} UDP sessions` : '';
  return `${open} connections${udp}; ${bytesIn} bytes in, ${bytesOut} bytes out`;
}

function mergeStats(engines: Engine[]): EngineStats | null {
  if (engines.length === 0) return null;
  const all = engines.map((e) => e.stats());
  return { active: all.reduce((n, s) => n + s.active, 0), listeners: all.flatMap((s) => s.listeners) };
}

/** Metrics only when asked for: --metrics-listen, an fd named metrics, or --metrics-textfile. */
async function startMetrics(
  config: Config,
  deps: DaemonDeps,
  fds: number[],
  sources: MetricsSources,
): Promise<Metrics | null> {
  if (!config.metricsListen && !config.metricsTextfile && fds.length === 0) return null;
  // Loaded lazily: prom-client is not needed on the path to the first connection.
  const { createMetrics } = await import('./metrics/index.js');
  const metrics = createMetrics({ sources, logger: deps.logger, textfile: config.metricsTextfile });
  try {
    for (const fd of fds) await metrics.serve({ fd });
    if (config.metricsListen) {
      const server = await metrics.serve({ address: config.metricsListen });
      deps.logger.info({ metrics: server.where }, 'serving metrics');
    }
  } catch (err) {
    await metrics.stop();
    throw err;
  }
  return metrics;
}

export async function runDaemon(config: Config, deps: DaemonDeps): Promise<ExitCode> {
  const { logger, native } = deps;
  const binding = native.binding;
  const nofile = binding?.raiseNofileLimit();
  const gathered = await gatherSockets({
    env: deps.env,
    pid: deps.pid,
    native: binding,
    listen: config.listen,
    supportedRoles: SUPPORTED_ROLES,
  });
  const relays: UdpRelay[] = [];
  try {
    const { sockets, activation } = gathered;
    if (sockets.length === 0) {
      const why = activation.ours ? 'LISTEN_FDS=0' : `not socket-activated (${activation.reason})`;
      throw new ConfigError('ERR_NO_SOCKETS', `no sockets to serve: ${why}, and no --listen given`);
    }
    const isMetrics = (s: (typeof sockets)[number]): boolean =>
      s.name === METRICS_FD_NAME && s.role === 'stream-listener';
    const { routed, unusedRoutes } = routeSockets(
      sockets.filter((s) => !isMetrics(s)),
      config,
    );
    const backends = await resolveBackends(routed);
    const listenerOf = ({ socket, backend, proxyProtocol }: RoutedSocket): EngineListener => ({
      fd: socket.fd,
      label: socket.label,
      backend: backends.get(backend)!,
      ...(socket.server ? { server: socket.server } : {}),
      ...(socket.role === 'stream-connection' ? { connected: true } : {}),
      ...(proxyProtocol ? { proxyProtocol } : {}),
    });
    const engineOptions = {
      connectionsMax: config.connectionsMax,
      pipeSize: config.pipeSize,
      connectTimeoutMs: Math.min(config.connectTimeoutMs, MAX_MS),
      connectionIdleTimeoutMs:
        config.connectionIdleTimeoutMs === Infinity ? 0 : config.connectionIdleTimeoutMs,
      keepaliveMs: config.keepaliveMs === Infinity ? 0 : config.keepaliveMs,
      connectionEvents: logger.isLevelEnabled('debug'),
      ...(nofile && nofile.soft > 0 ? { fdLimit: nofile.soft } : {}),
    };

    const sources: ActivitySource[] = [];
    const engines: Engine[] = [];
    const listeners = routed.filter((r) => r.socket.role === 'stream-listener').map(listenerOf);
    let engineReason: string | null = null;
    let listenerEngine: Engine | null = null;
    if (listeners.length > 0) {
      const { engine, reason } = await selectEngine(config.engine, native, { ...engineOptions, listeners });
      listenerEngine = engine;
      engines.push(engine);
      sources.push(engineSource(engine));
      engineReason = reason;
    }
    const accepted = routed.filter((r) => r.socket.role === 'stream-connection').map(listenerOf);
    if (accepted.length > 0) {
      // Accept=yes: one connection, proxied by the stream engine; we exit as soon as it ends.
      const engine = new StreamEngine({ ...engineOptions, listeners: accepted }, binding);
      engines.push(engine);
      sources.push(engineSource(engine, 'accepted'));
    }
    for (const { socket, backend, proxyProtocol } of routed.filter((r) => r.socket.role === 'datagram')) {
      const relay = createUdpRelay(binding, {
        fd: socket.fd,
        family: socket.family === 'inet6' ? 'inet6' : socket.family === 'unix' ? 'unix' : 'inet',
        label: socket.label,
        backend: backends.get(backend)!,
        sessionTimeoutMs: config.udpSessionTimeoutMs,
        sessionsMax: config.udpSessionsMax,
        // routeSockets refuses v1 for datagram sockets: v2 is the only form UDP has.
        ...(proxyProtocol === 'v2' ? { proxyProtocol } : {}),
      });
      relays.push(relay);
      sources.push(udpSource(relay));
    }

    for (const engine of engines) {
      engine.on('open', (c) => logger.debug(c, 'connection open'));
      engine.on('close', (c) => logger.debug(c, 'connection closed'));
      engine.on('connectFailed', (f) => logger.warn(f, 'backend connect failed'));
      engine.on('acceptError', (e) => logger.warn(e, 'accept failed; pausing accept briefly'));
    }
    for (const relay of relays) {
      relay.on('sessionError', (e) => logger.warn(e, 'UDP session ended by a backend error'));
      relay.on('dropped', (d) => logger.warn(d, 'UDP datagrams dropped'));
      relay.on('socketError', (e) => logger.warn(e, 'UDP socket error'));
    }
    for (const name of unusedRoutes) logger.warn({ route: name }, 'no fd has this name; --route unused');

    // Connections a previous instance handed over resume before anything new is accepted.
    const store = fdStoreFromEnv(deps.env, binding);
    const targets = {
      engine: listenerEngine,
      listenerLabels: listeners.map((l) => l.label),
      relays,
      drainer: () => new StreamEngine({ ...engineOptions, listeners }, binding),
    };
    if (gathered.handedOver.length > 0) {
      if (!binding) throw new ConfigError('ERR_HANDOVER', 'handed-over connections need the native addon');
      const report = resumeHandedOver(gathered.handedOver, targets, binding, store, logger);
      for (const { fd, why } of report.rejected)
        logger.warn({ fd, why }, 'handed-over fd rejected and closed');
      logger.info(
        { connections: report.connections, sessions: report.sessions },
        'resumed handed-over connections',
      );
    }

    logger.info(
      {
        listeners: routed.map(({ socket, backend, proxyProtocol }) => ({
          fd: socket.fd,
          name: socket.name,
          address: socket.localAddress,
          family: socket.family,
          kind: socket.role,
          backend: backend.text,
          ...(proxyProtocol ? { proxyProtocol } : {}),
        })),
        backends: [...backends.values()].map((b) => ({
          spec: b.spec,
          addresses: b.addresses.map(formatSocketAddress),
        })),
        engine: engines[0]?.name ?? null,
        engineReason,
        udp: relays.map((r) => r.name)[0] ?? null,
        connectionsMax: config.connectionsMax,
        exitIdleTime: formatTimeSpan(config.exitIdleTimeMs),
        nofile,
      },
      'sockrelay started',
    );

    const metrics = await startMetrics(
      config,
      deps,
      sockets.filter(isMetrics).map((s) => s.fd),
      {
        version: deps.version,
        engine: engines[0]?.name ?? 'none',
        tcp: () => mergeStats(engines),
        udp: () => relays.map((r) => r.stats()),
        backendOf: (label) => routed.find((r) => r.socket.label === label)?.backend.text ?? '',
      },
    );
    const target = binding ? notifyTargetFromEnv(deps.env, deps.pid) : null;
    let finalStatus = '';
    const notifier = target && binding ? new Notifier(binding, target, logger) : null;
    const reasonPromise = runUntilDone({
      sources,
      ...(store && binding
        ? {
            handover: async () => {
              const flushMs = Math.min(config.shutdownTimeoutMs, HANDOVER_FLUSH_MAX_MS);
              const { drainer, ...result } = await handOver(targets, store, binding, flushMs);
              const level = result.storeError ? 'warn' : 'info';
              logger[level]({ ...result, capacity: store.capacity }, 'handed over to the fd store');
              return drainer ? [engineSource(drainer, 'drainer')] : [];
            },
          }
        : {}),
      // Accept=yes serves one connection: exit as soon as it is done.
      exitIdleTimeMs: accepted.length > 0 && listeners.length === 0 ? 0 : config.exitIdleTimeMs,
      shutdownTimeoutMs: config.shutdownTimeoutMs,
      logger,
      signals: deps.signals,
      ...(deps.clock ? { clock: deps.clock } : {}),
      beforeDestroy: () => metrics?.stop() ?? Promise.resolve(),
      onStopping: (why) => {
        finalStatus = statusLine(engines, relays);
        notifier?.stopping(`stopping (${why}): ${finalStatus}`);
      },
    });
    notifier?.ready(() => statusLine(engines, relays));
    const reason = await reasonPromise;
    notifier?.stop();
    logger.info({ reason, status: finalStatus || undefined }, 'sockrelay stopped');
    return ExitCode.ok;
  } finally {
    gathered.release();
  }
}
