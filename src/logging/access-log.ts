/**
 * --access-log: one info line per finished connection or UDP session, in the spirit of HAProxy's tcplog:
 *
 *   127.0.0.1:40312 web -> 127.0.0.1:8080 in=5 out=1024 12.3ms eof
 *
 * The same facts ride along as fields (client, listener, backend, bytesIn, bytesOut, durationMs,
 * end) for whoever reads the JSON. `end` is the relays' own close reason (CloseReason in
 * src/native/binding.ts), the same words for TCP and UDP. The engine only produces its per-connection open and close
 * events when asked (EngineOptions.connectionEvents), so with the log off nothing here runs.
 */
import type { Engine } from '../engine/types.js';
import type { Logger } from 'pino';
import type { UdpRelay } from '../udp/index.js';
import { escapeControl } from './one-line.js';

export interface AccessRecord {
  client: string;
  listener: string;
  backend: string;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  end: string;
}

/**
 * The line as `jq -r .msg` or pino-pretty print it. The client (a unix peer's name is whatever it
 * bound) and the listener's name are chosen by others, so they are escaped (one-line.ts); the
 * JSON fields keep them exactly, escaped by JSON itself.
 */
export function formatAccessLine(r: AccessRecord): string {
  const duration =
    r.durationMs >= 1000 ? `${(r.durationMs / 1000).toFixed(3)}s` : `${r.durationMs.toFixed(1)}ms`;
  return escapeControl(
    `${r.client || '-'} ${r.listener} -> ${r.backend || '-'} in=${r.bytesIn} out=${r.bytesOut} ${duration} ${r.end}`,
  );
}

export function logAccess(logger: Logger, record: AccessRecord): void {
  logger.info(record, formatAccessLine(record));
}

/**
 * Pairs each connection's open (which knows the client) with its close (which knows the rest).
 * `backendOf` names the backend a listener label forwards to.
 */
export function logEngineAccess(
  engine: Engine,
  backendOf: (listener: string) => string,
  logger: Logger,
): void {
  const clients = new Map<number, string>();
  engine.on('open', ({ id, peer }) => clients.set(id, peer));
  engine.on('close', (c) => {
    const client = clients.get(c.id) ?? '';
    clients.delete(c.id);
    logAccess(logger, {
      client,
      listener: c.listener,
      backend: backendOf(c.listener),
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      durationMs: Math.round(c.durationMs * 10) / 10,
      end: c.reason,
    });
  });
}

/** A UDP session's line: the client is the session, its end a timeout or a backend error. */
export function logRelayAccess(relay: UdpRelay, logger: Logger): void {
  relay.on('sessionClosed', (s) =>
    logAccess(logger, {
      client: s.client,
      listener: s.label,
      backend: s.backend,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      durationMs: s.durationMs,
      end: s.reason,
    }),
  );
}
