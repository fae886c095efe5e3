/**
 * sd_notify(3) states, sent only when systemd asked for them ($NOTIFY_SOCKET).
 *
 * READY=1 once the sockets are adopted (Type=notify units wait for it),
 * STATUS= every few seconds with what is open and what has flowed, STOPPING=1
 * when shutting down, and WATCHDOG=1 at half of $WATCHDOG_USEC when the unit
 * sets WatchdogSec= (and $WATCHDOG_PID, if set, names us). Every timer is
 * unref'd: notifications must never keep an idle proxy alive.
 */
import type { Logger } from '../logger.js';
import type { NativeBinding } from '../native/binding.js';

export const STATUS_INTERVAL_MS = 5000;

export interface NotifyTarget {
  socketPath: string;
  /** Half of WATCHDOG_USEC, in ms, when the watchdog applies to us. */
  watchdogMs: number | null;
}

export function notifyTargetFromEnv(env: NodeJS.ProcessEnv, pid: number): NotifyTarget | null {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return null;
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs = forUs && Number.isFinite(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 2000)) : null;
  return { socketPath, watchdogMs };
}

export class Notifier {
  private timers: NodeJS.Timeout[] = [];
  private failedOnce = false;

  constructor(
    private readonly native: Pick<NativeBinding, 'sdNotify'>,
    private readonly target: NotifyTarget,
    private readonly logger: Logger,
  ) {}

  /** READY=1 with a first STATUS, then STATUS every few seconds and WATCHDOG=1 as asked. */
  ready(status: () => string): void {
    this.send(`READY=1\nSTATUS=${status()}`);
    const every = (ms: number, state: () => string): void => {
      const timer = setInterval(() => this.send(state()), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(STATUS_INTERVAL_MS, () => `STATUS=${status()}`);
    if (this.target.watchdogMs !== null) every(this.target.watchdogMs, () => 'WATCHDOG=1');
  }

  stopping(status: string): void {
    this.stop();
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  /** Any other state (RELOADING=1, MAINPID=…); a failure is logged once, never thrown. */
  send(state: string): void {
    try {
      this.native.sdNotify(this.target.socketPath, state);
    } catch (err) {
      // systemd going away mid-run is not our failure: say so once, keep proxying.
      if (this.failedOnce) return;
      this.failedOnce = true;
      this.logger.warn(
        { code: (err as NodeJS.ErrnoException).code, socket: this.target.socketPath },
        'sd_notify failed',
      );
    }
  }
}
