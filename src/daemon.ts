/**
 * The daemon, as the steps it takes: gather the sockets, route each to its
 * backend, build the native data plane, resume what a previous instance handed
 * over, tell systemd, and serve until idle or signalled. Each step lives with
 * its concern (src/daemon/, src/handover/, src/lifecycle/, src/reload/).
 */
import type { Config } from './config/config.js';
import { buildDataPlane, engineSettings, handoverTargets, logDataPlaneEvents } from './daemon/data-plane.js';
import type { DataPlane } from './daemon/data-plane.js';
import { logMachineLimits } from './daemon/machine-limits.js';
import { streamFds } from './engine/fd-budget.js';
import { startMetrics } from './daemon/metrics.js';
import { serveUntilDone } from './daemon/serve.js';
import { logStarted, resolveBackends, resumeConnections, socketsToServe } from './daemon/startup.js';
import { ExitCode } from './errors.js';
import { fdStoreFromEnv } from './handover/fd-store.js';
import type { Clock } from './lifecycle/idle-monitor.js';
import type { Logger } from './logger.js';
import { requireNative, type NativeBinding, type NativeLoad } from './native/binding.js';
import { routeSockets, type RoutedSocket } from './routing.js';
import { checkTransparentAllowed } from './transparent/capability.js';
import { gatherSockets } from './sockets.js';
import type { Predecessor } from './reload/predecessor.js';
import type { Serving } from './reload/reload.js';

export interface DaemonDeps {
  logger: Logger;
  native: NativeLoad;
  env: NodeJS.ProcessEnv;
  pid: number;
  /** Where SIGTERM/SIGINT come from, when the caller does not route them itself (onServing). */
  signals?: Pick<NodeJS.Process, 'on' | 'off'>;
  /** sockrelay's version, for sockrelay_info. */
  version: string;
  clock?: Clock;
  /** Called once serving, with what stop and reload need (src/reload/reload.ts). */
  onServing?: (serving: Serving) => void;
}

/** The start of a reload's successor: configured, it asks its predecessor before adopting anything. */
async function openPredecessor(fd: number | null, logger: Logger): Promise<Predecessor | null> {
  if (fd === null) return null;
  const { Predecessor } = await import('./reload/predecessor.js');
  return new Predecessor(fd, logger);
}

/** After a reload that did not happen: a fresh plane on the same sockets takes the connections back. */
function resumer(
  binding: NativeBinding,
  config: Config,
  plane: DataPlane,
  routed: RoutedSocket[],
  built: Pick<DataPlane, 'settings'> & { backends: Awaited<ReturnType<typeof resolveBackends>> },
  logger: Logger,
): (fds: Array<{ fd: number; name: string }>) => Promise<DataPlane> {
  let generation = 0;
  // An Accept=yes connection is never handed over (such a service does not reload).
  const reusable = routed.filter((r) => r.socket.role !== 'stream-connection');
  return async (fds) => {
    const fresh = await buildDataPlane(
      binding,
      config,
      built.settings,
      reusable,
      built.backends,
      ++generation,
    );
    logDataPlaneEvents(fresh, logger, config.accessLog);
    const { resumeHandedOver } = await import('./handover/handover.js');
    const report = resumeHandedOver(fds, handoverTargets(binding, fresh), binding, null, logger);
    for (const { fd, why } of report.rejected) logger.warn({ fd, why }, 'handed-over fd rejected and closed');
    logger.info(
      { connections: report.connections, sessions: report.sessions },
      'resumed the connections here',
    );
    plane.engine = fresh.engine ?? plane.engine;
    plane.relays = fresh.relays;
    plane.relayAddresses = fresh.relayAddresses;
    plane.engines.push(...fresh.engines);
    return fresh;
  };
}

export async function runDaemon(config: Config, deps: DaemonDeps): Promise<ExitCode> {
  const { logger } = deps;
  const binding = requireNative(deps.native);
  const nofile = binding.raiseNofileLimit();
  const gathered = await gatherSockets({
    env: deps.env,
    pid: deps.pid,
    native: binding,
    listen: config.listen,
    supportedRoles: new Set(['stream-listener', 'stream-connection', 'datagram']),
  });
  const exitHeldBy: Array<Promise<void>> = [];
  try {
    const predecessor = await openPredecessor(gathered.reloadControl, logger);
    const { proxied, metricsFds } = socketsToServe(gathered);
    const { routed, unusedRoutes } = routeSockets(proxied, config);
    checkTransparentAllowed(routed, binding);
    const backends = await resolveBackends(routed);
    const settings = engineSettings(config, nofile, logger);
    const plane = await buildDataPlane(binding, config, settings, routed, backends);
    logDataPlaneEvents(plane, logger, config.accessLog);
    if (predecessor && !(await predecessor.mayAdopt(deps.pid))) {
      // Its copies serve on there: ours go, and nothing is served here.
      for (const { fd } of gathered.handedOver) binding.close(fd);
      predecessor.close();
      logger.info('the previous program called the reload off: exiting');
      return ExitCode.ok;
    }
    const store = fdStoreFromEnv(deps.env, binding);
    // A successor's connections came from its predecessor, not the store: nothing to remove there
    // (and systemd would refuse it from a process that is not yet the main one).
    await resumeConnections(gathered, binding, plane, predecessor ? null : store, logger);
    const metrics = await startMetrics(config, metricsFds, plane, routed, deps.version, logger);
    const resumeHere = resumer(binding, config, plane, routed, { settings, backends }, logger);
    // The engines start first: the first client (waiting since the activation) is relayed while
    // the rest is set up and said.
    await serveUntilDone(binding, config, plane, store, metrics, {
      ...deps,
      successor: predecessor !== null,
      onStarted: ({ loop, main }) => {
        if (deps.signals) {
          deps.signals.on('SIGTERM', loop.stop);
          deps.signals.on('SIGINT', loop.stop);
          void loop.done.then(() => {
            deps.signals?.off('SIGTERM', loop.stop);
            deps.signals?.off('SIGINT', loop.stop);
          });
        }
        deps.onServing?.({
          binding,
          config,
          sockets: gathered.sockets,
          loop,
          main,
          servesAccepted: plane.servesAccepted,
          targets: () => handoverTargets(binding, plane),
          resumeHere: async (fds) => loop.add((await resumeHere(fds)).sources),
          handedOver: () => gathered.keepSocketFiles(),
          holdExit: (until) => void exitHeldBy.push(until),
          notifySocket: deps.env.NOTIFY_SOCKET,
          predecessor,
        });
        logMachineLimits(
          {
            env: deps.env,
            nofile,
            connectionsWanted: config.connectionsMax,
            connectionsCap: plane.engine?.connectionsMax ?? null,
            fdsFor: streamFds,
          },
          logger,
        );
        logStarted(routed, backends, unusedRoutes, config, nofile, logger);
      },
    });
    await Promise.all(exitHeldBy);
    predecessor?.close();
    return ExitCode.ok;
  } finally {
    gathered.release();
  }
}
