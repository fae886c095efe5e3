/**
 * One fd budget for everything the process holds open. An engine that runs out of fds
 * mid-connection can only fail that client; one that knows its budget stops accepting first,
 * and the clients over it wait in the backlog instead. Every kind of fd counts: a stream
 * connection (client, backend and a pipe each way), a UDP session (its upstream socket), a
 * metrics connection, and a reserve for the process itself. Without this, 200 UDP sources at
 * LimitNOFILE=128 took every fd and TCP accepts failed with EMFILE for as long as they stayed.
 */
import { readdirSync } from 'node:fs';
import { METRICS_CONNECTIONS_MAX } from '../config/limits.js';
import type { EngineOptions } from './types.js';

/** Fds kept free for logs, timers, the notify socket and the like. */
const FD_RESERVE = 32;
export { METRICS_CONNECTIONS_MAX };

/** Client, backend and a pipe each way. */
export const FDS_PER_CONNECTION = 6;
/** The upstream socket. */
const FDS_PER_UDP_SESSION = 1;

/** What is left under the soft limit for connections and sessions, after what is open and the reserves. */
function freeFds(fdLimit: number): number {
  const open = readdirSync('/proc/self/fd').length;
  return fdLimit - open - FD_RESERVE - METRICS_CONNECTIONS_MAX;
}

/** The cap, lowered so that every admitted connection's fds fit under the soft RLIMIT_NOFILE. */
export function connectionsWithinFdLimit(options: EngineOptions, fdsPerConnection: number): number {
  if (options.fdLimit === undefined) return options.connectionsMax;
  const fits = Math.floor(freeFds(options.fdLimit) / fdsPerConnection);
  return Math.max(1, Math.min(options.connectionsMax, fits));
}

export interface FdDemand {
  /** Soft RLIMIT_NOFILE; undefined: unknown, caps stay as configured. */
  fdLimit: number | undefined;
  /** Stream connections wanted (--connections-max), 0 without stream listeners. */
  connectionsMax: number;
  /** Sessions wanted per relay (--udp-sessions-max). */
  udpSessionsMax: number;
  udpRelays: number;
}

export interface FdShares {
  connectionsMax: number;
  /** Per relay. */
  udpSessionsMax: number;
}

/**
 * Splits the free fds between stream connections and UDP sessions. When both fit, the caps stay as
 * configured; when not, neither kind may take more than its half of what the other wants too, so a
 * flood of UDP sources cannot stop TCP service, nor the reverse. Each cap is at least 1.
 */
export function shareFdBudget(demand: FdDemand): FdShares {
  const { fdLimit, connectionsMax, udpSessionsMax, udpRelays } = demand;
  if (fdLimit === undefined) return { connectionsMax, udpSessionsMax };
  const free = Math.max(0, freeFds(fdLimit));
  const streamWants = connectionsMax * FDS_PER_CONNECTION;
  const udpWants = udpRelays * udpSessionsMax * FDS_PER_UDP_SESSION;
  if (streamWants + udpWants <= free) return { connectionsMax, udpSessionsMax };
  const streamFds = udpWants === 0 ? free : Math.min(streamWants, Math.max(free / 2, free - udpWants));
  const udpFds = free - streamFds;
  return {
    connectionsMax: Math.max(1, Math.min(connectionsMax, Math.floor(streamFds / FDS_PER_CONNECTION))),
    udpSessionsMax: Math.max(
      1,
      Math.min(udpSessionsMax, Math.floor(udpFds / Math.max(1, udpRelays) / FDS_PER_UDP_SESSION)),
    ),
  };
}
