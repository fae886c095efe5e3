/**
 * sockrelay's metrics, built on private registries from what the daemon can read at any time.
 *
 * Nothing here runs while bytes flow. Every value comes from a `stats()` snapshot taken when
 * Prometheus (or the textfile writer) asks; one scrape takes one snapshot of each source, shared
 * by all families, so `accepted`, `active` and the byte counters of one scrape agree.
 *
 * Two registries: `own` holds the sockrelay_* families (what the textfile carries), `served`
 * adds prom-client's process and Node.js metrics for the HTTP endpoint. The textfile leaves
 * those out because node_exporter, which reads it, exports process_* metrics of its own, and a
 * name collision there fails node_exporter's whole scrape.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { EngineStats, HistogramSnapshot, ListenerStats } from '../engine/types.js';
import { errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { UDP_DROP_REASONS, type UdpStats } from '../udp/types.js';
import { CarriedOver } from './carried-over.js';
import type { Labels } from './exposition.js';
import { SnapshotCounter, SnapshotHistogram, type CounterReading } from './snapshot-metrics.js';

/** What the metrics read; the daemon passes closures over its engine and UDP relays. */
export interface MetricsSources {
  /** sockrelay's version, for sockrelay_info. */
  version: string;
  /** The stream engine in use (`splice`, `stream`), or `none` without stream listeners. */
  engine: string;
  /** The stream engine's counters now; null when there is no stream engine. */
  tcp(): EngineStats | null;
  /** One entry per UDP socket served. */
  udp(): UdpStats[];
  /** The backend (as the user wrote it) a listener forwards to, by the listener's label. */
  backendOf(listener: string): string;
  /** The connection cap in force (--connections-max, lowered to fit the fd limit); absent: no stream engine. */
  connectionsMax?(): number | null;
}

export interface SockrelayRegistries {
  /** sockrelay_* only: what the textfile holds. */
  own: Registry;
  /** `own` plus process and Node.js metrics: what GET /metrics serves. */
  served: Registry;
}

export interface RegistryOptions {
  /** Offsets from the previous activation's textfile. */
  carried?: CarriedOver;
  /** prom-client's default process_* and nodejs_* metrics in `served` (default true). */
  processMetrics?: boolean;
}

/**
 * prom-client's defaults include three gauges named `_total`, which promtool rejects (only
 * counters may end in _total); the per-type gauges without the suffix carry the same numbers.
 */
const PROMTOOL_REJECTED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const CONNECT_FAILURE_REASONS = [
  ['refused', 'failedRefused'],
  ['timeout', 'failedTimeout'],
  ['other', 'failedOther'],
] as const;

/**
 * Reads a source at most once per scrape: every family of one `metrics()` call asks within the
 * same synchronous pass, and the cached snapshot is dropped before anything else can run. A
 * source that throws (an engine torn down before the last textfile write) yields its last good
 * snapshot, so a scrape never fails because of it.
 */
function perScrape<T>(read: () => T, fallback: T, onError: (err: unknown) => void): () => T {
  let lastGood = fallback;
  let cached: { value: T } | null = null;
  return () => {
    if (cached) return cached.value;
    try {
      lastGood = read();
    } catch (err) {
      onError(err);
    }
    cached = { value: lastGood };
    queueMicrotask(() => (cached = null));
    return lastGood;
  };
}

