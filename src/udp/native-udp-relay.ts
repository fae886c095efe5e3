/**
 * The UDP relay on the addon's epoll thread. This class only translates: options
 * into the native shape, native event batches into typed events, native counters
 * into `UdpStats`. No datagram ever passes through JavaScript.
 */
import { EventEmitter } from 'node:events';

import type { NativeBinding, UdpRelayEvent, UdpRelayNative } from '../native/binding.js';
import {
  emptyUdpStats,
  type HandoverRefusal,
  type HandoverSession,
  type UdpRelay,
  type UdpRelayEvents,
  type UdpRelayOptions,
  type UdpStats,
} from './types.js';

export class NativeUdpRelay extends EventEmitter implements UdpRelay {
  readonly label: string;
  private relay: UdpRelayNative | null;
  private last: UdpStats;

  constructor(
    native: Pick<NativeBinding, 'UdpRelay'>,
    private readonly options: UdpRelayOptions,
  ) {
    super();
    this.label = options.label;
    this.last = emptyUdpStats(options.label);
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
    this.relay?.start();
  }

  stats(): UdpStats {
    const now = this.relay?.stats();
    // After destroy() the counters are gone with the native relay; keep reporting the last reading.
    if (now) this.last = { label: this.label, ...now };
    return this.last;
  }

  activeSessions(): number {
    return this.relay?.activeSessions() ?? 0;
  }

  tryStop(): boolean {
    return this.relay?.tryStop() ?? true;
  }

  resumeAfterTryStop(): void {
    this.relay?.resumeAfterTryStop();
  }

  stopAccepting(): void {
    this.relay?.stopAccepting();
  }

  destroy(): void {
    if (!this.relay) return;
    this.last = { ...this.stats(), sessionsActive: 0 };
    this.relay.destroy();
    this.relay = null;
  }

  exportSessions(): HandoverSession[] {
    return this.relay?.exportSessions() ?? [];
  }

  adoptSessions(sessions: HandoverSession[]): HandoverRefusal[] {
    if (!this.relay) throw new Error(`${this.label}: adoptSessions() after destroy()`);
    return this.relay
      .adoptSessions(sessions)
      .map(({ index, error }) => ({ session: sessions[index]!, error }));
  }

  private dispatch(events: UdpRelayEvent[]): void {
    // Events queued before destroy() may still arrive; nobody should act on them.
    if (!this.relay) return;
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
