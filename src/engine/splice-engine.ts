/**
 * The stream engine: the native relay (native/src/stream/) behind the Engine contract.
 *
 * All the work happens on the addon's epoll thread; this class only translates. Listeners
 * that share a backend object share one native backend entry, listener indices become labels,
 * and the native events (delivered in batches, noisy ones already coalesced to one a second)
 * become the typed events of EngineEvents. Counters stay in native memory until stats() asks.
 * The idle timeout, keepalive, PROXY header and handover are all the native engine's own: nothing
 * here runs per connection.
 */
import { EventEmitter } from 'node:events';
import type { NativeBinding, RelayEngineNative, RelayEvent, SocketAddress } from '../native/binding.js';
import { BackendRefresher } from '../backend/re-resolve.js';
import { ExportQueue } from '../native/export-queue.js';
import { formatSocketAddress } from '../backend/resolve.js';
import { connectionsWithinFdLimit, pipesFor } from './fd-budget.js';
import {
  CONNECT_SECONDS_BOUNDS,
  DURATION_SECONDS_BOUNDS,
  type Engine,
  type EngineBackend,
  type EngineEvents,
  type EngineOptions,
  type EngineStats,
  type HandoverConnection,
} from './types.js';

export interface SpliceEngineOptions extends EngineOptions {
  /** How often a backend name is resolved again (src/backend/re-resolve.ts); 30 s by default. */
  backendRefreshMs?: number;
  /** Splice pipes open at once; the fd budget's share for the connections by default. */
  pipesMax?: number;
}

/** A dup of each listener's fd (null where it has none); all or none, so none is left unowned. */
function ownListenerFds(binding: NativeBinding, listeners: EngineOptions['listeners']): Array<number | null> {
  const fds: Array<number | null> = [];
  try {
    for (const { fd } of listeners) fds.push(fd === null ? null : binding.dup(fd));
  } catch (err) {
    for (const fd of fds) if (fd !== null) binding.close(fd);
    throw err;
  }
  return fds;
}

export class SpliceEngine extends EventEmitter implements Engine {
  private readonly native: RelayEngineNative;
  private readonly labels: string[];
  private readonly specs: string[];
  private readonly transparent: boolean[];
  /** Per listener, the refresher of its backend (when that is a name). */
  private readonly refresherOf: Array<BackendRefresher | undefined>;
  private readonly refreshers: BackendRefresher[] = [];
  private readonly exports = new ExportQueue();
  readonly connectionsMax: number;
  readonly id: string;

  constructor(binding: NativeBinding, options: SpliceEngineOptions) {
    super();
    this.id = options.id ?? 'tcp';
    const backendIndex = new Map<EngineBackend, number>();
    const backends: SocketAddress[][] = [];
    const refresherIndex = new Map<EngineBackend, BackendRefresher>();
    // The addon owns each listener fd it is given, so it gets its own: other engines (a drainer, a
    // resumed plane) share the caller's socket.
    const fds = ownListenerFds(binding, options.listeners);
    const listeners = options.listeners.map((listener, i) => {
      let backend = backendIndex.get(listener.backend);
      if (backend === undefined) {
        backend = backends.push(listener.backend.addresses) - 1;
        backendIndex.set(listener.backend, backend);
        const refresher = this.refresherFor(listener.backend, backend, options.backendRefreshMs);
        if (refresher) refresherIndex.set(listener.backend, refresher);
      }
      return {
        fd: fds[i] ?? null,
        backend,
        ...(listener.proxyProtocol ? { proxyProtocol: listener.proxyProtocol } : {}),
        ...(listener.transparent ? { transparent: true } : {}),
      };
    });
    this.labels = options.listeners.map((l) => l.label);
    this.specs = options.listeners.map((l) => l.backend.spec);
    this.transparent = options.listeners.map((l) => l.transparent === true);
    this.connectionsMax = connectionsWithinFdLimit(options);
    this.refresherOf = options.listeners.map((l) => refresherIndex.get(l.backend));
    this.native = new binding.RelayEngine(
      {
        listeners,
        backends,
        connectionsMax: this.connectionsMax,
        pipeSize: options.pipeSize,
        pipesMax: options.pipesMax ?? pipesFor(this.connectionsMax),
        connectTimeoutMs: options.connectTimeoutMs,
        connectionIdleTimeoutMs: options.connectionIdleTimeoutMs ?? 0,
        keepaliveMs: options.keepaliveMs ?? 0,
        connectionEvents: options.connectionEvents,
        ...(options.sourceLimits ? { sourceLimits: options.sourceLimits } : {}),
        connectBounds: CONNECT_SECONDS_BOUNDS,
        durationBounds: DURATION_SECONDS_BOUNDS,
      },
      (events) => this.dispatch(events),
    );
  }

