/**
 * The daemon: gather sockets, route them to backends, run the engine, and
 * decide when to stop.
 *
 * It stops for one of two reasons. Idle: nothing has been open for
 * --exit-idle-time, and the engine agrees atomically (tryStop) that nothing
 * was accepted in the meantime; clients arriving from then on wait in the
 * listening socket's backlog, which systemd keeps, and start the next
 * instance. Signal: SIGTERM/SIGINT stop accepting, open connections get
 * --shutdown-timeout to finish, the rest are reset. Both exit 0, because both
 * are the normal end of a socket-activated service.
 */
import { formatSocketAddress, resolveAddress } from './backend/resolve.js';
import type { Config } from './config/config.js';
import { formatTimeSpan } from './config/time-span.js';
import { selectEngine } from './engine/select-engine.js';
import type { Engine, EngineListener } from './engine/types.js';
import { ConfigError, ExitCode } from './errors.js';
import { IdleMonitor, realClock, type Clock } from './lifecycle/idle-monitor.js';
import type { Logger } from './logger.js';
import type { NativeLoad } from './native/binding.js';
import type { SocketRole } from './activation/inherited-socket.js';
import { gatherSockets } from './sockets.js';

export interface DaemonDeps {
  logger: Logger;
  native: NativeLoad;
  env: NodeJS.ProcessEnv;
  pid: number;
  /** Where SIGTERM/SIGINT come from (the process, or a test's emitter). */
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
  clock?: Clock;
}

const SUPPORTED_ROLES: ReadonlySet<SocketRole> = new Set(['stream-listener']);
/** Native and timer APIs take 32-bit milliseconds. */
const MAX_MS = 2_147_483_647;

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
  try {
    const { sockets, activation } = gathered;
    if (sockets.length === 0) {
      const why = activation.ours ? 'LISTEN_FDS=0' : `not socket-activated (${activation.reason})`;
      throw new ConfigError('ERR_NO_SOCKETS', `no sockets to serve: ${why}, and no --listen given`);
    }
    if (!config.backend) throw new ConfigError('ERR_NO_BACKEND', 'no BACKEND given');
    const addresses = await resolveAddress(config.backend);
    const backend = { spec: config.backend.text, addresses };
    const listeners: EngineListener[] = sockets.map((s) => ({
      fd: s.fd,
      label: s.label,
      backend,
      ...(s.server ? { server: s.server } : {}),
    }));

    const { engine, reason } = await selectEngine(config.engine, native, {
      listeners,
      connectionsMax: config.connectionsMax,
      pipeSize: config.pipeSize,
      connectTimeoutMs: Math.min(config.connectTimeoutMs, MAX_MS),
      connectionEvents: logger.isLevelEnabled('debug'),
      ...(nofile && nofile.soft > 0 ? { fdLimit: nofile.soft } : {}),
    });
    logger.info(
      {
        listeners: sockets.map((s) => ({
          fd: s.fd,
          name: s.name,
          address: s.localAddress,
          family: s.family,
        })),
        backend: { spec: backend.spec, addresses: addresses.map(formatSocketAddress) },
        engine: engine.name,
        engineReason: reason,
        connectionsMax: config.connectionsMax,
        exitIdleTime: formatTimeSpan(config.exitIdleTimeMs),
        nofile,
      },
      'sockrelay started',
    );
    return await serve(engine, config, deps);
  } finally {
    gathered.release();
  }
}

function serve(engine: Engine, config: Config, deps: DaemonDeps): Promise<ExitCode> {
  const { logger } = deps;
  return new Promise((resolve) => {
    // The native engine works on its own threads and holds no libuv handle: keep the loop alive.
    const keepAlive = setInterval(() => undefined, MAX_MS);
    let finished = false;
    const finish = (why: string): void => {
      if (finished) return;
      finished = true;
      clearInterval(keepAlive);
      idle.stop();
      deps.signals.off('SIGTERM', onSignal);
      deps.signals.off('SIGINT', onSignal);
      engine.destroy();
      logger.info({ reason: why }, 'sockrelay stopped');
      resolve(ExitCode.ok);
    };

    const idle = new IdleMonitor(
      config.exitIdleTimeMs,
      () => {
        // A client accepted since the idle event makes tryStop refuse; its close re-arms the timer.
        if (engine.tryStop()) finish('idle');
      },
      deps.clock ?? realClock,
    );

    let draining = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (draining) {
        logger.warn({ signal }, 'second signal: closing open connections now');
        finish(signal);
        return;
      }
      draining = true;
      engine.stopAccepting();
      const open = engine.active();
      if (open === 0) return finish(signal);
      logger.info({ signal, open, timeout: formatTimeSpan(config.shutdownTimeoutMs) }, 'draining');
      engine.on('idle', () => finish(signal));
      const timer = setTimeout(
        () => {
          logger.warn({ open: engine.active() }, 'shutdown timeout: resetting open connections');
          finish(signal);
        },
        Math.min(config.shutdownTimeoutMs, MAX_MS),
      );
      timer.unref();
    };
    deps.signals.on('SIGTERM', onSignal);
    deps.signals.on('SIGINT', onSignal);

    engine.on('busy', () => idle.setBusy('tcp', true));
    engine.on('idle', () => idle.setBusy('tcp', false));
    engine.on('open', (c) => logger.debug(c, 'connection open'));
    engine.on('close', (c) => logger.debug(c, 'connection closed'));
    engine.on('connectFailed', (f) => logger.warn(f, 'backend connect failed'));
    engine.on('acceptError', (e) => logger.warn(e, 'accept failed; pausing accept briefly'));
    engine.start();
    idle.start();
  });
}
