/**
 * An Accept=yes socket (inetd style): systemd accepted the client and passes
 * us that one connection. We connect its backend, write the PROXY header when
 * the route asks for one, and hand both sockets to a native engine that only
 * relays (adopting-engine.ts): the same path a handed-over connection takes.
 */
import { writeSync } from 'node:fs';
import { BackendConnectError, connectBackend } from '../backend/connect.js';
import type { Logger } from '../logger.js';
import type { NativeBinding } from '../native/binding.js';
import { encodeHeader } from '../proxy-protocol/encode.js';
import { streamFlow } from '../proxy-protocol/stream-flow.js';
import { adoptingEngine } from './adopting-engine.js';
import type { Engine, EngineListener, EngineOptions, HandoverConnection } from './types.js';

/** Connects the backend of one accepted client; null (client closed, failure logged) when it cannot. */
async function connectAccepted(
  binding: NativeBinding,
  client: EngineListener,
  connectTimeoutMs: number,
  logger: Logger,
): Promise<number | null> {
  let backendFd: number | null = null;
  try {
    backendFd = await connectBackend(client.backend.addresses, connectTimeoutMs, binding);
    if (client.proxyProtocol) {
      const header = encodeHeader(client.proxyProtocol, streamFlow(binding.fdinfo(client.fd)));
      // A socket that has just connected has room for a few hundred bytes: one write is all of it.
      if (writeSync(backendFd, header) !== header.length) throw new Error('PROXY header write was short');
    }
    return backendFd;
  } catch (err) {
    const code =
      err instanceof BackendConnectError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EIO');
    logger.warn({ listener: client.label, backend: client.backend.spec, code }, 'backend connect failed');
    if (backendFd !== null) binding.close(backendFd);
    binding.close(client.fd);
    return null;
  }
}

/** The engine relaying every accepted client whose backend connected; null when none did. */
export async function relayAcceptedConnections(
  binding: NativeBinding,
  options: EngineOptions,
  logger: Logger,
): Promise<Engine | null> {
  const connections: HandoverConnection[] = [];
  for (const [listener, client] of options.listeners.entries()) {
    const backendFd = await connectAccepted(binding, client, options.connectTimeoutMs, logger);
    if (backendFd !== null)
      connections.push({ listener, clientFd: client.fd, backendFd, bytesIn: 0n, bytesOut: 0n });
  }
  return connections.length > 0 ? adoptingEngine(binding, options, connections) : null;
}
