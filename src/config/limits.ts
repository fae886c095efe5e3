/**
 * Upper bounds that the kernel, Node's timers and the native API put on option values. A value
 * past them parses, but would fail (or be silently changed) only once the daemon runs; checking
 * here turns it into a usage error naming the flag and the limit.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { formatTimeSpan } from './time-span.js';

/**
 * Metrics connections at once: the scrape server closes more as they arrive, and the fd budget
 * (src/engine/fd-budget.ts) reserves them up front.
 */
export const METRICS_CONNECTIONS_MAX = 16;

export interface SpanLimit {
  maxMs: number;
  /** How the limit reads in the error message, and why it is there. */
  text: string;
  why: string;
}

/** setTimeout (and the native engine's 32-bit ms) cannot take 2^31 ms; 24 days is the round limit below. */
export const TIMER_LIMIT: SpanLimit = {
  maxMs: 24 * 86_400_000,
  text: '24d',
  why: 'the longest timer sockrelay can arm',
};

/** TCP_KEEPIDLE is whole seconds, at most MAX_TCP_KEEPIDLE (32767) in the kernel. */
export const KEEPALIVE_LIMIT: SpanLimit = {
  maxMs: 32_767_000,
  text: formatTimeSpan(32_767_000),
  why: "the kernel's TCP keepalive limit",
};

/** Past this an unprivileged F_SETPIPE_SZ fails with EPERM and the pipe silently keeps 64K. */
const PIPE_MAX_SIZE_FILE = '/proc/sys/fs/pipe-max-size';
/** The kernel's default for pipe-max-size, when /proc cannot be read. */
const PIPE_MAX_SIZE_DEFAULT = 1024 * 1024;

export function pipeMaxSize(file = PIPE_MAX_SIZE_FILE): number {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(value) && value > 0 ? value : PIPE_MAX_SIZE_DEFAULT;
  } catch {
    return PIPE_MAX_SIZE_DEFAULT;
  }
}

/** `ms` (Infinity passes: it means off), or a usage error when it is past `limit`. */
export function spanWithin(ms: number, limit: SpanLimit, text: string, flag: string): number {
  if (Number.isFinite(ms) && ms > limit.maxMs) {
    throw new UsageError(
      'ERR_OUT_OF_RANGE',
      `${flag}: '${text}' is more than ${limit.text} (${limit.why}); use infinity for never`,
    );
  }
  return ms;
}

export function pipeSizeWithin(bytes: number, text: string, flag: string, max = pipeMaxSize()): number {
  if (bytes > max) {
    throw new UsageError(
      'ERR_OUT_OF_RANGE',
      `${flag}: '${text}' is more than ${max} bytes (${PIPE_MAX_SIZE_FILE})`,
    );
  }
  return bytes;
}
