/**
 * A native engine that relays only the connections it is given and never
 * accepts one: the drainer of a handover (connections the fd store had no room
 * for). It has the real listeners, so counters and logs read the same, but
 * stops accepting before it starts and so never watches them.
 */
import type { NativeBinding } from '../native/binding.js';
import { SpliceEngine } from './splice-engine.js';
import type { EngineOptions, HandoverConnection } from './types.js';

/** An engine relaying `connections` (their `listener` indexes `options.listeners`) once started. */
export function adoptingEngine(
  binding: NativeBinding,
  options: EngineOptions,
  connections: HandoverConnection[],
): SpliceEngine {
  const engine = new SpliceEngine(binding, options);
  engine.stopAccepting();
  engine.adoptConnections(connections);
  return engine;
}
