/**
 * Decides when the proxy has been idle long enough to exit.
 *
 * Idle means no source (TCP engine, UDP relay) reports anything open. The
 * timer runs from start, so a proxy that was activated but never receives a
 * connection still exits (systemd-socket-proxyd only arms it after the first
 * connection closes). The clock is injected so tests can drive it.
 */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** setTimeout's limit: larger delays fire at once, so long spans are re-armed in steps. */
const MAX_TIMER_MS = 2_147_483_647;

export class IdleMonitor {
  private readonly busy = new Set<string>();
  private timer: unknown = null;
  private stopped = false;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
    private readonly clock: Clock = realClock,
  ) {}

  start(): void {
    this.arm();
  }

  setBusy(source: string, busy: boolean): void {
    if (busy) this.busy.add(source);
    else this.busy.delete(source);
    if (this.busy.size > 0) this.disarm();
    else if (this.timer === null) this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  private arm(): void {
    if (this.stopped || this.idleMs === Infinity || this.busy.size > 0) return;
    this.disarm();
    let left = this.idleMs;
    const step = (): void => {
      if (left > MAX_TIMER_MS) {
        left -= MAX_TIMER_MS;
        this.timer = this.clock.setTimeout(step, MAX_TIMER_MS);
        return;
      }
      this.timer = this.clock.setTimeout(() => {
        this.timer = null;
        if (!this.stopped && this.busy.size === 0) this.onIdle();
      }, left);
    };
    step();
  }

  private disarm(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
