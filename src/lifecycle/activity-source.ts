/**
 * What the run loop needs of anything that serves clients: the TCP engine,
 * each UDP relay, the engine of an Accept=yes connection. Each says when it
 * becomes busy or idle, and can stop taking new work atomically. The engine
 * (src/engine/types.ts) and the UDP relay (src/udp/types.ts) are sources
 * themselves.
 */
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
