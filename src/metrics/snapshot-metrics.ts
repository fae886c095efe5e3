/**
 * Counters and histograms whose values live elsewhere, read when Prometheus asks.
 *
 * prom-client's own Counter can only be incremented and its Histogram only observed: both would
 * need JavaScript to run per connection or per chunk, which the data plane never does (the splice
 * engine keeps its counters in native memory). These collectors instead turn a snapshot of those
 * counters into samples at scrape time, plus what the previous activation carried over. They have
 * the shape prom-client's Registry expects of a metric (name, help, type, aggregator, get, reset),
 * so they sit in the same registry as prom-client's own metrics and print through the same code.
 */
import type { Metric, Registry } from 'prom-client';
import type { HistogramSnapshot } from '../engine/types.js';
import type { CarriedCounter, CarriedHistogram } from './carried-over.js';
import { labelsKey, type Labels } from './exposition.js';

export interface CounterReading {
  labels: Labels;
  /** Counts from the engines are bigint; a double holds them exactly up to 2^53. */
  value: number | bigint;
}

export interface HistogramReading {
  labels: Labels;
  snapshot: HistogramSnapshot;
}

interface PromSample {
  metricName?: string;
  labels: Labels;
  value: number;
}

abstract class SnapshotMetric {
  readonly aggregator = 'sum' as const;
  abstract readonly type: 'counter' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Registry.resetMetrics() calls this; a snapshot holds nothing of its own to reset. */
  reset(): void {}

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: 'sum';
    values: PromSample[];
  }> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.samples(),
    };
  }

  registerIn(registry: Registry): this {
    // The Registry takes any object of this shape; its typings only name prom-client's classes.
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  protected abstract samples(): PromSample[];
}

export class SnapshotCounter extends SnapshotMetric {
  readonly type = 'counter' as const;

  constructor(
    name: string,
    help: string,
    private readonly read: () => CounterReading[],
    private readonly carried: ReadonlyMap<string, CarriedCounter>,
  ) {
    super(name, help);
  }

  protected samples(): PromSample[] {
    const series = new Map<string, PromSample>();
    for (const [key, { labels, value }] of this.carried) series.set(key, { labels, value });
    const seen = new Set<string>();
    for (const { labels, value } of this.read()) {
      const key = labelsKey(labels);
      // Two sources with the same labels (two fds of one name) make one series: their sum.
      const base = seen.has(key) ? series.get(key)!.value : (this.carried.get(key)?.value ?? 0);
      seen.add(key);
      series.set(key, { labels, value: base + Number(value) });
    }
    return [...series.values()];
  }
}

interface CumulativeHistogram {
  labels: Labels;
  /** `le` → cumulative count, in ascending `le` order with `+Inf` last. */
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

function cumulative({ bounds, counts }: HistogramSnapshot): Map<string, number> {
  const buckets = new Map<string, number>();
  let running = 0;
  bounds.forEach((bound, i) => buckets.set(String(bound), (running += counts[i] ?? 0)));
  buckets.set('+Inf', running + (counts[bounds.length] ?? 0));
  return buckets;
}

const upperBound = (le: string): number => (le === '+Inf' ? Infinity : Number(le));

function sameBuckets(a: Map<string, number>, b: Map<string, number>): boolean {
  return a.size === b.size && [...a.keys()].every((le) => b.has(le));
}

/**
 * A histogram from engine snapshots. A carried series whose buckets differ from this
 * activation's (the bucket constants changed between versions) cannot be added to bucket by
 * bucket, so that series starts from zero instead.
 */
export class SnapshotHistogram extends SnapshotMetric {
  readonly type = 'histogram' as const;

  constructor(
    name: string,
    help: string,
    private readonly read: () => HistogramReading[],
    private readonly carried: ReadonlyMap<string, CarriedHistogram>,
  ) {
    super(name, help);
  }

  protected samples(): PromSample[] {
    const series = new Map<string, CumulativeHistogram>();
    for (const [key, h] of this.carried) series.set(key, { ...h, buckets: new Map(h.buckets) });
    for (const { labels, snapshot } of this.read()) {
      const key = labelsKey(labels);
      const current = cumulative(snapshot);
      const base = series.get(key);
      if (!base || !sameBuckets(base.buckets, current)) {
        series.set(key, { labels, buckets: current, sum: snapshot.sum, count: current.get('+Inf')! });
        continue;
      }
      for (const [le, n] of current) base.buckets.set(le, base.buckets.get(le)! + n);
      base.sum += snapshot.sum;
      // _count equals the +Inf bucket by definition; a snapshot read mid-update may say otherwise.
      base.count = base.buckets.get('+Inf')!;
    }
    const out: PromSample[] = [];
    for (const { labels, buckets, sum, count } of series.values()) {
      const ordered = [...buckets].sort(([a], [b]) => upperBound(a) - upperBound(b));
      for (const [le, value] of ordered) {
        out.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value });
      }
      out.push({ metricName: `${this.name}_sum`, labels, value: sum });
      out.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return out;
  }
}
