/** Metrics only when asked for: --metrics-listen, an fd named metrics, or --metrics-textfile. */
import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/index.js';
import type { RoutedSocket } from '../routing.js';
import { streamStats, type DataPlane } from './data-plane.js';

export async function startMetrics(
  config: Config,
  fds: number[],
  plane: DataPlane,
  routed: RoutedSocket[],
  version: string,
  logger: Logger,
): Promise<Metrics | null> {
  if (!config.metricsListen && !config.metricsTextfile && fds.length === 0) return null;
  // Loaded lazily: prom-client is not needed on the path to the first connection.
  const { createMetrics } = await import('../metrics/index.js');
  const metrics = createMetrics({
    sources: {
      version,
      engine: plane.engines.length > 0 ? 'splice' : 'none',
      tcp: () => streamStats(plane),
      udp: () => plane.relays.map((r) => r.stats()),
      backendOf: (label) => routed.find((r) => r.socket.label === label)?.backend.text ?? '',
      connectionsMax: () => plane.engine?.connectionsMax ?? null,
    },
    logger,
    textfile: config.metricsTextfile,
  });
  try {
    const endpoints = [
      ...fds.map((fd) => ({ fd })),
      ...(config.metricsListen ? [{ address: config.metricsListen }] : []),
    ];
    // Said once per endpoint, here only: createMetrics() serves without logging it.
    for (const endpoint of endpoints)
      logger.info({ metrics: (await metrics.serve(endpoint)).where }, 'serving metrics');
  } catch (err) {
    await metrics.stop();
    throw err;
  }
  return metrics;
}
