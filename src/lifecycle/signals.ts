/**
 * What each signal means to sockrelay. The kernel's default for most signals is to end the
 * process, which for a proxy cuts every connection and makes systemd mark the unit failed; a
 * stray `kill -HUP` or `kill -USR2` must not do that.
 *
 * - SIGTERM, SIGINT: stop. SIGHUP: reload. Both go to the routes plugged in once the daemon
 *   serves; what comes before is held, in order, and delivered then. The listeners are installed
 *   first thing at start, so from then on no stop ends the process unheard.
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

export interface SignalRoutes {
  stop(signal: NodeJS.Signals): void;
  reload(signal: NodeJS.Signals): void;
}

export interface RoutedSignals {
  /** Where stops and reloads go from now on; the held ones are delivered first, in order. */
  setRoutes(routes: SignalRoutes): void;
  /** Removes every listener installed here. */
  release(): void;
}

/** Two stops are all that matter (the second resets); one reload stands for any number. */
const HELD_STOPS_MAX = 2;

export function routeSignals(target: Pick<NodeJS.Process, 'on' | 'off'>, logger: Logger): RoutedSignals {
  let routes: SignalRoutes | null = null;
  const held: Array<{ action: 'stop' | 'reload'; signal: NodeJS.Signals }> = [];
  const hold = (action: 'stop' | 'reload', signal: NodeJS.Signals): void => {
    const same = held.filter((h) => h.action === action).length;
    if (same >= (action === 'stop' ? HELD_STOPS_MAX : 1)) return;
    held.push({ action, signal });
    logger.info({ signal }, `${action} requested before serving: carried out once serving`);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    const action = SIGNAL_ACTIONS[signal];
    if (action === 'ignore' || action === undefined)
      return void logger.warn({ signal }, 'signal ignored: still serving');
    if (routes) routes[action](signal);
    else hold(action, signal);
  };
  const installed = Object.keys(SIGNAL_ACTIONS) as NodeJS.Signals[];
  for (const signal of installed) target.on(signal, onSignal);
  return {
    setRoutes: (next) => {
      routes = next;
      for (const { action, signal } of held.splice(0)) next[action](signal);
    },
    release: () => {
      for (const signal of installed) target.off(signal, onSignal);
    },
  };
}
