/**
 * The daemon, as the steps it takes: gather the sockets, route each to its
 * backend, build the native data plane, resume what a previous instance handed
 * over, tell systemd, and serve until idle or signalled. Each step lives with
 * its concern (src/daemon/, src/handover/, src/lifecycle/).
 */
import type { Config } from './config/config.js';
import { buildDataPlane, engineSettings, logDataPlaneEvents } from './daemon/data-plane.js';
import { logMachineLimits } from './daemon/machine-limits.js';
import { streamFds } from './engine/fd-budget.js';
import { startMetrics } from './daemon/metrics.js';
import { serveUntilDone } from './daemon/serve.js';
import { logStarted, resolveBackends, resumeConnections, socketsToServe } from './daemon/startup.js';
import { ExitCode } from './errors.js';
import { fdStoreFromEnv } from './handover/fd-store.js';
import type { Clock } from './lifecycle/idle-monitor.js';
import type { Logger } from './logger.js';
import { requireNative, type NativeLoad } from './native/binding.js';
import { routeSockets } from './routing.js';
import { checkTransparentAllowed } from './transparent/capability.js';
import { gatherSockets } from './sockets.js';
import type { Serving } from './reload/reload.js';

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
  /** Called once serving, with what a reload needs (src/reload/reload.ts). */
  onServing?: (serving: Serving) => void;
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
  try {
    const { proxied, metricsFds } = socketsToServe(gathered);
    const { routed, unusedRoutes } = routeSockets(proxied, config);
    checkTransparentAllowed(routed, binding);
    const backends = await resolveBackends(routed);
    const settings = engineSettings(config, nofile, logger);
    const plane = await buildDataPlane(binding, config, settings, routed, backends);
    logDataPlaneEvents(plane, logger, config.accessLog);
    const store = fdStoreFromEnv(deps.env, binding);
    await resumeConnections(gathered, binding, plane, store, logger);
    const metrics = await startMetrics(config, metricsFds, plane, routed, deps.version, logger);
    // The engines start first: the first client (waiting since the activation) is relayed while
    // the rest is set up and said.
    const onStarted = (): void => {
      deps.onServing?.({ binding, config, plane, sockets: gathered.sockets });
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
    };
    await serveUntilDone(binding, config, plane, store, metrics, { ...deps, onStarted });
    return ExitCode.ok;
  } finally {
    gathered.release();
  }
}
