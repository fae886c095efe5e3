import { spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { parseAddress } from '../../src/config/address.js';
import { createMetrics, type Metrics } from '../../src/metrics/index.js';
import { loadNative } from '../../src/native/binding.js';
import { fakeSources, httpGet, listenerStats, promtoolCheck, recordingLogger, valueOf } from './helpers.js';
import { has } from '../helpers/requires.js';

const promtool = has('promtool');

const native = loadNative().binding;
const LOOPBACK = parseAddress('127.0.0.1:0', '--metrics-listen', { allowPortZero: true });

describe('metrics server', () => {
  const cleanups = useCleanups();
  function metrics(): Metrics {
    const state = {
      tcp: { active: 0, listeners: [listenerStats('web', { bytesOut: 6_000_000_000n })] },
      udp: [],
    };
    const m = createMetrics({ sources: fakeSources(state), logger: recordingLogger().logger });
    cleanups.push(() => m.stop());
    return m;
  }
  /** The server side of each scrape connection made to `port`, as its first request arrives. */
  function serverSidesOf(port: number): Socket[] {
    const sockets: Socket[] = [];
    const onRequest = (message: unknown) => {
      const { socket } = message as { socket: Socket };
      if (socket.localPort === port) sockets.push(socket);
    };
    subscribe('http.server.request.start', onRequest);
    cleanups.push(() => unsubscribe('http.server.request.start', onRequest));
    return sockets;
  }

  it.skipIf(!promtool)(
    'answers GET /metrics in the Prometheus text format, which promtool accepts',
    async () => {
      const server = await metrics().serve({ address: LOOPBACK });
      const res = await httpGet(server.port!);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(
        valueOf(res.body, 'sockrelay_forwarded_bytes_total', {
          listener: 'web',
          direction: 'backend_to_client',
        }),
      ).toBe(6_000_000_000);
      expect(promtoolCheck(res.body)).toEqual({ status: 0, findings: '' });
      // Prometheus may add query parameters from its scrape config; the path is what counts.
      expect((await httpGet(server.port!, '/metrics?module=x')).status).toBe(200);
    },
  );

  it.each([
    ['GET', '/'],
    ['GET', '/metrics/'],
    ['GET', '/metricsx'],
    ['GET', '/favicon.ico'],
    ['POST', '/metrics'],
    ['PUT', '/metrics'],
    ['HEAD', '/metrics'],
  ])('answers %s %s with 404', async (method, path) => {
    const server = await metrics().serve({ address: LOOPBACK });
    const res = await httpGet(server.port!, path, { method });
    expect(res.status).toBe(404);
  });

  it('closes an idle keep-alive scrape connection as stop() is called, with no timer to wait for', async () => {
    const m = metrics();
    const server = await m.serve({ address: LOOPBACK });
    const served = serverSidesOf(server.port!);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect((await httpGet(server.port!, '/metrics', { agent })).status).toBe(200);
    const idle = Object.values(agent.freeSockets).flat();
    expect(idle).toHaveLength(1);
    expect(served).toHaveLength(1);
    const closedByServer = once(idle[0]!, 'end');
    const stopped = m.stop();
    // Left to a timer (the 1 s grace for scrapes in flight, the 5 s keep-alive timeout), the idle
    // connection would still be open here: stop() itself must close it.
    expect(served[0]!.destroyed).toBe(true);
    await stopped;
    await closedByServer;
  });

  it('does not keep the process alive, even with a keep-alive scrape connection open', async () => {
    const index = fileURLToPath(new URL('../../dist/metrics/index.js', import.meta.url));
    const logger = fileURLToPath(new URL('../../dist/logger.js', import.meta.url));
    // The child serves metrics, prints its port, and stays up only while its stdin is open. At exit
    // it says how many scrape connections its server still had open.
    const script = `
      import { subscribe } from 'node:diagnostics_channel';
      import { createMetrics } from ${JSON.stringify(index)};
      import { createLogger } from ${JSON.stringify(logger)};
      const open = new Set();
      subscribe('http.server.request.start', ({ socket }) => {
        open.add(socket);
        socket.once('close', () => open.delete(socket));
      });
      process.once('exit', () => process.stdout.write('open at exit: ' + open.size + '\\n'));
      const metrics = createMetrics({
        logger: createLogger('silent'),
        sources: { version: 'x', engine: 'stream', tcp: () => null, udp: () => [], backendOf: () => 'b' },
      });
      const server = await metrics.serve({ address: { kind: 'inet', host: '127.0.0.1', port: 0, text: 'x' } });
      process.stdout.write(server.port + '\\n');
      process.stdin.resume();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const port = Number((await lines.next()).value);
    expect(port).toBeGreaterThan(0);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    expect((await httpGet(port, '/metrics', { agent })).status).toBe(200);
    expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);

    child.stdin.end();
    // Exiting with the connection still open means it did not hold the event loop: had it, the
    // process would have lived until the server's keep-alive timeout closed it.
    const [code] = (await exited) as [number];
    expect((await lines.next()).value).toBe('open at exit: 1');
    expect(code).toBe(0);
  });

  it.skipIf(!native)('serves on a listening socket handed over as an fd', async () => {
    const fd = native!.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
    const port = native!.fdinfo(fd).localPort;
    const server = await metrics().serve({ fd });
    expect(server.where).toBe(`fd ${fd}`);
    const res = await httpGet(port);
    expect(res.status).toBe(200);
    expect(res.body).toContain('sockrelay_info{');
  });

  it.skipIf(!native)('serves on a unix socket path, replacing a stale socket file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sockrelay-metrics-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'metrics.sock');
    // A socket file nobody listens on, as a killed instance leaves behind.
    native!.close(native!.listenSocket({ family: 'unix', path, abstract: false }, { type: 'stream' }));
    expect(lstatSync(path).isSocket()).toBe(true);

    const server = await metrics().serve({ address: parseAddress(path, '--metrics-listen') });
    expect(server.where).toBe(path);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: path, path: '/metrics', timeout: 5000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
      req.on('error', reject).end();
    });
    expect(body).toContain('sockrelay_activations_total 1');
  });

  it('fails with ERR_METRICS_LISTEN when the address is taken', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const port = (taken.address() as { port: number }).port;
    await expect(
      metrics().serve({ address: parseAddress(`127.0.0.1:${port}`, '--metrics-listen') }),
    ).rejects.toMatchObject({ code: 'ERR_METRICS_LISTEN', exitCode: 71 });
  });
});
