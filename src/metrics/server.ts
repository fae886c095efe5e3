/**
 * GET /metrics over node:http, on an address of our own (--metrics-listen) or on a listening
 * socket systemd handed over (the fd named `metrics`).
 *
 * A scrape must never keep sockrelay running: the idle monitor knows nothing of this server, the
 * listening handle and every accepted connection are unref'd (a Prometheus keep-alive
 * connection would otherwise hold the event loop), and close() drops idle keep-alive
 * connections at once and gives a scrape in flight a moment before cutting it.
 */
import { once } from 'node:events';
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AddressSpec } from '../config/address.js';
import { StartupError, errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { coalesce, guardScrapeServer, SCRAPE_SERVER_OPTIONS } from './scrape-guard.js';

export type MetricsEndpoint = { address: AddressSpec } | { fd: number };

export interface MetricsServer {
  /** Where it listens, for logs: `127.0.0.1:9464`, `[::1]:9464`, `/run/sockrelay.sock`, `fd 5`. */
  readonly where: string;
  /** The bound TCP port, or null on a unix socket. */
  readonly port: number | null;
  /** Stops listening and closes scrape connections; resolves when all are gone. */
  close(): Promise<void>;
}

/** How long close() lets a scrape in flight finish before cutting its connection. */
const CLOSE_GRACE_MS = 1000;

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
}

function handler(registry: Registry, logger: Logger) {
  const scrape = coalesce(() => registry.metrics());
  return (req: IncomingMessage, res: ServerResponse): void => {
    // Closed by the scrape guard (too many requests pipelined): nothing to answer.
    if (req.socket.destroyed) return;
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET' || path !== '/metrics') return notFound(res);
    scrape().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      (err: unknown) => {
        logger.warn({ code: errnoCode(err), err }, 'metrics: scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  };
}

/** A socket file left by a run that did not close it, which nobody listens on, may be replaced. */
async function removeStaleSocketFile(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const refused = await new Promise<boolean>((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => (probe.destroy(), resolve(false)));
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
  if (refused) unlinkSync(path);
  return refused;
}

function describeEndpoint(endpoint: MetricsEndpoint, bound: string | AddressInfo | null): string {
  if ('fd' in endpoint) return `fd ${endpoint.fd}`;
  if (bound && typeof bound === 'object') {
    return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  }
  return endpoint.address.text;
}

export async function serveMetrics(
  endpoint: MetricsEndpoint,
  registry: Registry,
  logger: Logger,
): Promise<MetricsServer> {
  const server = createServer(SCRAPE_SERVER_OPTIONS, handler(registry, logger));
  guardScrapeServer(server);
  server.on('connection', (socket) => socket.unref());
  server.on('clientError', (_err, socket) => socket.destroy());

  const listen = async (): Promise<void> => {
    const listening = once(server, 'listening');
    if ('fd' in endpoint) server.listen({ fd: endpoint.fd });
    else if (endpoint.address.kind === 'inet') {
      server.listen({ host: endpoint.address.host, port: endpoint.address.port });
    } else {
      const { path, abstract } = endpoint.address;
      server.listen({ path: abstract ? `\0${path}` : path });
    }
    // `once` rejects on 'error', which is what a failed listen emits.
    await listening;
  };
  try {
    try {
      await listen();
    } catch (err) {
      const spec = 'address' in endpoint ? endpoint.address : null;
      const retry =
        errnoCode(err) === 'EADDRINUSE' &&
        spec?.kind === 'unix' &&
        !spec.abstract &&
        (await removeStaleSocketFile(spec.path));
      if (!retry) throw err;
      await listen();
    }
  } catch (err) {
    const what = 'fd' in endpoint ? `fd ${endpoint.fd}` : endpoint.address.text;
    throw new StartupError('ERR_METRICS_LISTEN', `metrics: cannot listen on ${what} (${errnoCode(err)})`, {
      cause: err,
    });
  }
  server.unref();

  const bound = server.address();
  const where = describeEndpoint(endpoint, bound);
  let closing: Promise<void> | null = null;
  return {
    where,
    port: bound && typeof bound === 'object' ? bound.port : null,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}
