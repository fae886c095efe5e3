/**
 * A native engine that relays only the connections it is given and never
 * accepts one: the drainer of a handover (connections the fd store had no room
 * for). It has the real listeners, so counters and logs read the same, but
 * stops accepting before it starts and so never watches them.
 */
import type { NativeBinding } from '../native/binding.js';
import { SpliceEngine } from './splice-engine.js';
import { handedFds, type EngineOptions, type HandoverConnection } from './types.js';

/**
 * An engine relaying `connections` (their `listener` indexes `options.listeners`) once started. The
 * fds are this function's from the call on, as they are the addon's: when it throws, it has closed
 * every one of them.
 */
export function adoptingEngine(
  binding: NativeBinding,
  options: EngineOptions,
  connections: HandoverConnection[],
): SpliceEngine {
  let engine: SpliceEngine;
  try {
    engine = new SpliceEngine(binding, options);
  } catch (err) {
    for (const c of connections) for (const fd of handedFds(c)) binding.close(fd);
    throw err;
  }
  engine.stopAccepting();
  try {
    engine.adoptConnections(connections);
  } catch (err) {
    engine.destroy(); // resets what it adopted; the refused fds are closed already
    throw err;
  }
  return engine;
}
