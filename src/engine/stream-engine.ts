/**
 * The TypeScript stream engine: Node sockets and pipe(), no addon required.
 *
 * It is the fallback where the addon could not be built and the twin the
 * contract tests hold the splice engine against, so it keeps every rule of
 * the contract in src/engine/types.ts even where Node makes that awkward:
 *
 * - Stopping accept at the connection cap: see pausable-listener.ts. Without
 *   the addon, clients over the cap are accepted but held (paused, unread)
 *   until a slot frees: they still wait, they are not reset.
 * - Half-close needs allowHalfOpen on both sockets, so that a FIN from one
 *   side becomes end() (shutdown(SHUT_WR)) on the other instead of a close.
 * - EMFILE. libuv meets it by accepting and closing waiting clients, which
 *   drops them. So the engine stays under the fd limit instead: connections
 *   cost two fds each, and the cap is lowered to what the limit allows.
 * - The PROXY header is built at accept, while the client's address is sure
 *   to be known, and written on the backend socket once that has connected
 *   (after any retries) and before the client is piped to it, so it is the
 *   first thing the backend reads. It is written, not read, so bytesIn stays
 *   the client's own bytes.
 */
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { BackendConnectError, connectBackend } from '../backend/connect.js';
import type { NativeBinding } from '../native/binding.js';
import { encodeHeader } from '../proxy-protocol/encode.js';
import { listenerEnds, streamFlow, type ListenerEnds } from '../proxy-protocol/stream-flow.js';
import { CoalescedReport } from './coalesced-report.js';
import { connectionsWithinFdLimit } from './fd-budget.js';
import { Histogram } from './histogram.js';
import { PausableListener } from './pausable-listener.js';
import { relayPair } from './stream-relay.js';
import { flushAndDetach } from './stream-handover.js';
import {
  CONNECT_SECONDS_BOUNDS,
  DURATION_SECONDS_BOUNDS,
  type Engine,
  type EngineEvents,
  type EngineListener,
  type EngineOptions,
  type EngineStats,
  type HandoverConnection,
  type ListenerStats,
} from './types.js';

/** How long accepting pauses after EMFILE/ENFILE, so a full fd table does not spin. */
const ACCEPT_ERROR_PAUSE_MS = 100;
/** Sockets per connection: client and backend. */
const FDS_PER_CONNECTION = 2;

interface Connection {
  id: number;
  client: Socket;
  upstream: Socket | null;
  abort: AbortController;
  /** The PROXY header, built at accept while the client's address is sure to be known. */
  header: Buffer | null;
  /** Why it closed, for the close event: 'done', 'client ECONNRESET', 'idle timeout', … */
  reason: string;
  acceptedAt: number;
  /** Bytes a previous instance forwarded before handing the connection over. */
  carriedIn: bigint;
  carriedOut: bigint;
}

interface ListenerState {
  listener: EngineListener;
  stats: ListenerStats;
  acceptor: PausableListener;
  live: Set<Connection>;
  /** Closed connections' bytes; live ones are added at read time. */
  closedBytesIn: bigint;
  closedBytesOut: bigint;
  failures: CoalescedReport<string>;
  /** Set when the listener sends a PROXY header: what its headers need of the listener itself. */
  proxyEnds: ListenerEnds | null;
  connectSeconds: Histogram;
  durationSeconds: Histogram;
}

export class StreamEngine extends EventEmitter implements Engine {
  readonly name = 'stream' as const;
  private readonly states: ListenerState[];
  private active_ = 0;
  private nextId = 1;
  private accepting = false;
  private stopped = false;
  private acceptPause: NodeJS.Timeout | null = null;
  /** Clients accepted over the cap when there is no dup() to pause with. */
  private readonly held: Array<{ state: ListenerState; client: Socket }> = [];
  private connectionsMax: number;

  constructor(
    private readonly options: EngineOptions,
    private readonly native: Pick<NativeBinding, 'dup' | 'close' | 'fdinfo' | 'connectUnix'> | null,
  ) {
    super();
    this.connectionsMax = options.connectionsMax;
    const fdinfo = native ? (fd: number) => native.fdinfo(fd) : null;
    this.states = options.listeners.map((listener) => {
      const state: ListenerState = {
        listener,
        stats: {
          label: listener.label,
          bytesIn: 0n,
          bytesOut: 0n,
          accepted: 0,
          active: 0,
          failedRefused: 0,
          failedTimeout: 0,
          failedOther: 0,
        },
        acceptor: new PausableListener(
          listener,
          native ? (fd) => native.dup(fd) : null,
          (client) => this.onClient(state, client),
          (err) => this.onAcceptError(err),
        ),
        live: new Set(),
        closedBytesIn: 0n,
        closedBytesOut: 0n,
        failures: new CoalescedReport<string>((code, count) =>
          this.emit('connectFailed', {
            listener: listener.label,
            backend: listener.backend.spec,
            code,
            count,
          }),
        ),
        proxyEnds: listener.proxyProtocol ? listenerEnds(listener.fd, listener.server, fdinfo) : null,
        connectSeconds: new Histogram(CONNECT_SECONDS_BOUNDS),
        durationSeconds: new Histogram(DURATION_SECONDS_BOUNDS),
      };
      return state;
    });
  }

