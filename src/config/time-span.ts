/**
 * systemd.time(7) time spans: `90` (seconds), `500ms`, `5min 20s`, `1h30m`,
 * `2.5s`, `infinity`. Returned in milliseconds; `infinity` is `Infinity`.
 * Sub-millisecond units are accepted and rounded up, so `1us` never becomes 0.
 */
import { UsageError } from '../errors.js';

const MS_PER_UNIT: ReadonlyMap<string, number> = new Map([
  ...['usec', 'us', 'µs', 'μs'].map((u) => [u, 0.001] as const),
  ...['msec', 'ms'].map((u) => [u, 1] as const),
  ...['seconds', 'second', 'sec', 's', ''].map((u) => [u, 1000] as const),
  ...['minutes', 'minute', 'min', 'm'].map((u) => [u, 60_000] as const),
  ...['hours', 'hour', 'hr', 'h'].map((u) => [u, 3_600_000] as const),
  ...['days', 'day', 'd'].map((u) => [u, 86_400_000] as const),
  ...['weeks', 'week', 'w'].map((u) => [u, 604_800_000] as const),
  ...['months', 'month', 'M'].map((u) => [u, 2_629_800_000] as const),
  ...['years', 'year', 'y'].map((u) => [u, 31_557_600_000] as const),
]);

const PART = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Zµμ]*)/;

export function parseTimeSpan(text: string, what = 'time span'): number {
  const input = text.trim();
  if (input === 'infinity') return Infinity;
  if (input === '') throw new UsageError('ERR_BAD_TIME_SPAN', `${what}: empty value`);
  let rest = input;
  let total = 0;
  while (rest.length > 0) {
    const match = PART.exec(rest);
    const unit = match?.[2];
    const factor = unit === undefined ? undefined : MS_PER_UNIT.get(unit);
    if (!match || factor === undefined) {
      throw new UsageError(
        'ERR_BAD_TIME_SPAN',
        `${what}: '${text}' is not a time span (examples: 90, 500ms, 5min 20s, infinity)`,
      );
    }
    total += Number(match[1]) * factor;
    rest = rest.slice(match[0].length).trimStart();
  }
  return Math.ceil(total);
}

/** The inverse, for logs and --help defaults: 330000 → `5min 30s`. */
export function formatTimeSpan(ms: number): string {
  if (ms === Infinity) return 'infinity';
  if (ms === 0) return '0';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join(' ');
}
