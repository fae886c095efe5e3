/**
 * The UDP relay on the addon's epoll thread. This class only translates: options
 * into the native shape, native event batches into typed events, native counters
 * into `UdpStats`. No datagram ever passes through JavaScript.
 */
import { EventEmitter } from 'node:events';

import type { NativeBinding, UdpRelayEvent, UdpRelayNative } from '../native/binding.js';
import { ExportQueue } from '../native/export-queue.js';
import {
  type HandoverRefusal,
  type HandoverSession,
  type UdpRelay,
  type UdpRelayEvents,
  type UdpRelayOptions,
  type UdpStats,
} from './types.js';

export class NativeUdpRelay extends EventEmitter implements UdpRelay {
  readonly label: string;
  readonly id: string;
  private readonly relay: UdpRelayNative;
  private readonly exports = new ExportQueue();

  constructor(
    native: Pick<NativeBinding, 'UdpRelay'>,
    private readonly options: UdpRelayOptions,
  ) {
    super();
    this.label = options.label;
    this.id = options.id ?? `udp:${options.label}`;
    this.relay = new native.UdpRelay(
      {
        fd: options.fd,
        backend: options.backend.addresses,
        sessionTimeoutMs: Number.isFinite(options.sessionTimeoutMs) ? options.sessionTimeoutMs : 0,
        sessionsMax: options.sessionsMax,
        ...(options.proxyProtocol ? { proxyProtocol: options.proxyProtocol } : {}),
        ...(options.sessionEvents ? { sessionEvents: true } : {}),
        ...(options.transparent ? { transparent: true } : {}),
        ...(options.sourceLimits ? { sourceLimits: options.sourceLimits } : {}),
      },
      (events) => this.dispatch(events),
    );
  }

  override on<E extends keyof UdpRelayEvents>(event: E, listener: UdpRelayEvents[E]): this {
    return super.on(event, listener);
  }

  start(): void {
    this.relay.start();
  }

  /** After destroy() too: the last counters, with no session active. */
  stats(): UdpStats {
    return { label: this.label, ...this.relay.stats() };
  }

  activeSessions(): number {
    return this.relay.activeSessions();
  }

  active(): number {
    return this.relay.activeSessions();
  }

  onBusy(listener: () => void): void {
    this.on('busy', listener);
  }

  onIdle(listener: () => void): void {
    this.on('idle', listener);
  }

  tryStop(): boolean {
    return this.relay.tryStop();
  }

  resumeAfterTryStop(): void {
    this.relay.resumeAfterTryStop();
  }

  stopAccepting(): void {
    this.relay.stopAccepting();
  }

  destroy(): void {
    this.relay.destroy();
  }

  /** Runs on the relay's thread; one export at a time, so a second call waits for the first. */
  exportSessions(): Promise<HandoverSession[]> {
    return this.exports.run(() => this.relay.exportSessions());
  }

  adoptSessions(sessions: HandoverSession[]): HandoverRefusal[] {
    return this.relay
      .adoptSessions(sessions)
      .map(({ index, error }) => ({ session: sessions[index]!, error }));
  }

  private dispatch(events: UdpRelayEvent[]): void {
    const label = this.label;
    for (const event of events) {
      switch (event.type) {
        case 'busy':
        case 'idle':
          this.emit(event.type);
          break;
        case 'session-error':
          this.emit('sessionError', {
            label,
            backend: this.options.backend.spec,
            client: event.client,
            code: event.code,
            count: event.count,
            ...(this.options.transparent ? { transparent: true as const } : {}),
          });
          break;
        case 'dropped':
          this.emit('dropped', {
            label,
            reason: event.reason,
            count: event.count,
            ...(event.source ? { source: event.source } : {}),
          });
          break;
        case 'session-closed': {
          const { type: _, ...session } = event;
          this.emit('sessionClosed', { label, backend: this.options.backend.spec, ...session });
          break;
        }
        case 'socket-error':
          this.emit('socketError', { label, code: event.code, syscall: event.syscall, count: event.count });
          break;
      }
    }
  }
}
