/**
 * One fd budget for everything the process holds open. An engine that runs out of fds
 * mid-connection can only fail that client; one that knows its budget stops accepting first,
 * and the clients over it wait in the backlog instead. Every kind of fd counts: a stream
 * connection (client and backend), the splice pipes of the stream engine, a UDP session (its
 * upstream socket), a metrics connection, and a reserve for the process itself.
 *
 * A pipe belongs to bytes in flight, not to a connection (native/src/stream/pipe-pool.h): an idle
 * connection costs its two sockets. The engine may hold one pipe per eight connections (at least
 * 16), two fds each; a flow that finds none spent copies through user space instead, so a pipe
 * never takes the fd a new connection's backend socket was counted with. Without this, 200 UDP sources at
 * LimitNOFILE=128 took every fd and TCP accepts failed with EMFILE for as long as they stayed.
 */
import { readdirSync } from 'node:fs';
import type { EngineOptions } from './types.js';

/** Fds kept free for logs, timers, the notify socket and the like. */
const FD_RESERVE = 32;
/** Metrics connections at once (the scrape server closes more as they arrive); reserved up front. */
export const METRICS_CONNECTIONS_MAX = 16;
/** Client and backend. */
export const FDS_PER_CONNECTION = 2;
const CONNECTIONS_PER_PIPE = 8;
const PIPES_MIN = 16;
const FDS_PER_PIPE = 2;
/** The upstream socket. */
const FDS_PER_UDP_SESSION = 1;

/** What is left under the soft limit for connections and sessions, after what is open and the reserves. */
function freeFds(fdLimit: number): number {
  const open = readdirSync('/proc/self/fd').length;
  return fdLimit - open - FD_RESERVE - METRICS_CONNECTIONS_MAX;
}

/** Splice pipes the stream engine may hold open at once for `connections` connections. */
export function pipesFor(connections: number): number {
  return Math.min(2 * connections, Math.max(PIPES_MIN, Math.ceil(connections / CONNECTIONS_PER_PIPE)));
}

/** Fds that `connections` stream connections and their share of pipes take at most. */
export function streamFds(connections: number): number {
  return connections * FDS_PER_CONNECTION + pipesFor(connections) * FDS_PER_PIPE;
}

/** The most stream connections (at least 1) whose fds fit in `fds`. */
function connectionsWithin(fds: number): number {
  const perConnection = FDS_PER_CONNECTION + FDS_PER_PIPE / CONNECTIONS_PER_PIPE;
  let connections = Math.max(1, Math.floor(fds / perConnection));
  // The estimate is off by the rounding and the pipes' minimum only: a few steps at most.
  for (let step = 0; step < PIPES_MIN + CONNECTIONS_PER_PIPE && connections > 1; step++) {
    if (streamFds(connections) <= fds) break;
    connections--;
  }
  return connections;
}

/** The cap, lowered so that every admitted connection's fds fit under the soft RLIMIT_NOFILE. */
export function connectionsWithinFdLimit(options: EngineOptions): number {
  if (options.fdLimit === undefined) return options.connectionsMax;
  return Math.min(options.connectionsMax, connectionsWithin(freeFds(options.fdLimit)));
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
  const streamWants = connectionsMax > 0 ? streamFds(connectionsMax) : 0;
  const udpWants = udpRelays * udpSessionsMax * FDS_PER_UDP_SESSION;
  if (streamWants + udpWants <= free) return { connectionsMax, udpSessionsMax };
  const streamFdsShare = udpWants === 0 ? free : Math.min(streamWants, Math.max(free / 2, free - udpWants));
  const udpFds = free - streamFdsShare;
  return {
    connectionsMax: Math.max(1, Math.min(connectionsMax, connectionsWithin(streamFdsShare))),
    udpSessionsMax: Math.max(
      1,
      Math.min(udpSessionsMax, Math.floor(udpFds / Math.max(1, udpRelays) / FDS_PER_UDP_SESSION)),
    ),
  };
}
