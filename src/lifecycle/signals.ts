/**
 * What each signal means to sockrelay. The kernel's default for most signals is to end the
 * process, which for a proxy cuts every connection and makes systemd mark the unit failed; a
 * stray `kill -HUP` or `kill -USR2` must not do that.
 *
 * - SIGTERM, SIGINT: stop (src/lifecycle/run-loop.ts drains, then exits).
 * - SIGHUP: reload. The handler is plugged in with setReload once the daemon serves
 *   (src/reload/reload.ts: re-exec in place with every connection); before that: logged, and
 *   sockrelay keeps serving.
 * - the rest that would end the process unasked: logged and ignored. SIGUSR1 also must not open a
 *   debugger (src/lifecycle/no-debugger.ts). SIGQUIT and the fault signals (SIGSEGV, SIGBUS, …)
 *   keep their default: they mean "die now". SIGPROF stays V8's, for --cpu-prof.
 */
import type { Logger } from '../logger.js';

export type SignalAction = 'stop' | 'reload' | 'ignore';

export const SIGNAL_ACTIONS: Readonly<Partial<Record<NodeJS.Signals, SignalAction>>> = {
  SIGTERM: 'stop',
  SIGINT: 'stop',
  SIGHUP: 'reload',
  SIGUSR1: 'ignore',
  SIGUSR2: 'ignore',
  SIGALRM: 'ignore',
  SIGVTALRM: 'ignore',
  SIGPOLL: 'ignore',
  SIGPWR: 'ignore',
  SIGSTKFLT: 'ignore',
};

export type ReloadHandler = (signal: NodeJS.Signals) => void;

export interface HeldSignals {
  /** Plugs in what SIGHUP does; null: the default (log, keep serving). */
  setReload(handler: ReloadHandler | null): void;
  /** Removes every listener installed here. */
  release(): void;
}

/**
 * Installs listeners for the reload and ignore signals on `target` (the process). Stop signals
 * are left to the run loop. Node's signal listeners do not keep the event loop alive.
 */
export function holdSignals(target: Pick<NodeJS.Process, 'on' | 'off'>, logger: Logger): HeldSignals {
  let reload: ReloadHandler | null = null;
  const onReload = (signal: NodeJS.Signals): void => {
    if (reload) return reload(signal);
    logger.warn({ signal }, 'reload is not available yet: still serving as before');
  };
  const onIgnored = (signal: NodeJS.Signals): void => {
    logger.warn({ signal }, 'signal ignored: still serving');
  };
  const installed: Array<[NodeJS.Signals, (signal: NodeJS.Signals) => void]> = [];
  for (const [signal, action] of Object.entries(SIGNAL_ACTIONS) as Array<[NodeJS.Signals, SignalAction]>) {
    if (action === 'stop') continue;
    const listener = action === 'reload' ? onReload : onIgnored;
    target.on(signal, listener);
    installed.push([signal, listener]);
  }
  return {
    setReload: (handler) => void (reload = handler),
    release: () => {
      for (const [signal, listener] of installed.splice(0)) target.off(signal, listener);
    },
  };
}
