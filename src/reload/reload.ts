/**
 * Reload (SIGHUP; `systemctl reload` sends it through ExecReload=): the process becomes a fresh
 * sockrelay — the program as installed now, with the settings as configured now — and keeps every
 * live connection. It execs itself in place, so its pid (systemd's MainPID) stays, and passes the
 * listeners and the connections as LISTEN_FDS/LISTEN_FDNAMES. The connections are exported and
 * named exactly as for the fd store (src/handover/), so the new program resumes them through the
 * same code that resumes a restart; here the "store" is the fd list of the exec.
 *
 * Order: check the new configuration (refuse the reload, keep serving, say why); tell systemd
 * RELOADING=1; export (flushing what is in the pipes); exec. The new program sends READY=1.
 *
 * Signals meanwhile: a SIGHUP is logged (one reload at a time). A stop (SIGTERM, SIGINT) before
 * the export abandons the reload and the run loop drains as usual; after it, the reload takes the
 * stop and passes it to the new program, which drains once it serves. During the exec itself the
 * addon holds them (native/src/core/exec-signals.h): a SIGHUP reloads the new program once it
 * serves, a stop stops it then.
 */
import type { InheritedSocket } from '../activation/inherited-socket.js';
import type { Config } from '../config/config.js';
import { handoverTargets, type DataPlane } from '../daemon/data-plane.js';
import type { FdStore } from '../handover/fd-store.js';
import { handOver } from '../handover/handover.js';
import { STOP_AFTER_RELOAD, type ReloadHandler } from '../lifecycle/signals.js';
import type { Logger } from '../logger.js';
import type { NativeBinding } from '../native/binding.js';
import { checkConfig } from './check-config.js';
import { nextProgram, type RunningProgram } from './next-program.js';

/** How long the export may wait for connections to flush into the kernel. */
const FLUSH_MAX_MS = 3000;

export interface Serving {
  binding: NativeBinding;
  config: Config;
  plane: DataPlane;
  /** Every socket gathered at start (listeners, datagram sockets, metrics fds), in order. */
  sockets: InheritedSocket[];
}

/** LISTEN_FDNAMES separates names with ':', so a name holding one cannot cross as it is. */
const fdName = (name: string): string => (name === '' || name.includes(':') ? 'unknown' : name);

/** Collects the exported fds for the exec instead of sending them to systemd. */
function execFdList(binding: NativeBinding): FdStore & { entries: Array<{ name: string; fd: number }> } {
  const entries: Array<{ name: string; fd: number }> = [];
  return {
    capacity: Number.MAX_SAFE_INTEGER,
    entries,
    // handOver closes its own copy once stored: keep one.
    store: (name: string, fd: number) => void entries.push({ name, fd: binding.dup(fd) }),
    remove: (name: string) => {
      const at = entries.findIndex((e) => e.name === name);
      if (at >= 0) binding.close(entries.splice(at, 1)[0]!.fd);
    },
  } as unknown as FdStore & { entries: Array<{ name: string; fd: number }> };
}

function notifySystemd(binding: NativeBinding, env: NodeJS.ProcessEnv, state: string, logger: Logger): void {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return;
  try {
    binding.sdNotify(socketPath, state);
  } catch (err) {
    logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'could not notify systemd of the reload');
  }
}

export function reloader(
  running: RunningProgram,
  serving: Serving,
  env: NodeJS.ProcessEnv,
  pid: number,
  logger: Logger,
): ReloadHandler {
  const { binding, plane, config } = serving;
  let underWay = false;
  /** Past the check: the connections are leaving with the exec, so a stop must go with them. */
  let committed = false;
  let stopping = false;
  let stopForNext: NodeJS.Signals | null = null;

  async function reload(): Promise<void> {
    const next = nextProgram(running, env);
    const problem = await checkConfig(next);
    if (problem !== null) {
      logger.error({ why: problem }, 'reload refused: the new configuration is invalid; still serving');
      notifySystemd(binding, env, `STATUS=reload refused: ${problem}`, logger);
      return;
    }
    if (stopping) return void logger.info('reload abandoned: stopping');
    committed = true;
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    notifySystemd(binding, env, `RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}`, logger);
    const list = execFdList(binding);
    const flushMs = Math.min(config.shutdownTimeoutMs, FLUSH_MAX_MS);
    const result = await handOver(handoverTargets(binding, plane), list, binding, flushMs);
    // Never happens unless dup failed: those connections are relayed to their end by this process,
    // which the exec would cut. Wait for them, so nothing is dropped.
    if (result.drainer) {
      logger.warn({ overflow: result.overflow }, 'reload waits for connections it could not pass on');
      const drainer = result.drainer;
      if (drainer.active() > 0) await new Promise<void>((resolve) => drainer.on('idle', () => resolve()));
      drainer.destroy();
    }
    const fds = [...serving.sockets.map((s) => s.fd), ...list.entries.map((e) => e.fd)];
    const names = [...serving.sockets.map((s) => fdName(s.name)), ...list.entries.map((e) => e.name)];
    logger.info(
      { connections: result.storedConnections, sessions: result.storedSessions, program: next.argv.slice(1) },
      're-executing with the live connections',
    );
    // From here a signal waits for the next program. A full turn of the loop (its poll included)
    // first delivers the ones already on their way to this program's listeners: a stop heard then is
    // taken as usual. One setImmediate is not enough: queued from an I/O callback it runs in the same
    // turn, before the poll reads libuv's signal pipe again.
    binding.holdSignalsForExec();
    try {
      for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
      const execEnv: Record<string, string> = {
        ...next.env,
        LISTEN_PID: String(pid),
        LISTEN_FDS: String(fds.length),
      };
      execEnv.LISTEN_FDNAMES = names.join(':');
      delete execEnv.LISTEN_PIDFDID;
      if (stopForNext !== null) execEnv[STOP_AFTER_RELOAD] = stopForNext;
      binding.execve(
        next.path,
        next.argv,
        Object.entries(execEnv).map(([k, v]) => `${k}=${v}`),
        fds,
      );
    } catch (err) {
      binding.releaseSignalsForExec();
      throw err;
    }
  }

  const handler: ReloadHandler = (signal) => {
    if (stopping) return void logger.warn({ signal }, 'stopping: no reload');
    if (underWay) return void logger.warn({ signal }, 'a reload is already under way');
    underWay = true;
    logger.info({ signal }, 'reloading');
    reload().then(
      () => void (underWay = false),
      (err: unknown) => {
        underWay = false;
        committed = false;
        // A stop taken for the next program that will not come: it is this one's again.
        if (stopForNext !== null) process.kill(pid, stopForNext);
        stopForNext = null;
        logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'reload failed; still serving',
        );
      },
    );
  };
  handler.takeStop = (signal) => {
    if (!committed) {
      stopping = true;
      return false;
    }
    stopForNext ??= signal;
    logger.info({ signal }, 'a stop during the reload: the new program stops once it serves');
    return true;
  };
  return handler;
}