  override on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): this {
    return super.on(event, listener);
  }

  start(): void {
    this.connectionsMax = connectionsWithinFdLimit(this.options, FDS_PER_CONNECTION);
    this.accepting = true;
    for (const state of this.states) {
      if (!state.listener.connected) continue;
      const client = new Socket({
        fd: state.listener.fd,
        allowHalfOpen: true,
        readable: true,
        writable: true,
      });
      client.pause();
      this.admit(state, client);
    }
    this.resumeAccepting();
  }

  active(): number {
    return this.active_;
  }

  stats(): EngineStats {
    return {
      active: this.active_,
      listeners: this.states.map((s) => {
        let bytesIn = s.closedBytesIn;
        let bytesOut = s.closedBytesOut;
        for (const c of s.live) {
          bytesIn += BigInt(c.client.bytesRead);
          bytesOut += BigInt(c.upstream?.bytesRead ?? 0);
        }
        return {
          ...s.stats,
          bytesIn,
          bytesOut,
          connectSeconds: s.connectSeconds.snapshot(),
          durationSeconds: s.durationSeconds.snapshot(),
        };
      }),
    };
  }

  tryStop(): boolean {
    if (this.active_ > 0 || this.held.length > 0) return false;
    this.stopAccepting();
    return true;
  }

  stopAccepting(): void {
    this.accepting = false;
    this.pauseAccepting();
  }

  destroy(): void {
    this.stopped = true;
    this.stopAccepting();
    if (this.acceptPause) clearTimeout(this.acceptPause);
    for (const { client } of this.held.splice(0)) client.resetAndDestroy();
    for (const state of this.states) {
      state.failures.stop();
      for (const c of state.live) {
        c.abort.abort();
        c.client.resetAndDestroy();
        c.upstream?.resetAndDestroy();
      }
    }
  }

  async exportConnections(timeoutMs: number): Promise<HandoverConnection[]> {
    this.stopAccepting();
    const native = this.native;
    if (!native) return []; // Without dup() a socket cannot outlive its Node object.
    const deadline = Date.now() + timeoutMs;
    const exports = this.states.flatMap((state, listener) =>
      [...state.live]
        .filter((c) => c.upstream !== null)
        .map(async (c): Promise<HandoverConnection | null> => {
          const upstream = c.upstream!;
          const fds = await flushAndDetach(c.client, upstream, native, deadline);
          if (!fds) return null;
          const handed: HandoverConnection = {
            listener,
            ...fds,
            bytesIn: c.carriedIn + BigInt(c.client.bytesRead),
            bytesOut: c.carriedOut + BigInt(upstream.bytesRead),
          };
          // Our fds close; the dups keep the connection open for the next instance.
          c.reason = 'handed over';
          c.client.destroy();
          upstream.destroy();
          return handed;
        }),
    );
    return (await Promise.all(exports)).filter((c): c is HandoverConnection => c !== null);
  }

  adoptConnections(connections: HandoverConnection[]): void {
    for (const handed of connections) {
      const state = this.states[handed.listener];
      if (!state) throw new RangeError(`handover names listener ${handed.listener}, which does not exist`);
      const open = (fd: number): Socket =>
        new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
      const client = open(handed.clientFd);
      client.pause();
      const connection = this.newConnection(state, client, handed.bytesIn, handed.bytesOut);
      this.splice(state, connection, open(handed.backendFd));
    }
  }

  private get atCap(): boolean {
    return this.active_ >= this.connectionsMax;
  }

  private resumeAccepting(): void {
    if (!this.accepting || this.stopped || this.acceptPause || this.atCap) return;
    for (const state of this.states) state.acceptor.open();
  }

  private pauseAccepting(): void {
    for (const state of this.states) state.acceptor.close();
  }

  private onAcceptError(err: NodeJS.ErrnoException): void {
    this.emit('acceptError', { code: err.code ?? 'UNKNOWN' });
    if (this.acceptPause || this.stopped) return;
    this.pauseAccepting();
    this.acceptPause = setTimeout(() => {
      this.acceptPause = null;
      this.resumeAccepting();
    }, ACCEPT_ERROR_PAUSE_MS);
  }

  private onClient(state: ListenerState, client: Socket): void {
    if (this.atCap || !this.accepting) {
      // Only reachable without dup(): hold the client unread until a slot frees.
      this.held.push({ state, client });
      client.once('close', () => {
        const i = this.held.findIndex((h) => h.client === client);
        if (i >= 0) this.held.splice(i, 1);
      });
      return;
    }
    this.admit(state, client);
  }

  private newConnection(state: ListenerState, client: Socket, carriedIn = 0n, carriedOut = 0n): Connection {
    const connection: Connection = {
      id: this.nextId++,
      client,
      upstream: null,
      abort: new AbortController(),
      header: null,
      reason: 'done',
      acceptedAt: performance.now(),
      carriedIn,
      carriedOut,
    };
    state.live.add(connection);
    state.stats.active++;
    if (this.active_++ === 0) this.emit('busy');
    if (this.atCap) this.pauseAccepting();
    client.on('error', (err: NodeJS.ErrnoException) => {
      connection.reason = `client ${err.code ?? 'error'}`;
      connection.abort.abort();
      connection.upstream?.resetAndDestroy();
    });
    return connection;
  }

  private admit(state: ListenerState, client: Socket): void {
    const connection = this.newConnection(state, client);
    connection.header = this.proxyHeader(state, client);
    state.stats.accepted++;
    if (this.options.connectionEvents) {
      const peer = client.remoteAddress ? `${client.remoteAddress}:${client.remotePort}` : 'unix';
      this.emit('open', { id: connection.id, listener: state.listener.label, peer });
    }

    client.once('close', () => {
      if (!connection.upstream) {
        connection.abort.abort();
        this.release(state, connection);
      }
    });

    connectBackend(
      state.listener.backend.addresses,
      this.options.connectTimeoutMs,
      connection.abort.signal,
      this.native,
    ).then(
      (upstream) => {
        state.connectSeconds.observe((performance.now() - connection.acceptedAt) / 1000);
        this.splice(state, connection, upstream);
      },
      (err: unknown) => {
        if (!(err instanceof BackendConnectError) || err.code === 'ECANCELED') return;
        connection.reason = `backend ${err.code}`;
        this.countFailure(state, err);
        client.resetAndDestroy();
      },
    );
  }

  private splice(state: ListenerState, connection: Connection, upstream: Socket): void {
    const { client } = connection;
    if (client.destroyed) {
      // The client left while we were connecting: pass its FIN or reset on as if it had been relayed.
      upstream.destroy();
      this.release(state, connection);
      return;
    }
    connection.upstream = upstream;
    relayPair(
      client,
      upstream,
      {
        keepaliveMs: this.options.keepaliveMs ?? 0,
        idleTimeoutMs: this.options.connectionIdleTimeoutMs ?? 0,
        header: connection.header,
      },
      { setReason: (reason) => (connection.reason = reason), closed: () => this.release(state, connection) },
    );
  }

  private proxyHeader(state: ListenerState, client: Socket): Buffer | null {
    const version = state.listener.proxyProtocol;
    if (!version || !state.proxyEnds) return null;
    const native = this.native;
    const fdinfo = native ? (fd: number) => native.fdinfo(fd) : null;
    return encodeHeader(version, streamFlow(client, state.proxyEnds, fdinfo));
  }

  private countFailure(state: ListenerState, err: BackendConnectError): void {
    if (err.reason === 'refused') state.stats.failedRefused++;
    else if (err.reason === 'timeout') state.stats.failedTimeout++;
    else state.stats.failedOther++;
    state.failures.add(err.code);
  }

  private release(state: ListenerState, connection: Connection): void {
    if (!state.live.delete(connection)) return;
    const bytesIn = connection.client.bytesRead;
    const bytesOut = connection.upstream?.bytesRead ?? 0;
    state.closedBytesIn += BigInt(bytesIn);
    state.closedBytesOut += BigInt(bytesOut);
    state.stats.active--;
    this.active_--;
    if (connection.reason !== 'handed over') {
      state.durationSeconds.observe((performance.now() - connection.acceptedAt) / 1000);
    }
    if (this.options.connectionEvents) {
      this.emit('close', {
        id: connection.id,
        listener: state.listener.label,
        bytesIn: Number(connection.carriedIn) + bytesIn,
        bytesOut: Number(connection.carriedOut) + bytesOut,
        reason: connection.reason,
      });
    }
    const next = this.held.shift();
    if (next && this.accepting) this.admit(next.state, next.client);
    else this.resumeAccepting();
    if (this.active_ === 0) this.emit('idle');
  }
}
