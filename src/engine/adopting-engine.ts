/**
 * A native engine that relays only the connections it is given and never
 * accepts one: the drainer of a handover (connections the fd store had no room
 * for) and the engine of an Accept=yes connection.
 *
 * The native engine accepts on every listener it has, and counts an adopted
 * connection against the listener that accepted it, so this one gets
 * stand-ins: per real listener, a listening abstract unix socket under a random
 * name nobody connects to. Their labels, backends and PROXY settings are the
 * real listeners', so counters and logs read the same. The stand-ins close
 * with the engine.
 */
import { randomUUID } from 'node:crypto';
import type { NativeBinding } from '../native/binding.js';
import { SpliceEngine } from './splice-engine.js';
import type { EngineOptions, HandoverConnection } from './types.js';

class AdoptingEngine extends SpliceEngine {
  constructor(
    private readonly fds: NativeBinding,
    options: EngineOptions,
    private readonly standIns: number[],
  ) {
    super(fds, options);
  }

  override destroy(): void {
    super.destroy();
    for (const fd of this.standIns.splice(0)) this.fds.close(fd);
  }
}

/** An engine relaying `connections` (their `listener` indexes `options.listeners`) once started. */
export function adoptingEngine(
  binding: NativeBinding,
  options: EngineOptions,
  connections: HandoverConnection[],
): SpliceEngine {
  const standIns: number[] = [];
  try {
    for (let i = 0; i < options.listeners.length; i++) {
      const path = `sockrelay-adopt-${process.pid}-${randomUUID()}`;
      standIns.push(
        binding.listenSocket({ family: 'unix', path, abstract: true }, { type: 'stream', backlog: 1 }),
      );
    }
    const listeners = options.listeners.map((l, i) => ({ ...l, fd: standIns[i]! }));
    const engine = new AdoptingEngine(binding, { ...options, listeners }, standIns);
    engine.adoptConnections(connections);
    return engine;
  } catch (err) {
    for (const fd of standIns) binding.close(fd);
    throw err;
  }
}
