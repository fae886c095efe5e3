/**
 * The contract of the stream engine: the native splice engine (native/, behind
 * splice-engine.ts), which the contract tests hold to it.
 *
 * Its semantics:
 * - each accepted client gets its own backend connection, tried address by
 *   address until one connects (or the connect deadline passes);
 * - bytes are forwarded both ways unchanged, half-close propagates as
 *   shutdown(SHUT_WR), a reset propagates as a reset;
 * - at `connectionsMax` open connections the engine stops accepting, leaving
 *   further clients in the kernel backlog, and resumes when one closes;
 * - EMFILE/ENFILE on accept pauses accepting briefly instead of spinning;
 * - with `proxyProtocol` set on a listener, the backend reads the PROXY header
 *   before anything else, exactly once per connection;
 * - `tryStop()` is atomic with accept: it stops only if nothing is open, so a
 *   client is never accepted and then dropped by an idle exit;
 * - with `sourceLimits`, a client whose source holds its limit of connections
 *   or exceeds its rate is reset at accept, uncounted (it holds no slot and
 *   is not activity), and reported through `refused`.
 */
import type { EngineBackend } from '../backend/resolve.js';
import type { ActivitySource } from '../lifecycle/activity-source.js';
import type { CloseReason, HandoverConnection, RelayListenerStats, SourceLimits } from '../native/binding.js';

import type { ProxyProtocolVersion } from '../proxy-protocol/version.js';

export type { HandoverConnection, HistogramSnapshot } from '../native/binding.js';
export type { EngineBackend } from '../backend/resolve.js';

/** The sockets a handed-over connection holds: its client's, and its backend's once connected. */
export const handedFds = (c: HandoverConnection): number[] =>
  c.backendFd === null ? [c.clientFd] : [c.clientFd, c.backendFd];

export interface EngineListener {
  /**
   * Listening stream socket fd (inherited or self-bound), the caller's still: the engine is given a
   * dup of its own, which it closes when destroyed. null: an engine that never accepts on it.
   */
  fd: number | null;
  /** For logs and metrics: fd name or local address. */
  label: string;
  backend: EngineBackend;
  /**
   * Write this PROXY protocol header (native/src/core/proxy-header.cc) on each backend connection right after
   * it connects — once, after any retries — and before any client byte. Header bytes are not
   * client bytes: bytesIn counts only what the client sent. An adopted
   * (handed-over) connection never sends it again.
   */
  proxyProtocol?: ProxyProtocolVersion;
  /** Bind each backend connection to the client's own address and port (IP_TRANSPARENT). */
  transparent?: boolean;
}

export interface EngineOptions {
  /** As an activity source, for logs and the idle monitor; 'tcp' by default. */
  id?: string;
  listeners: EngineListener[];
  connectionsMax: number;
  pipeSize: number;
  connectTimeoutMs: number;
  /** Close a connection after this many ms without a byte either way; 0 = never. */
  connectionIdleTimeoutMs?: number;
  /** TCP keepalive idle time on both sockets, ms; 0 = keepalive off. */
  keepaliveMs?: number;
  /** Emit per-connection open/close events (costly; only for debug logging). */
  connectionEvents: boolean;
  /** Per-source connection and rate limits; absent: none. */
  sourceLimits?: SourceLimits;
  /** The soft RLIMIT_NOFILE in force, when known: an engine keeps its connections within it. */
  fdLimit?: number;
}

/** Buckets the engine keeps: 0.5 ms to 60 s for connect latency, 10 ms to 1 day for durations. */
export const CONNECT_SECONDS_BOUNDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
export const DURATION_SECONDS_BOUNDS = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

export interface ListenerStats extends RelayListenerStats {
  label: string;
}

export interface EngineStats {
  active: number;
  listeners: ListenerStats[];
  /** Splice pipes holding bytes now, and kept empty for the next busy flow (stream engines only). */
  pipes?: { inUse: number; pooled: number };
}

export interface EngineEvents {
  busy: () => void;
  idle: () => void;
  open: (info: { id: number; listener: string; peer: string }) => void;
  close: (info: {
    id: number;
    listener: string;
    bytesIn: number;
    bytesOut: number;
    reason: CloseReason;
    durationMs: number;
  }) => void;
  connectFailed: (info: {
    listener: string;
    backend: string;
    code: string;
    count: number;
    /** Set on a transparent listener, whose failures have causes of their own (src/transparent/). */
    transparent?: true;
  }) => void;
  acceptError: (info: { code: string }) => void;
  /** Clients reset over their source's limits (at most one a second per listener); `source` is the latest. */
  refused: (info: { listener: string; reason: string; source: string; count: number }) => void;
  /** A system call failed on one connection for a reason worth logging (EMFILE on pipe2, …). */
  connectionError: (info: { listener: string; code: string; syscall: string; count: number }) => void;
  /** A backend name resolved to other addresses, which the next connections use. */
  backendAddresses: (info: { backend: string; addresses: string[] }) => void;
  /** Resolving a backend name again failed; its addresses stay as they were. */
  backendResolveError: (info: { backend: string; message: string }) => void;
}

export interface Engine extends ActivitySource {
  /** The connection cap in force: connectionsMax, lowered to fit the fd limit. */
  readonly connectionsMax: number;
  start(): void;
  stats(): EngineStats;
  /** Number of open connections now. */
  active(): number;
  /** Atomically stop accepting if nothing is open; true when stopped. */
  tryStop(): boolean;
  /** Accept again after a tryStop() that returned true (another source refused to stop). */
  resumeAfterTryStop(): void;
  stopAccepting(): void;
  /** Reset every open connection and release resources. */
  destroy(): void;
  /**
   * Handover: stop accepting and reading, flush what is in flight into the kernel, and detach open
   * connections, returning their sockets; one still connecting to its backend leaves as its client
   * socket (backendFd null) with its deadline. Connections not flushed within `timeoutMs` (a peer
   * not reading) stay in the engine, to be drained as before.
   */
  exportConnections(timeoutMs: number): Promise<HandoverConnection[]>;
  /** Resume relaying connections a previous instance handed over; call before start(). */
  adoptConnections(connections: HandoverConnection[]): void;
  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): this;
}
