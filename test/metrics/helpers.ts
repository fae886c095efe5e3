/**
 * Fake sources (plain data, as the engines' stats() would return it), a logger whose lines a
 * test can read, scrapes over real HTTP, and promtool as the judge of the exposition format.
 */
import { spawnSync } from 'node:child_process';
import { request, type Agent } from 'node:http';
import { pino } from 'pino';
import {
  CONNECT_SECONDS_BOUNDS,
  DURATION_SECONDS_BOUNDS,
  type EngineStats,
  type HistogramSnapshot,
  type ListenerStats,
} from '../../src/engine/types.js';
import type { Logger } from '../../src/logger.js';
import type { MetricsSources } from '../../src/metrics/index.js';
import { emptyUdpStats, type UdpStats } from '../../src/udp/types.js';
import { parseExposition, type Labels } from '../../src/metrics/exposition.js';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function recordingLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

export const WARN = 40;

export function histogram(bounds: readonly number[], observations: number[]): HistogramSnapshot {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const seconds of observations) {
    const i = bounds.findIndex((b) => seconds <= b);
    counts[i < 0 ? bounds.length : i]!++;
  }
  return { bounds, counts, sum: observations.reduce((a, b) => a + b, 0), count: observations.length };
}

export function listenerStats(label: string, fields: Partial<ListenerStats> = {}): ListenerStats {
  return {
    label,
    bytesIn: 0n,
    bytesOut: 0n,
    accepted: 0,
    active: 0,
    failedRefused: 0,
    failedTimeout: 0,
    failedOther: 0,
    refusedPerSource: 0,
    refusedPerSourceRate: 0,
    connectSeconds: histogram(CONNECT_SECONDS_BOUNDS, []),
    durationSeconds: histogram(DURATION_SECONDS_BOUNDS, []),
    ...fields,
  };
}

export function udpStats(label: string, fields: Partial<UdpStats> = {}): UdpStats {
  return { ...emptyUdpStats(label), ...fields };
}

/** Sources over mutable state: a test changes `state` and scrapes again. */
export function fakeSources(state: { tcp: EngineStats | null; udp: UdpStats[] }): MetricsSources {
  return {
    version: '0.1.0-test',
    engine: 'splice',
    tcp: () => state.tcp,
    udp: () => state.udp,
    backendOf: (listener) => (listener.startsWith('dns') ? '127.0.0.1:5353' : '127.0.0.1:8080'),
  };
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request on 127.0.0.1, bounded in time. */
export function httpGet(
  port: number,
  path = '/metrics',
  options: { method?: string; agent?: Agent } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: options.agent, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The value of the one sample named `name` whose labels include `labels`. */
export function valueOf(text: string, name: string, labels: Labels = {}): number | undefined {
  const matches = parseExposition(text).samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length > 1)
    throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** promtool's findings on an exposition text: '' when it has none. */
export function promtoolCheck(text: string): { status: number | null; findings: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10_000 });
  if (run.error) throw new Error(`promtool not runnable (Debian package prometheus): ${run.error.message}`);
  return { status: run.status, findings: `${run.stdout}${run.stderr}`.trim() };
}