export function buildRegistries(
  sources: MetricsSources,
  logger: Logger,
  options: RegistryOptions = {},
): SockrelayRegistries {
  const carried = options.carried ?? CarriedOver.empty();
  const own = new Registry();
  const warned = new Set<string>();
  const warn = (source: string) => (err: unknown) => {
    if (warned.has(source)) return;
    warned.add(source);
    logger.warn({ source, code: errnoCode(err), err }, 'metrics: source failed; serving its last snapshot');
  };
  const tcpStats = perScrape(() => sources.tcp(), null as EngineStats | null, warn('tcp'));
  const tcp = (): ListenerStats[] => tcpStats()?.listeners ?? [];
  const udp = perScrape(() => sources.udp(), [] as UdpStats[], warn('udp'));
  const where = (listener: string): Labels => ({ listener, backend: sources.backendOf(listener) });

  const counter = (name: string, help: string, read: () => CounterReading[]): void => {
    new SnapshotCounter(name, help, read, carried.counter(name)).registerIn(own);
  };
  const histogram = (
    name: string,
    help: string,
    pick: (s: ListenerStats) => HistogramSnapshot | undefined,
  ): void => {
    const read = () =>
      tcp().flatMap((s) => {
        const snapshot = pick(s);
        return snapshot ? [{ labels: where(s.label), snapshot }] : [];
      });
    new SnapshotHistogram(name, help, read, carried.histogram(name)).registerIn(own);
  };
  const gauge = (name: string, help: string, read: () => Array<{ labels: Labels; value: number }>): void => {
    new Gauge({
      name,
      help,
      labelNames: ['listener', 'backend'],
      registers: [own],
      collect() {
        this.reset();
        // inc, not set: two listeners sharing a label add up, as their counters do.
        for (const { labels, value } of read()) this.inc(labels, value);
      },
    });
  };

  counter(
    'sockrelay_activations_total',
    'Times sockrelay started; continues across idle exits when --metrics-textfile is set.',
    () => [{ labels: {}, value: 1 }],
  );
  new Gauge({
    name: 'sockrelay_info',
    help: 'Always 1; labels say which sockrelay and stream engine run.',
    labelNames: ['version', 'engine'],
    registers: [own],
  }).set({ version: sources.version, engine: sources.engine }, 1);

  counter(
    'sockrelay_forwarded_bytes_total',
    'Bytes forwarded, by protocol and direction (client_to_backend, backend_to_client).',
    () => [
      ...tcp().flatMap((s) => directions('tcp', where(s.label), s.bytesIn, s.bytesOut)),
      ...udp().flatMap((s) => directions('udp', where(s.label), s.bytesIn, s.bytesOut)),
    ],
  );
  counter('sockrelay_connections_accepted_total', 'Client connections accepted.', () =>
    tcp().map((s) => ({ labels: where(s.label), value: s.accepted })),
  );
  gauge('sockrelay_connections_active', 'Client connections open now, connecting ones included.', () =>
    tcp().map((s) => ({ labels: where(s.label), value: s.active })),
  );
  new Gauge({
    name: 'sockrelay_connections_max',
    help: 'The connection cap in force: --connections-max, lowered to fit the fd limit.',
    registers: [own],
    collect() {
      const cap = sources.connectionsMax?.() ?? null;
      if (cap === null) this.reset();
      else this.set(cap);
    },
  });
  new Gauge({
    name: 'sockrelay_pipes',
    help: 'Splice pipes of the stream engine: in_use holding bytes in flight, pooled kept empty for the next busy flow.',
    labelNames: ['state'],
    registers: [own],
    collect() {
      this.reset();
      const pipes = tcpStats()?.pipes;
      if (!pipes) return;
      this.set({ state: 'in_use' }, pipes.inUse);
      this.set({ state: 'pooled' }, pipes.pooled);
    },
  });
  counter(
    'sockrelay_connections_failed_total',
    'Client connections closed because no backend connection could be made, by reason.',
    () =>
      tcp().flatMap((s) =>
        CONNECT_FAILURE_REASONS.map(([reason, field]) => ({
          labels: { ...where(s.label), reason },
          value: s[field],
        })),
      ),
  );
  counter(
    'sockrelay_connections_refused_total',
    'Clients reset at accept because their source was over --connections-per-source (per-source) or --connection-rate-per-source (per-source-rate).',
    () =>
      tcp().flatMap((s) => [
        { labels: { ...where(s.label), reason: 'per-source' }, value: s.refusedPerSource },
        { labels: { ...where(s.label), reason: 'per-source-rate' }, value: s.refusedPerSourceRate },
      ]),
  );
  histogram(
    'sockrelay_backend_connect_duration_seconds',
    'Time from accepting a client to a connected backend, for connections that got one.',
    (s) => s.connectSeconds,
  );
  histogram(
    'sockrelay_connection_duration_seconds',
    'Time from accepting a client to closing its connection.',
    (s) => s.durationSeconds,
  );

  counter(
    'sockrelay_udp_datagrams_total',
    'UDP datagrams forwarded, by direction (client_to_backend, backend_to_client).',
    () => udp().flatMap((s) => directions(null, where(s.label), s.datagramsIn, s.datagramsOut)),
  );
  counter('sockrelay_udp_datagrams_dropped_total', 'UDP datagrams dropped, by reason.', () =>
    udp().flatMap((s) =>
      UDP_DROP_REASONS.map((reason) => ({ labels: { ...where(s.label), reason }, value: s.dropped[reason] })),
    ),
  );
  gauge('sockrelay_udp_sessions_active', 'UDP client sessions open now.', () =>
    udp().map((s) => ({ labels: where(s.label), value: s.sessionsActive })),
  );
  counter('sockrelay_udp_sessions_total', 'UDP client sessions opened.', () =>
    udp().map((s) => ({ labels: where(s.label), value: s.sessionsTotal })),
  );
  counter('sockrelay_udp_sessions_timed_out_total', 'UDP client sessions ended by the session timeout.', () =>
    udp().map((s) => ({ labels: where(s.label), value: s.sessionsTimedOut })),
  );

  if (options.processMetrics === false) return { own, served: own };
  const processRegistry = new Registry();
  collectDefaultMetrics({ register: processRegistry });
  for (const name of PROMTOOL_REJECTED_DEFAULTS) processRegistry.removeSingleMetric(name);
  return { own, served: Registry.merge([own, processRegistry]) };
}

function directions(
  protocol: 'tcp' | 'udp' | null,
  labels: Labels,
  toBackend: number | bigint,
  toClient: number | bigint,
): CounterReading[] {
  const base = protocol ? { ...labels, protocol } : labels;
  return [
    { labels: { ...base, direction: 'client_to_backend' }, value: toBackend },
    { labels: { ...base, direction: 'backend_to_client' }, value: toClient },
  ];
}
