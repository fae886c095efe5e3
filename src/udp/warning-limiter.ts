/**
 * Keeps a flood of failures from becoming a flood of log lines: per kind, the
 * first warning goes out at once, the rest of the following interval are counted
 * and go out as one warning with that count. The native relay does the same in
 * C++ (udp-events.cc); this is its twin for the `dgram` relay.
 */
export class WarningLimiter<T> {
  private readonly kinds = new Map<
    string,
    { pending: number; payload: T | null; lastEmit: number; timer: NodeJS.Timeout | null }
  >();

  constructor(
    private readonly emit: (payload: T, count: number) => void,
    private readonly intervalMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `payload` is kept only for the first of a burst: that one is named, the rest counted. */
  note(kind: string, payload: T, count = 1): void {
    let state = this.kinds.get(kind);
    if (!state) {
      state = { pending: 0, payload: null, lastEmit: -Infinity, timer: null };
      this.kinds.set(kind, state);
    }
    if (state.pending === 0) state.payload = payload;
    state.pending += count;
    if (state.timer) return;
    const wait = state.lastEmit + this.intervalMs - this.now();
    if (wait <= 0) {
      this.flush(kind);
      return;
    }
    state.timer = setTimeout(() => this.flush(kind), wait);
    state.timer.unref();
  }

  /** Drops what is pending; for shutdown. */
  clear(): void {
    for (const state of this.kinds.values()) if (state.timer) clearTimeout(state.timer);
    this.kinds.clear();
  }

  private flush(kind: string): void {
    const state = this.kinds.get(kind);
    if (!state) return;
    state.timer = null;
    if (state.pending === 0 || state.payload === null) return;
    const { payload, pending } = state;
    state.pending = 0;
    state.payload = null;
    state.lastEmit = this.now();
    this.emit(payload, pending);
  }
}
