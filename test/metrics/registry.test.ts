import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { CONNECT_SECONDS_BOUNDS, DURATION_SECONDS_BOUNDS, type EngineStats } from '../../src/engine/types.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import type { UdpStats } from '../../src/udp/types.js';
import {
  fakeSources,
  histogram,
  listenerStats,
  promtoolCheck,
  recordingLogger,
  udpStats,
  valueOf,
  WARN,
} from './helpers.js';
import { has } from '../helpers/requires.js';

const promtool = has('promtool');

const TCP = { listener: 'web', backend: '127.0.0.1:8080', protocol: 'tcp' };
const UDP = { listener: 'dns', backend: '127.0.0.1:5353', protocol: 'udp' };
const toBackend = { direction: 'client_to_backend' };
const toClient = { direction: 'backend_to_client' };

describe('metrics registry', () => {
  const cleanups = useCleanups();
  function metricsOver(state: { tcp: EngineStats | null; udp: UdpStats[] }, processMetrics = true): Metrics {
    const { logger } = recordingLogger();
    const metrics = createMetrics({ sources: fakeSources(state), logger, processMetrics });
    cleanups.push(() => metrics.stop());
    return metrics;
  }

  it('counts forwarded bytes exactly as the engines report them, past 2^32, both ways, TCP and UDP', async () => {
    const state = {
      tcp: {
        active: 1,
        listeners: [
          listenerStats('web', { bytesIn: 2n ** 32n + 7n, bytesOut: 5_000_000_000_123n, active: 1 }),
        ],
      },
      udp: [
        udpStats('dns', {
          bytesIn: 2n ** 33n + 1n,
          bytesOut: 3n,
          datagramsIn: 4_294_967_297,
          datagramsOut: 2,
        }),
      ],
    };
    const text = await metricsOver(state).registry.metrics();
    const bytes = (labels: Record<string, string>) =>
      BigInt(valueOf(text, 'sockrelay_forwarded_bytes_total', labels)!);
    expect(bytes({ ...TCP, ...toBackend })).toBe(2n ** 32n + 7n);
    expect(bytes({ ...TCP, ...toClient })).toBe(5_000_000_000_123n);
    expect(bytes({ ...UDP, ...toBackend })).toBe(2n ** 33n + 1n);
    expect(bytes({ ...UDP, ...toClient })).toBe(3n);
    // Printed as plain integers, not in exponent notation.
    expect(text).toContain(
      'sockrelay_forwarded_bytes_total{listener="web",backend="127.0.0.1:8080",protocol="tcp",direction="client_to_backend"} 4294967303\n',
    );
    const datagrams = { listener: 'dns', backend: '127.0.0.1:5353' };
    expect(valueOf(text, 'sockrelay_udp_datagrams_total', { ...datagrams, ...toBackend })).toBe(
      4_294_967_297,
    );
    expect(valueOf(text, 'sockrelay_udp_datagrams_total', { ...datagrams, ...toClient })).toBe(2);
  });

  it('reads each source once per scrape and never between scrapes', async () => {
    const calls = { tcp: 0, udp: 0 };
    const state = { tcp: { active: 0, listeners: [listenerStats('web')] }, udp: [udpStats('dns')] };
    const sources = fakeSources(state);
    const { logger } = recordingLogger();
    const metrics = createMetrics({
      logger,
      sources: {
        ...sources,
        tcp: () => (calls.tcp++, sources.tcp()),
        udp: () => (calls.udp++, sources.udp()),
      },
    });
    cleanups.push(() => metrics.stop());
    expect(calls).toEqual({ tcp: 0, udp: 0 });
    await metrics.registry.metrics();
    expect(calls).toEqual({ tcp: 1, udp: 1 });
    await metrics.registry.metrics();
    expect(calls).toEqual({ tcp: 2, udp: 2 });
  });

  it('follows the sources from scrape to scrape: connections, failures by reason, active gauge', async () => {
    const web = listenerStats('web', { accepted: 5, active: 2, failedRefused: 1 });
    const state = { tcp: { active: 2, listeners: [web] }, udp: [] };
    const metrics = metricsOver(state);
    const where = { listener: 'web', backend: '127.0.0.1:8080' };
    let text = await metrics.registry.metrics();
    expect(valueOf(text, 'sockrelay_connections_accepted_total', where)).toBe(5);
    expect(valueOf(text, 'sockrelay_connections_active', where)).toBe(2);
    expect(valueOf(text, 'sockrelay_connections_failed_total', { ...where, reason: 'refused' })).toBe(1);
    // Reasons not seen yet are there as zeros, so rate() and alerts have a series from the start.
    expect(valueOf(text, 'sockrelay_connections_failed_total', { ...where, reason: 'timeout' })).toBe(0);
    expect(valueOf(text, 'sockrelay_connections_failed_total', { ...where, reason: 'other' })).toBe(0);

    state.tcp.listeners = [{ ...web, accepted: 9, active: 0, failedTimeout: 3 }];
    text = await metrics.registry.metrics();
    expect(valueOf(text, 'sockrelay_connections_accepted_total', where)).toBe(9);
    expect(valueOf(text, 'sockrelay_connections_active', where)).toBe(0);
    expect(valueOf(text, 'sockrelay_connections_failed_total', { ...where, reason: 'timeout' })).toBe(3);
  });

  it('turns histogram snapshots into cumulative buckets with +Inf equal to the count', async () => {
    const connect = [0.0003, 0.002, 0.002, 0.7, 100];
    const state = {
      tcp: {
        active: 0,
        listeners: [
          listenerStats('web', {
            connectSeconds: histogram(CONNECT_SECONDS_BOUNDS, connect),
            durationSeconds: histogram(DURATION_SECONDS_BOUNDS, [2, 4]),
          }),
        ],
      },
      udp: [],
    };
    const text = await metricsOver(state).registry.metrics();
    const where = { listener: 'web', backend: '127.0.0.1:8080' };
    const bucket = (le: string) =>
      valueOf(text, 'sockrelay_backend_connect_duration_seconds_bucket', { ...where, le });
    expect(bucket('0.0005')).toBe(1);
    expect(bucket('0.001')).toBe(1);
    expect(bucket('0.0025')).toBe(3);
    expect(bucket('1')).toBe(4);
    expect(bucket('60')).toBe(4);
    expect(bucket('+Inf')).toBe(5);
    expect(valueOf(text, 'sockrelay_backend_connect_duration_seconds_count', where)).toBe(5);
    expect(valueOf(text, 'sockrelay_backend_connect_duration_seconds_sum', where)).toBeCloseTo(100.7043, 9);
    expect(valueOf(text, 'sockrelay_connection_duration_seconds_bucket', { ...where, le: '5' })).toBe(2);
    expect(valueOf(text, 'sockrelay_connection_duration_seconds_bucket', { ...where, le: '1' })).toBe(0);
  });

  it('leaves out histograms an engine does not keep', async () => {
    const web = { ...listenerStats('web'), connectSeconds: undefined, durationSeconds: undefined };
    const text = await metricsOver({ tcp: { active: 0, listeners: [web] }, udp: [] }).registry.metrics();
    expect(text).toContain('# TYPE sockrelay_backend_connect_duration_seconds histogram');
    expect(text).not.toContain('sockrelay_backend_connect_duration_seconds_bucket');
  });

  it('sums two listeners that share a label into one series', async () => {
    const listeners = [
      listenerStats('web', { accepted: 2, active: 1, bytesIn: 10n }),
      listenerStats('web', { accepted: 3, active: 2, bytesIn: 20n }),
    ];
    const text = await metricsOver({ tcp: { active: 3, listeners }, udp: [] }).registry.metrics();
    expect(valueOf(text, 'sockrelay_connections_accepted_total', { listener: 'web' })).toBe(5);
    expect(valueOf(text, 'sockrelay_connections_active', { listener: 'web' })).toBe(3);
    expect(valueOf(text, 'sockrelay_forwarded_bytes_total', { ...TCP, ...toBackend })).toBe(30);
  });

  it('counts UDP sessions and drops by reason, every reason present', async () => {
    const dns = udpStats('dns', { sessionsActive: 2, sessionsTotal: 7, sessionsTimedOut: 5 });
    dns.dropped['sessions-max'] = 4;
    const text = await metricsOver({ tcp: null, udp: [dns] }).registry.metrics();
    const where = { listener: 'dns', backend: '127.0.0.1:5353' };
    expect(valueOf(text, 'sockrelay_udp_sessions_active', where)).toBe(2);
    expect(valueOf(text, 'sockrelay_udp_sessions_total', where)).toBe(7);
    expect(valueOf(text, 'sockrelay_udp_sessions_timed_out_total', where)).toBe(5);
    expect(valueOf(text, 'sockrelay_udp_datagrams_dropped_total', { ...where, reason: 'sessions-max' })).toBe(
      4,
    );
    for (const reason of ['backend-error', 'unbound-client', 'truncated', 'send-failed']) {
      expect(valueOf(text, 'sockrelay_udp_datagrams_dropped_total', { ...where, reason })).toBe(0);
    }
  });

  it('says which version and engine run, and counts this activation', async () => {
    const text = await metricsOver({ tcp: null, udp: [] }).registry.metrics();
    expect(valueOf(text, 'sockrelay_info', { version: '0.1.0-test', engine: 'splice' })).toBe(1);
    expect(valueOf(text, 'sockrelay_activations_total')).toBe(1);
  });

  it('serves the last good snapshot when a source throws, and warns once', async () => {
    const state = { tcp: { active: 0, listeners: [listenerStats('web', { bytesIn: 42n })] }, udp: [] };
    const { logger, records } = recordingLogger();
    let broken = false;
    const sources = fakeSources(state);
    const metrics = createMetrics({
      logger,
      sources: {
        ...sources,
        tcp: () => {
          if (broken) throw Object.assign(new Error('engine destroyed'), { code: 'ERR_DESTROYED' });
          return sources.tcp();
        },
      },
    });
    cleanups.push(() => metrics.stop());
    await metrics.registry.metrics();
    broken = true;
    for (let i = 0; i < 3; i++) {
      const text = await metrics.registry.metrics();
      expect(valueOf(text, 'sockrelay_forwarded_bytes_total', { ...TCP, ...toBackend })).toBe(42);
    }
    const warnings = records.filter((r) => r.level === WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ source: 'tcp', code: 'ERR_DESTROYED' });
  });

  it.skipIf(!promtool)('passes promtool check metrics, process metrics included', async () => {
    const dns = udpStats('dns', { bytesIn: 5n, datagramsIn: 1, sessionsTotal: 1 });
    const state = {
      tcp: {
        active: 1,
        listeners: [
          listenerStats('web', {
            bytesIn: 2n ** 40n,
            accepted: 1,
            active: 1,
            connectSeconds: histogram(CONNECT_SECONDS_BOUNDS, [0.001]),
          }),
          listenerStats('[::1]:8443', { failedOther: 1 }),
        ],
      },
      udp: [dns],
    };
    const metrics = metricsOver(state);
    const served = await metrics.registry.metrics();
    expect(served).toContain('process_cpu_seconds_total');
    expect(served).toContain('nodejs_heap_size_used_bytes');
    expect(promtoolCheck(served)).toEqual({ status: 0, findings: '' });
    const own = await metrics.ownRegistry.metrics();
    expect(own).not.toContain('process_');
    expect(promtoolCheck(own)).toEqual({ status: 0, findings: '' });
  });
});
