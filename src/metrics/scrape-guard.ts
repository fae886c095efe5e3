/**
 * Bounds on what clients of the metrics endpoint can make sockrelay hold. Every answer is a whole
 * scrape (tens of KB), so a client that pipelines requests and never reads the answers used to
 * queue a scrape per request: one local client could grow the proxy by hundreds of MB in seconds
 * and get it OOM-killed. Now:
 * - a connection with more than PIPELINED_MAX answers pending is closed (Prometheus sends one
 *   request at a time and waits);
 * - scrapes asked for while one is being built share it, so a burst costs one scrape;
 * - connections are capped, and slow or stalled ones time out (headers, request, inactivity);
 * - request headers are small: nothing here needs more than a few hundred bytes.
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { METRICS_CONNECTIONS_MAX } from '../config/limits.js';

/** Answers pending on one connection past which it is closed. */
export const PIPELINED_MAX = 4;
/** Scrape connections at once; more are closed as they arrive. Part of the process's fd budget. */
export const CONNECTIONS_MAX = METRICS_CONNECTIONS_MAX;
/** A connection that neither sends nor takes a byte for this long is closed (a stalled reader). */
const INACTIVITY_TIMEOUT_MS = 30_000;

export const SCRAPE_SERVER_OPTIONS: ServerOptions = {
  maxHeaderSize: 8 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 10_000,
  // How often Node enforces the two timeouts above (default 30 s, which would triple them).
  connectionsCheckingInterval: 1000,
};

/** Caps connections, closes idle-stalled ones, and closes a connection that pipelines too much. */
export function guardScrapeServer(server: Server): void {
  server.maxConnections = CONNECTIONS_MAX;
  server.maxHeadersCount = 32;
  // With no 'timeout' listener, node:http destroys the socket when this fires.
  server.setTimeout(INACTIVITY_TIMEOUT_MS);
  const pending = new WeakMap<Socket, number>();
  // Prepended, so the handler finds the socket already destroyed and does not scrape for it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const count = (pending.get(socket) ?? 0) + 1;
    pending.set(socket, count);
    if (count > PIPELINED_MAX) {
      socket.destroy();
      return;
    }
    res.once('close', () => pending.set(socket, (pending.get(socket) ?? 1) - 1));
  });
}

/** Calls `scrape` at most once at a time: callers meanwhile share the one in flight. */
export function coalesce<T>(scrape: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () =>
    (inFlight ??= scrape().finally(() => {
      inFlight = null;
    }));
}
