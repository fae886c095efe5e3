/**
 * Metrics for the daemon in one call: the registries, the HTTP endpoint(s) and the textfile.
 *
 *   const metrics = createMetrics({ sources, logger, textfile: config.metricsTextfile });
 *   if (config.metricsListen) await metrics.serve({ address: config.metricsListen });
 *   if (metricsFd !== undefined) await metrics.serve({ fd: metricsFd });
 *   …
 *   await metrics.stop(); // before the engine is destroyed: writes the textfile one last time
 *
 * Create it before serving anything: the textfile is read back in createMetrics, so the first
 * scrape already shows the continued counters.
 */
import type { Registry } from 'prom-client';
import { ExitCode, SockrelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { buildRegistries, type MetricsSources } from './registry.js';
import { serveMetrics, type MetricsEndpoint, type MetricsServer } from './server.js';
import { readCarriedOver, TextfileWriter, TEXTFILE_INTERVAL_MS } from './textfile.js';

export type { MetricsSources } from './registry.js';
export type { MetricsEndpoint, MetricsServer } from './server.js';
export { TEXTFILE_INTERVAL_MS } from './textfile.js';

export interface MetricsOptions {
  sources: MetricsSources;
  logger: Logger;
  /** --metrics-textfile: counters continue from it, and it is rewritten periodically and at stop(). */
  textfile?: string | null;
  /** How often the textfile is rewritten (default 15 s). */
  textfileIntervalMs?: number;
  /** prom-client's process_* and nodejs_* metrics on the endpoint (default true). */
  processMetrics?: boolean;
}

export interface Metrics {
  /** What GET /metrics serves: sockrelay_* plus process metrics. */
  readonly registry: Registry;
  /** sockrelay_* only: what the textfile holds. */
  readonly ownRegistry: Registry;
  /** Serves GET /metrics on an address or an already-listening fd; throws StartupError ERR_METRICS_LISTEN. */
  serve(endpoint: MetricsEndpoint): Promise<MetricsServer>;
  /** Writes the textfile now (no-op without one). Never rejects. */
  flush(): Promise<void>;
  /** Writes the textfile a last time and closes every endpoint. Idempotent, never rejects. */
  stop(): Promise<void>;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const { logger } = options;
  const carried = options.textfile ? readCarriedOver(options.textfile, logger) : undefined;
  const { own, served } = buildRegistries(options.sources, logger, {
    ...(carried ? { carried } : {}),
    ...(options.processMetrics === undefined ? {} : { processMetrics: options.processMetrics }),
  });
  const writer = options.textfile
    ? new TextfileWriter(
        options.textfile,
        () => own.metrics(),
        logger,
        options.textfileIntervalMs ?? TEXTFILE_INTERVAL_MS,
      )
    : null;
  writer?.start();
  const servers: MetricsServer[] = [];
  let stopping: Promise<void> | null = null;

  return {
    registry: served,
    ownRegistry: own,
    async serve(endpoint) {
      const stopped = () =>
        new SockrelayError('ERR_METRICS_STOPPED', 'metrics: serve() after stop()', ExitCode.software);
      if (stopping) throw stopped();
      const server = await serveMetrics(endpoint, served, logger);
      if (stopping) {
        await server.close();
        throw stopped();
      }
      servers.push(server);
      return server;
    },
    flush: () => writer?.flush() ?? Promise.resolve(),
    stop: () =>
      (stopping ??= Promise.all([writer?.stop(), ...servers.map((s) => s.close())]).then(() => undefined)),
  };
}
