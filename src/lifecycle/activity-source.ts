/**
 * What the run loop needs of anything that serves clients: the TCP engine,
 * each UDP relay, the engine of an Accept=yes connection. Each says when it
 * becomes busy or idle, and can stop taking new work atomically.
 */
import type { Engine } from '../engine/types.js';
import type { UdpRelay } from '../udp/types.js';

export interface ActivitySource {
  /** For logs and the idle monitor: 'tcp', 'udp:<label>', … */
  readonly id: string;
  start(): void;
  /** Connections or sessions open now. */
  active(): number;
  /** Atomically stop taking new clients if nothing is open; true when stopped. */
  tryStop(): boolean;
  /** Undoes a tryStop() that returned true: the idle exit stops every source or none. */
  resumeAfterTryStop(): void;
  stopAccepting(): void;
  destroy(): void;
  onBusy(listener: () => void): void;
  onIdle(listener: () => void): void;
}

export function engineSource(engine: Engine, id = 'tcp'): ActivitySource {
  return {
    id,
    start: () => engine.start(),
    active: () => engine.active(),
    tryStop: () => engine.tryStop(),
    resumeAfterTryStop: () => engine.resumeAfterTryStop(),
    stopAccepting: () => engine.stopAccepting(),
    destroy: () => engine.destroy(),
    onBusy: (listener) => void engine.on('busy', listener),
    onIdle: (listener) => void engine.on('idle', listener),
  };
}

export function udpSource(relay: UdpRelay): ActivitySource {
  return {
    id: `udp:${relay.label}`,
    start: () => relay.start(),
    active: () => relay.activeSessions(),
    tryStop: () => relay.tryStop(),
    resumeAfterTryStop: () => relay.resumeAfterTryStop(),
    stopAccepting: () => relay.stopAccepting(),
    destroy: () => relay.destroy(),
    onBusy: (listener) => void relay.on('busy', listener),
    onIdle: (listener) => void relay.on('idle', listener),
  };
}
