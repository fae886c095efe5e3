/**
 * The contract every stream engine keeps. Two implement it: the native splice
 * engine (the hot path, in C++) and the TypeScript stream engine (the fallback
 * when the addon is absent, and the twin the contract tests hold it against).
 *
 * Semantics both must honour:
 * - each accepted client gets its own backend connection, tried address by
 *   address until one connects (or the connect deadline passes);
 * - bytes are forwarded both ways unchanged, half-close propagates as
 *   shutdown(SHUT_WR), a reset propagates as a reset;
 * - at `connectionsMax` open connections the engine stops accepting, leaving
 *   further clients in the kernel backlog, and resumes when one closes;
 * - EMFILE/ENFILE on accept pauses accepting briefly instead of spinning;
 * - `tryStop()` is atomic with accept: it stops only if nothing is open, so a
 *   client is never accepted and then dropped by an idle exit.
 */
import type { Server } from 'node:net';
import type { SocketAddress } from '../native/binding.js';

export type EngineName = 'splice' | 'stream';

export interface EngineListener {
  /** Listening stream socket fd (inherited or self-bound). The engine never closes it. */
  fd: number;
  /** For logs and metrics: fd name or local address. */
  label: string;
  backend: EngineBackend;
  /**
   * Stream engine only, when the addon is absent: the Node server already listening on `fd`
   * (a self-bound --listen address), used as it is because without dup() it cannot be re-listened.
   */
  server?: Server;
}

export interface EngineBackend {
  /** As the user wrote it, for logs. */
  spec: string;
  /** Resolved addresses, tried in order. */
  addresses: SocketAddress[];
}

export interface EngineOptions {
  listeners: EngineListener[];
  connectionsMax: number;
  pipeSize: number;
  connectTimeoutMs: number;
  /** Emit per-connection open/close events (costly; only for debug logging). */
  connectionEvents: boolean;
  /** The soft RLIMIT_NOFILE in force, when known: an engine keeps its connections within it. */
  fdLimit?: number;
}

export interface ListenerStats {
  label: string;
  bytesIn: bigint;
  bytesOut: bigint;
  accepted: number;
  active: number;
  failedRefused: number;
  failedTimeout: number;
  failedOther: number;
}

export interface EngineStats {
  active: number;
  listeners: ListenerStats[];
}

export interface EngineEvents {
  busy: () => void;
  idle: () => void;
  open: (info: { id: number; listener: string; peer: string }) => void;
  close: (info: { id: number; listener: string; bytesIn: number; bytesOut: number; reason: string }) => void;
  connectFailed: (info: { listener: string; backend: string; code: string; count: number }) => void;
  acceptError: (info: { code: string }) => void;
}

export interface Engine {
  readonly name: EngineName;
  start(): void;
  stats(): EngineStats;
  /** Number of open connections now. */
  active(): number;
  /** Atomically stop accepting if nothing is open; true when stopped. */
  tryStop(): boolean;
  stopAccepting(): void;
  /** Reset every open connection and release resources. */
  destroy(): void;
  on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): this;
}
