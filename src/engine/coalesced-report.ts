/**
 * At most one report a second per kind, carrying how many it stands for: a
 * dead backend under load would otherwise log once per client.
 */
const REPORT_EVERY_MS = 1000;

export class CoalescedReport<T> {
  private count = 0;
  private last: T | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly report: (latest: T, count: number) => void) {}

  add(latest: T): void {
    this.count++;
    this.last = latest;
    if (!this.timer) this.flush();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.timer = null;
    if (this.count === 0 || this.last === null) return;
    this.report(this.last, this.count);
    this.count = 0;
    this.timer = setTimeout(() => this.flush(), REPORT_EVERY_MS);
    this.timer.unref();
  }
}