  override on<E extends keyof EngineEvents>(event: E, listener: EngineEvents[E]): this {
    return super.on(event, listener);
  }

  onBusy(listener: () => void): void {
    this.on('busy', listener);
  }

  onIdle(listener: () => void): void {
    this.on('idle', listener);
  }

  start(): void {
    this.native.start();
    for (const r of this.refreshers) r.start();
  }

  stats(): EngineStats {
    const stats = this.native.stats();
    return {
      active: stats.active,
      listeners: stats.listeners.map((s, i) => ({ label: this.label(i), ...s })),
      pipes: { inUse: stats.pipesInUse, pooled: stats.pipesPooled },
    };
  }

  active(): number {
    return this.native.active();
  }

  tryStop(): boolean {
    return this.native.tryStop();
  }

  resumeAfterTryStop(): void {
    this.native.resumeAfterTryStop();
  }

  stopAccepting(): void {
    this.native.stopAccepting();
  }

  destroy(): void {
    for (const r of this.refreshers) r.stop();
    this.native.destroy();
  }

  /** The flush runs on the engine's threads; one export at a time, so a second call waits for the first. */
  exportConnections(timeoutMs: number): Promise<HandoverConnection[]> {
    return this.exports.run(() => this.native.exportConnections(Math.max(0, Math.ceil(timeoutMs))));
  }

  /**
   * Every connection is given, even after one is refused: each call makes its fds the addon's,
   * taken or refused, so none is left without an owner. The first refusal is thrown at the end.
   */
  adoptConnections(connections: HandoverConnection[]): void {
    let refusal: unknown = null;
    for (const c of connections) {
      try {
        this.native.adoptConnection(
          c.listener,
          c.clientFd,
          c.backendFd,
          c.bytesIn,
          c.bytesOut,
          c.connectDeadlineMs,
        );
      } catch (err) {
        refusal ??= err;
      }
    }
    if (refusal !== null) throw refusal;
  }

  /** Before start(): a client socket accepted elsewhere, connected like one accepted on `listener`. */
  adoptClient(listener: number, clientFd: number): void {
    this.native.adoptClient(listener, clientFd);
  }

  private refresherFor(
    backend: EngineBackend,
    index: number,
    intervalMs: number | undefined,
  ): BackendRefresher | undefined {
    const { refresh } = backend;
    if (!refresh) return undefined;
    const refresher = new BackendRefresher(backend.addresses, {
      resolve: refresh,
      intervalMs,
      onChange: (addresses) => {
        this.native.setBackendAddresses(index, addresses);
        this.emit('backendAddresses', {
          backend: backend.spec,
          addresses: addresses.map(formatSocketAddress),
        });
      },
      onError: (err) =>
        this.emit('backendResolveError', {
          backend: backend.spec,
          message: err instanceof Error ? err.message : String(err),
        }),
    });
    this.refreshers.push(refresher);
    return refresher;
  }

  private label(index: number): string {
    return this.labels[index] ?? `#${index}`;
  }

  private dispatch(events: RelayEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'busy':
        case 'idle':
          this.emit(event.type);
          break;
        case 'open':
          this.emit('open', { id: event.id, listener: this.label(event.listener), peer: event.peer });
          break;
        case 'close':
          this.emit('close', {
            id: event.id,
            listener: this.label(event.listener),
            bytesIn: event.bytesIn,
            bytesOut: event.bytesOut,
            reason: event.reason,
            durationMs: event.durationMs,
          });
          break;
        case 'connect-failed':
          // Every address failed: the name may point elsewhere by now.
          this.refresherOf[event.listener]?.failed();
          this.emit('connectFailed', {
            listener: this.label(event.listener),
            backend: this.specs[event.listener] ?? '',
            code: event.code,
            count: event.count,
            ...(this.transparent[event.listener] ? { transparent: true as const } : {}),
          });
          break;
        case 'accept-error':
          this.emit('acceptError', { code: event.code });
          break;
        case 'refused':
          this.emit('refused', {
            listener: this.label(event.listener),
            reason: event.reason,
            source: event.source,
            count: event.count,
          });
          break;
        case 'connection-error':
          this.emit('connectionError', {
            listener: this.label(event.listener),
            code: event.code,
            syscall: event.syscall,
            count: event.count,
          });
          break;
      }
    }
  }
}
