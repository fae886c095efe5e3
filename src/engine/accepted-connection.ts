/**
 * An Accept=yes socket (inetd style): systemd accepted the client and passes
 * us that one connection. It takes the native engine's own accept path: the
 * engine never accepts (its listeners have no fd: they are these connected
 * sockets' labels and backends), and each client is handed to it as if it had just accepted it, so
 * the backend connect (every address, retries until the deadline) and the
 * PROXY header are the same as for any accepted connection.
 */
import type { NativeBinding } from '../native/binding.js';
import { SpliceEngine } from './splice-engine.js';
import type { Engine, EngineOptions } from './types.js';

/** An engine that relays each client of `options.listeners` (connected sockets it now owns) once started. */
export function relayAcceptedConnections(binding: NativeBinding, options: EngineOptions): Engine {
  const engine = new SpliceEngine(binding, {
    ...options,
    listeners: options.listeners.map((l) => ({ ...l, fd: null })),
  });
  try {
    engine.stopAccepting();
    options.listeners.forEach((client, listener) => engine.adoptClient(listener, client.fd!));
  } catch (err) {
    engine.destroy(); // closes what it adopted
    throw err;
  }
  return engine;
}
