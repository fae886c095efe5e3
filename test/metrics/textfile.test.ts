import { mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { on } from 'node:events';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { CONNECT_SECONDS_BOUNDS, DURATION_SECONDS_BOUNDS, type EngineStats } from '../../src/engine/types.js';
import { parseExposition } from '../../src/metrics/exposition.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { TextfileWriter, writeFileAtomically } from '../../src/metrics/textfile.js';
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
  type LogRecord,
} from './helpers.js';
import { has } from '../helpers/requires.js';

const promtool = has('promtool');

const WEB = { listener: 'web', backend: '127.0.0.1:8080' };
const DNS = { listener: 'dns', backend: '127.0.0.1:5353' };

describe('metrics textfile', () => {
  const cleanups = useCleanups();
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sockrelay-textfile-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }
  /** One "activation": a fresh set of metrics over the same file, as a new process would make. */
  function activation(
    textfile: string,
    state: { tcp: EngineStats | null; udp: UdpStats[] },
  ): { metrics: Metrics; records: LogRecord[] } {
    const { logger, records } = recordingLogger();
    const metrics = createMetrics({ sources: fakeSources(state), logger, textfile, processMetrics: false });
    cleanups.push(() => metrics.stop());
    return { metrics, records };
  }

  it.skipIf(!promtool)(
    'continues counters and histograms across activations, and does not carry gauges',
    async () => {
      const path = join(tempDir(), 'sockrelay.prom');
      const first = activation(path, {
        tcp: {
          active: 2,
          listeners: [
            listenerStats('web', {
              bytesIn: 2n ** 32n + 1n,
              bytesOut: 300n,
              accepted: 4,
              active: 2,
              failedRefused: 1,
              connectSeconds: histogram(CONNECT_SECONDS_BOUNDS, [0.001, 0.2]),
              durationSeconds: histogram(DURATION_SECONDS_BOUNDS, [7]),
            }),
          ],
        },
        udp: [udpStats('dns', { bytesIn: 10n, datagramsIn: 1, sessionsTotal: 1, sessionsActive: 1 })],
      });
      // No file yet is every first activation: said at info, not warned about.
      expect(first.records.find((r) => r.level === WARN)).toBeUndefined();
      expect(
        first.records.find((r) => r.msg === 'no metrics textfile yet: counters start from zero'),
      ).toBeDefined();
      await first.metrics.stop();
      expect(promtoolCheck(readFileSync(path, 'utf8'))).toEqual({ status: 0, findings: '' });

      // The second activation serves TCP only: UDP's carried series stay, at their carried values.
      const second = activation(path, {
        tcp: {
          active: 0,
          listeners: [
            listenerStats('web', {
              bytesIn: 5n,
              bytesOut: 6n,
              accepted: 1,
              connectSeconds: histogram(CONNECT_SECONDS_BOUNDS, [0.001]),
              durationSeconds: histogram(DURATION_SECONDS_BOUNDS, []),
            }),
          ],
        },
        udp: [],
      });
      expect(second.records.filter((r) => r.level >= WARN)).toEqual([]);
      const text = await second.metrics.registry.metrics();
      const bytes = (protocol: string, direction: string, where = WEB) =>
        valueOf(text, 'sockrelay_forwarded_bytes_total', { ...where, protocol, direction });
      expect(bytes('tcp', 'client_to_backend')).toBe(2 ** 32 + 1 + 5);
      expect(bytes('tcp', 'backend_to_client')).toBe(306);
      expect(bytes('udp', 'client_to_backend', DNS)).toBe(10);
      expect(valueOf(text, 'sockrelay_activations_total')).toBe(2);
      expect(valueOf(text, 'sockrelay_connections_accepted_total', WEB)).toBe(5);
      expect(valueOf(text, 'sockrelay_connections_failed_total', { ...WEB, reason: 'refused' })).toBe(1);
      expect(valueOf(text, 'sockrelay_udp_sessions_total', DNS)).toBe(1);
      // Gauges describe the running process only.
      expect(valueOf(text, 'sockrelay_connections_active', WEB)).toBe(0);
      expect(valueOf(text, 'sockrelay_udp_sessions_active', DNS)).toBeUndefined();
      const connect = (le: string) =>
        valueOf(text, 'sockrelay_backend_connect_duration_seconds_bucket', { ...WEB, le });
      expect(connect('0.001')).toBe(2);
      expect(connect('0.25')).toBe(3);
      expect(connect('+Inf')).toBe(3);
      expect(valueOf(text, 'sockrelay_backend_connect_duration_seconds_count', WEB)).toBe(3);
      expect(valueOf(text, 'sockrelay_backend_connect_duration_seconds_sum', WEB)).toBeCloseTo(0.202, 12);
      expect(valueOf(text, 'sockrelay_connection_duration_seconds_bucket', { ...WEB, le: '10' })).toBe(1);
      expect(promtoolCheck(text)).toEqual({ status: 0, findings: '' });

      // A third activation continues from what the second wrote, not from the first.
      await second.metrics.stop();
      const third = activation(path, { tcp: { active: 0, listeners: [listenerStats('web')] }, udp: [] });
      const after = await third.metrics.registry.metrics();
      expect(valueOf(after, 'sockrelay_activations_total')).toBe(3);
      expect(
        valueOf(after, 'sockrelay_forwarded_bytes_total', {
          ...WEB,
          protocol: 'tcp',
          direction: 'backend_to_client',
        }),
      ).toBe(306);
    },
  );

  it('holds only sockrelay metrics, so it cannot collide with node_exporter’s own process metrics', async () => {
    const path = join(tempDir(), 'sockrelay.prom');
    const { logger } = recordingLogger();
    const metrics = createMetrics({ sources: fakeSources({ tcp: null, udp: [] }), logger, textfile: path });
    await metrics.stop();
    const names = new Set(parseExposition(readFileSync(path, 'utf8')).samples.map((s) => s.name));
    expect([...names].every((n) => n.startsWith('sockrelay_'))).toBe(true);
    expect(names.has('sockrelay_info')).toBe(true);
  });

  it.each([
    ['garbage', 'this is not {exposition text\n'],
    ['a negative counter', '# TYPE sockrelay_activations_total counter\nsockrelay_activations_total -4\n'],
    ['a NaN counter', '# TYPE sockrelay_activations_total counter\nsockrelay_activations_total NaN\n'],
    ['a bad label', '# TYPE sockrelay_activations_total counter\nsockrelay_activations_total{a="\\x"} 1\n'],
    ['binary', '\u0000\u0001\u0002'],
  ])('starts from zero with a warning on %s, and then replaces the file', async (_what, content) => {
    const path = join(tempDir(), 'sockrelay.prom');
    writeFileSync(path, content);
    const { metrics, records } = activation(path, { tcp: null, udp: [] });
    const warning = records.find((r) => r.level === WARN);
    expect(warning).toMatchObject({ code: 'ERR_METRICS_TEXTFILE_MALFORMED', path });
    expect(valueOf(await metrics.registry.metrics(), 'sockrelay_activations_total')).toBe(1);
    await metrics.flush();
    expect(valueOf(readFileSync(path, 'utf8'), 'sockrelay_activations_total')).toBe(1);
  });

  it('ignores metrics it does not know and comments, and reads labels with escapes', async () => {
    const path = join(tempDir(), 'sockrelay.prom');
    const listener = 'we"ird\\name\nx';
    writeFileSync(
      path,
      [
        '# a comment',
        '# HELP other_total Someone else’s.',
        '# TYPE other_total counter',
        'other_total 5',
        '# TYPE sockrelay_connections_accepted_total counter',
        `sockrelay_connections_accepted_total{backend="b",listener="we\\"ird\\\\name\\nx",} 7 1700000000000`,
        '',
      ].join('\n'),
    );
    const state = { tcp: { active: 0, listeners: [listenerStats(listener, { accepted: 1 })] }, udp: [] };
    const { logger, records } = recordingLogger();
    const metrics = createMetrics({
      logger,
      processMetrics: false,
      textfile: path,
      sources: { ...fakeSources(state), backendOf: () => 'b' },
    });
    cleanups.push(() => metrics.stop());
    expect(records.filter((r) => r.level >= WARN)).toEqual([]);
    const text = await metrics.registry.metrics();
    expect(valueOf(text, 'sockrelay_connections_accepted_total', { listener })).toBe(8);
    expect(text).not.toContain('other_total');
  });

  it.skipIf(!promtool)(
    'starts a carried histogram from zero when its buckets changed between versions',
    async () => {
      const path = join(tempDir(), 'sockrelay.prom');
      const name = 'sockrelay_connection_duration_seconds';
      writeFileSync(
        path,
        [
          `# TYPE ${name} histogram`,
          `${name}_bucket{listener="web",backend="127.0.0.1:8080",le="1"} 4`,
          `${name}_bucket{listener="web",backend="127.0.0.1:8080",le="+Inf"} 5`,
          `${name}_sum{listener="web",backend="127.0.0.1:8080"} 9`,
          `${name}_count{listener="web",backend="127.0.0.1:8080"} 5`,
          '',
        ].join('\n'),
      );
      const state = {
        tcp: {
          active: 0,
          listeners: [listenerStats('web', { durationSeconds: histogram(DURATION_SECONDS_BOUNDS, [2]) })],
        },
        udp: [],
      };
      const text = await activation(path, state).metrics.registry.metrics();
      expect(valueOf(text, `${name}_count`, WEB)).toBe(1);
      expect(valueOf(text, `${name}_bucket`, { ...WEB, le: '5' })).toBe(1);
      expect(promtoolCheck(text)).toEqual({ status: 0, findings: '' });
    },
  );

  it('rewrites the file on every interval, with the values of the moment, not only at start and stop', async () => {
    const dir = tempDir();
    const path = join(dir, 'sockrelay.prom');
    const state = { tcp: { active: 0, listeners: [listenerStats('web', { bytesIn: 1n })] }, udp: [] };
    const { logger } = recordingLogger();
    // Every rewrite renames a new file into the directory: each one is an event here, no polling.
    const watcher = watch(dir);
    cleanups.push(() => watcher.close());
    const changes = on(watcher, 'change');
    const metrics = createMetrics({
      sources: fakeSources(state),
      logger,
      textfile: path,
      textfileIntervalMs: 20,
    });
    cleanups.push(() => metrics.stop());
    const bytes = async () => {
      try {
        const text = await readFile(path, 'utf8');
        return valueOf(text, 'sockrelay_forwarded_bytes_total', { ...WEB, direction: 'client_to_backend' });
      } catch {
        return undefined;
      }
    };
    // Three values, each set once the file showed the one before: three rewrites at least, by the
    // timer alone (stop() never runs before the end), each reading the sources anew.
    for (const value of [12345, 23456, 34567]) {
      state.tcp.listeners[0]!.bytesIn = BigInt(value);
      let events = 0;
      while ((await bytes()) !== value) {
        // A rewrite is a handful of directory events; hundreds without the value means it is stale.
        expect(++events, `file still without ${value}`).toBeLessThan(400);
        await changes.next();
      }
    }
  });

  it('replaces the file atomically: a concurrent reader only ever sees whole versions', async () => {
    const dir = tempDir();
    const path = join(dir, 'sockrelay.prom');
    // Big enough that writing in place would be seen half done.
    const version = (n: number) => `# version ${n}\n${'x'.repeat(4 * 1024 * 1024)}\n# end ${n}\n`;
    await writeFileAtomically(path, version(0));
    let writing = true;
    const reads: string[] = [];
    const reader = (async () => {
      while (writing) reads.push(await readFile(path, 'utf8'));
    })();
    for (let n = 1; n <= 20; n++) await writeFileAtomically(path, version(n));
    writing = false;
    await reader;
    expect(reads.length).toBeGreaterThan(0);
    for (const text of reads) {
      const n = Number(/^# version (\d+)\n/.exec(text)?.[1]);
      expect(text).toBe(version(n));
    }
    // No temporary file left behind, and none ever named so that node_exporter would read it.
    expect(readdirSync(dir)).toEqual(['sockrelay.prom']);
  });

  it('keeps the old file and logs when a write fails', async () => {
    const dir = tempDir();
    const path = join(dir, 'sockrelay.prom');
    writeFileSync(path, 'old\n');
    const { logger, records } = recordingLogger();
    let fail = true;
    const writer = new TextfileWriter(
      path,
      async () => {
        if (fail) throw Object.assign(new Error('no'), { code: 'ENOSPC' });
        return 'new\n';
      },
      logger,
    );
    await writer.flush();
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(records.find((r) => r.level === WARN)).toMatchObject({ code: 'ENOSPC', path });
    fail = false;
    await writer.stop();
    expect(readFileSync(path, 'utf8')).toBe('new\n');
    expect(readdirSync(dir)).toEqual(['sockrelay.prom']);
  });

  it('logs and goes on when the directory does not exist', async () => {
    const path = join(tempDir(), 'missing', 'sockrelay.prom');
    const { metrics, records } = activation(path, { tcp: null, udp: [] });
    await metrics.stop();
    // Reading finds nothing yet (info); writing into a directory that is not there is the warning.
    expect(records.filter((r) => r.level === WARN).map((r) => r.code)).toEqual(['ENOENT']);
  });
});
