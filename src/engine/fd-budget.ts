/**
 * Keeping connections within the fd limit. An engine that runs out of fds
 * mid-connection can only fail that client; one that knows its budget stops
 * accepting first, and the clients over it wait in the backlog instead.
 */
import { readdirSync } from 'node:fs';
import type { EngineOptions } from './types.js';

/** Fds kept free for logs, timers, metrics scrapes and the like. */
const FD_RESERVE = 32;

/** The cap, lowered so that every admitted connection's fds fit under the soft RLIMIT_NOFILE. */
export function connectionsWithinFdLimit(options: EngineOptions, fdsPerConnection: number): number {
  if (options.fdLimit === undefined) return options.connectionsMax;
  const open = readdirSync('/proc/self/fd').length;
  const fits = Math.floor((options.fdLimit - open - FD_RESERVE) / fdsPerConnection);
  return Math.max(1, Math.min(options.connectionsMax, fits));
}
