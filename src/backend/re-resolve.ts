/**
 * Resolving a backend name again while the proxy runs, so that one running for months follows a
 * DNS change. When: every `intervalMs` (a fixed interval, as the system resolver tells no TTL;
 * 30 s by default, one lookup per name, on a timer that never keeps the process alive), and at
 * once when a client could reach none of the addresses (at most once per `failureGapMs`, as the
 * engine reports failures coalesced anyway). A lookup that fails keeps the addresses there are: a
 * DNS outage must not take a working backend away.
 */
import type { SocketAddress } from '../native/binding.js';

export const DEFAULT_REFRESH_MS = 30_000;
const DEFAULT_FAILURE_GAP_MS = 1000;

export interface RefresherOptions {
  /** Looks the name up again; throws when it cannot. */
  resolve: () => Promise<SocketAddress[]>;
  /** A different set of addresses came back. */
  onChange: (addresses: SocketAddress[]) => void;
  /** A lookup failed (the addresses stay as they are). */
  onError: (err: unknown) => void;
  intervalMs?: number;
  failureGapMs?: number;
}

export class BackendRefresher {
  private current: string;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastStart = -Infinity;

  constructor(
    initial: SocketAddress[],
    private readonly options: RefresherOptions,
  ) {
    this.current = JSON.stringify(initial);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.options.intervalMs ?? DEFAULT_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every address failed for a client: look again now, unless that was just done. */
  failed(): void {
    if (performance.now() - this.lastStart < (this.options.failureGapMs ?? DEFAULT_FAILURE_GAP_MS)) return;
    void this.refresh();
  }

  /** One lookup at a time: a call while one runs waits for it. */
  refresh(): Promise<void> {
    this.running ??= this.lookUp().finally(() => (this.running = undefined));
    return this.running;
  }

  private async lookUp(): Promise<void> {
    this.lastStart = performance.now();
    let addresses: SocketAddress[];
    try {
      addresses = await this.options.resolve();
    } catch (err) {
      this.options.onError(err);
      return;
    }
    const key = JSON.stringify(addresses);
    if (key === this.current || !this.timer) return;
    this.current = key;
    this.options.onChange(addresses);
  }
}
