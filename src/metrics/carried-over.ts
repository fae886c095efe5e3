/**
 * What the previous activation left in the textfile, as offsets for this one.
 *
 * sockrelay exits when idle, and every activation's engine starts its counters at zero. To
 * Prometheus that looks like a counter reset every few minutes, which rate() survives but
 * increase() over a day and every "total bytes" panel do not. So at start we read back the
 * textfile the last activation wrote and add what it says to everything monotonic: counters
 * and histograms (bucket counts, sum and count alike; cumulative buckets add up bucket by
 * bucket, so the sums stay a valid histogram). Gauges describe this process only and are
 * never carried.
 *
 * A series the file has but this activation does not produce (a listener that is not handed
 * over this time, a failure reason not seen yet) is still exported at its carried value, so
 * the next write keeps it and a later activation that does see it continues from there.
 */
import {
  labelsKey,
  parseExposition,
  type Labels,
  type Sample,
  MalformedExpositionError,
} from './exposition.js';

export interface CarriedCounter {
  labels: Labels;
  value: number;
}

export interface CarriedHistogram {
  /** The series' labels without `le`. */
  labels: Labels;
  /** Cumulative count per `le` as written (`0.005`, `+Inf`). */
  buckets: Map<string, number>;
  sum: number;
  count: number;
}

type ByLabels<T> = ReadonlyMap<string, T>;

const NONE = new Map<string, never>();

export class CarriedOver {
  private constructor(
    private readonly counters: Map<string, Map<string, CarriedCounter>>,
    private readonly histograms: Map<string, Map<string, CarriedHistogram>>,
  ) {}

  static empty(): CarriedOver {
    return new CarriedOver(new Map(), new Map());
  }

  /**
   * Takes the counters and histograms declared by `# TYPE`. Throws MalformedExpositionError
   * when the text does not parse or a carried value could not have come from a counter.
   */
  static fromText(text: string): CarriedOver {
    const { types, samples } = parseExposition(text);
    const counters = new Map<string, Map<string, CarriedCounter>>();
    const histograms = new Map<string, Map<string, CarriedHistogram>>();
    for (const sample of samples) {
      if (types.get(sample.name) === 'counter') {
        requireCount(sample);
        bucketFor(counters, sample.name).set(labelsKey(sample.labels), {
          labels: sample.labels,
          value: sample.value,
        });
        continue;
      }
      const family = histogramOf(sample.name, types);
      if (!family) continue;
      // A histogram's sum may be any finite number (observations can be negative in general).
      if (family.part === 'sum') requireFinite(sample);
      else requireCount(sample);
      addHistogramSample(bucketFor(histograms, family.name), family.part, sample);
    }
    for (const series of histograms.values()) {
      for (const [key, h] of series) if (!h.buckets.has('+Inf')) series.delete(key);
    }
    return new CarriedOver(counters, histograms);
  }

  counter(name: string): ByLabels<CarriedCounter> {
    return this.counters.get(name) ?? NONE;
  }

  histogram(name: string): ByLabels<CarriedHistogram> {
    return this.histograms.get(name) ?? NONE;
  }

  /** How many series are carried, for the start-up log line. */
  get seriesCount(): number {
    let n = 0;
    for (const m of this.counters.values()) n += m.size;
    for (const m of this.histograms.values()) n += m.size;
    return n;
  }
}

function bucketFor<T>(map: Map<string, Map<string, T>>, name: string): Map<string, T> {
  let inner = map.get(name);
  if (!inner) map.set(name, (inner = new Map()));
  return inner;
}

type HistogramPart = 'bucket' | 'sum' | 'count';

function histogramOf(
  sampleName: string,
  types: Map<string, string>,
): { name: string; part: HistogramPart } | null {
  const match = /^(.*)_(bucket|sum|count)$/.exec(sampleName);
  if (!match || types.get(match[1]!) !== 'histogram') return null;
  return { name: match[1]!, part: match[2] as HistogramPart };
}

function requireFinite(sample: Sample): void {
  if (!Number.isFinite(sample.value)) {
    throw new MalformedExpositionError(`${sample.name} is ${sample.value}, not a finite number`);
  }
}

function requireCount(sample: Sample): void {
  requireFinite(sample);
  if (sample.value < 0) throw new MalformedExpositionError(`${sample.name} is ${sample.value}, not a count`);
}

function addHistogramSample(
  series: Map<string, CarriedHistogram>,
  part: HistogramPart,
  sample: Sample,
): void {
  const { le, ...labels } = sample.labels;
  const key = labelsKey(labels);
  let h = series.get(key);
  if (!h) series.set(key, (h = { labels, buckets: new Map(), sum: 0, count: 0 }));
  if (part === 'bucket') {
    if (le === undefined) throw new MalformedExpositionError(`${sample.name} without le`);
    h.buckets.set(le, sample.value);
  } else if (part === 'sum') h.sum = sample.value;
  else h.count = sample.value;
}
