/**
 * --connections-per-source, --connection-rate-per-source, --source-prefix4 and --source-prefix6: the
 * per-source admission both relays apply (native/src/core/source-table.h). Off unless a limit is
 * given, because behind a load balancer every client is one source; the prefixes alone change nothing.
 */
import { UsageError } from '../errors.js';
import type { SourceLimits } from '../native/binding.js';
import { TIMER_LIMIT, spanWithin } from './limits.js';
import { parseTimeSpan } from './time-span.js';

export interface RawSourceLimits {
  connectionsPerSource?: string;
  connectionRatePerSource?: string;
  sourcePrefix4: string;
  sourcePrefix6: string;
}

/** The native engine keeps its token buckets in whole tokens per span, up to this many. */
const RATE_COUNT_MAX = 1_000_000;

function wholeNumber(text: string, flag: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError('ERR_BAD_NUMBER', `${flag}: '${text}' is not a whole number from ${min} to ${max}`);
  }
  return n;
}

/** `N`, or `infinity` (no limit: 0). */
function perSourceOf(text: string): number {
  if (text.trim() === 'infinity') return 0;
  return wholeNumber(text, '--connections-per-source', 1, 2 ** 31 - 1);
}

/** `/64` or `64`. */
function prefixOf(text: string, flag: string, bits: number): number {
  return wholeNumber(text.trim().replace(/^\//, ''), flag, 0, bits);
}

/** `20/1s`, `100/min` (a unit alone is one of it), `infinity`: no rate limit (null). */
export function parseRate(text: string): { count: number; spanMs: number } | null {
  const flag = '--connection-rate-per-source';
  if (text.trim() === 'infinity') return null;
  const slash = text.indexOf('/');
  if (slash < 0) {
    throw new UsageError('ERR_BAD_RATE', `${flag}: '${text}' is not N/SPAN (examples: 20/1s, 600/1min)`);
  }
  const count = wholeNumber(text.slice(0, slash), flag, 1, RATE_COUNT_MAX);
  const spanText = text.slice(slash + 1).trim();
  let spanMs: number;
  try {
    const bareUnit = /^[a-zA-Zµμ]/.test(spanText) && spanText !== 'infinity';
    spanMs = parseTimeSpan(bareUnit ? `1${spanText}` : spanText, flag);
  } catch {
    throw new UsageError('ERR_BAD_RATE', `${flag}: '${text}' is not N/SPAN (examples: 20/1s, 600/1min)`);
  }
  if (!(spanMs >= 1) || !Number.isFinite(spanMs)) {
    throw new UsageError('ERR_BAD_RATE', `${flag}: '${text}' needs a span of at least 1ms`);
  }
  return { count, spanMs: Math.ceil(spanWithin(spanMs, TIMER_LIMIT, text, flag)) };
}

/** null: no limit set, admission off. */
export function buildSourceLimits(raw: RawSourceLimits): SourceLimits | null {
  const perSource = raw.connectionsPerSource === undefined ? 0 : perSourceOf(raw.connectionsPerSource);
  const rate = raw.connectionRatePerSource === undefined ? null : parseRate(raw.connectionRatePerSource);
  const prefix4 = prefixOf(raw.sourcePrefix4, '--source-prefix4', 32);
  const prefix6 = prefixOf(raw.sourcePrefix6, '--source-prefix6', 128);
  if (perSource === 0 && rate === null) return null;
  return {
    ...(perSource > 0 ? { perSource } : {}),
    ...(rate ? { rateCount: rate.count, rateSpanMs: rate.spanMs } : {}),
    prefix4,
    prefix6,
  };
}
