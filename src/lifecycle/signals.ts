/**
 * What each signal means to sockrelay. The kernel's default for most signals is to end the
 * process, which for a proxy cuts every connection and makes systemd mark the unit failed; a
 * stray `kill -HUP` or `kill -USR2` must not do that.
 *
 * - SIGTERM, SIGINT: stop (src/lifecycle/run-loop.ts drains, then exits).
 * - SIGHUP: reload. The handler is plugged in with setReload once the daemon serves
 *   (src/reload/reload.ts: re-exec in place with every connection); one that comes before is
 *   held, and runs then.
 * - A stop during a reload is not lost: once the reload is past its point of no return, the
 *   reload takes the stop signal (`takeStop`) and hands it to the next program, which replays it
 *   to the run loop as soon as that listens (SOCKRELAY_STOP_AFTER_RELOAD).
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

export interface ReloadHandler {
  (signal: NodeJS.Signals): void;
  /** A stop arrived: true when the reload takes it (to pass it to the next program). */
  takeStop?(signal: NodeJS.Signals): boolean;
}

/** Set by a reload for the program it execs: a stop signal that arrived during the reload. */
export const STOP_AFTER_RELOAD = 'SOCKRELAY_STOP_AFTER_RELOAD';

export interface HeldSignals {
  /** Plugs in what SIGHUP does; null: hold them until there is a handler. */
  setReload(handler: ReloadHandler | null): void;
  /**
   * Where the run loop listens for SIGTERM/SIGINT: the process's, but for those a reload takes,
   * and with a stop passed on by the previous program replayed to the first listener.
   */
  readonly stops: Pick<NodeJS.Process, 'on' | 'off'>;
  /** Removes every listener installed here. */
  release(): void;
}

type Listener = (signal: NodeJS.Signals) => void;

/**
 * How many of a signal reached this program between the reload's exec that started it and now
 * (counted by the addon, native/src/core/exec-signals.h); resets the count. Asked once the
 * program's own listener is in place, so none falls between the count and the listener.
 */
export type SignalsDuringExec = (signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT') => number;

const isStopSignal = (v: string | undefined): v is NodeJS.Signals =>
  v !== undefined && SIGNAL_ACTIONS[v as NodeJS.Signals] === 'stop';

/**
 * Installs listeners for the reload and ignore signals on `target` (the process). Stop signals
 * are left to the run loop. Node's signal listeners do not keep the event loop alive.
 */
export function holdSignals(
  target: Pick<NodeJS.Process, 'on' | 'off'>,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
  duringExec: SignalsDuringExec = () => 0,
): HeldSignals {
  let reload: ReloadHandler | null = null;
  let heldReload: NodeJS.Signals | null = null;
  const onReload = (signal: NodeJS.Signals): void => {
    if (reload) return reload(signal);
    heldReload = signal;
    logger.info({ signal }, 'reload requested before serving: it runs once serving');
  };
  // Read once and forgotten, so a later reload does not pass it on again.
  const passedStop = env[STOP_AFTER_RELOAD];
  delete env[STOP_AFTER_RELOAD];
  let stopToReplay = isStopSignal(passedStop) ? passedStop : null;
  let stopReplayed = false;
  const wrapped = new Map<Listener, Listener>();
  const stops: HeldSignals['stops'] = {
    on(signal: NodeJS.Signals, listener: Listener) {
      const filtered: Listener = (s) => void (reload?.takeStop?.(s) || listener(s));
      wrapped.set(listener, filtered);
      target.on(signal, filtered);
      // A stop during the exec that started this program, counted until this listener took over.
      if (isStopSignal(signal) && duringExec(signal as 'SIGTERM' | 'SIGINT') > 0) stopToReplay ??= signal;
      if (stopToReplay !== null && !stopReplayed) {
        const replay = stopToReplay;
        stopReplayed = true;
        // After the current turn: the program that subscribes is about to say it serves.
        setImmediate(() => {
          logger.info({ signal: replay }, 'a stop arrived during the reload: stopping now');
          filtered(replay);
        });
      }
      return stops;
    },
    off(signal: NodeJS.Signals, listener: Listener) {
      const filtered = wrapped.get(listener);
      if (filtered) target.off(signal, filtered);
      return stops;
    },
  } as HeldSignals['stops'];
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
  // SIGHUPs between a reload's exec and the listener just installed: one more reload, held like any
  // other until the handler is plugged in once serving.
  const hangupsDuringExec = duringExec('SIGHUP');
  if (hangupsDuringExec > 0) {
    heldReload = 'SIGHUP';
    logger.info({ signals: hangupsDuringExec }, 'SIGHUP during the re-exec: reloading again');
  }
  return {
    setReload: (handler) => {
      reload = handler;
      if (handler && heldReload) {
        const signal = heldReload;
        heldReload = null;
        setImmediate(() => handler(signal));
      }
    },
    stops,
    release: () => {
      for (const [signal, listener] of installed.splice(0)) target.off(signal, listener);
    },
  };
}
