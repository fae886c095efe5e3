/** Metrics of a running proxy: real scrapes, exact byte counters, idle exit, continuity via the textfile. */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import {
  dial,
  echo,
  freePort,
  hashReply,
  randomBytes,
  sendAndCollect,
  startServer,
  tempDir,
} from '../helpers/net.js';
import { supervise, type Supervised } from '../helpers/proxy.js';

const loopback = { family: 'inet', address: '127.0.0.1', port: 0 } as const;

function scrape(port: number, path = '/metrics'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.end();
  });
}

/** The value of one sample, by metric name and a label subset. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('metrics of a running sockrelay', () => {
  const cleanups = useCleanups();
  function supervised(...args: Parameters<typeof supervise>): Supervised {
    const s = supervise(...args);
    cleanups.push(() => s.stop());
    return s;
  }

  it('counts forwarded bytes exactly, both ways', async () => {
    const backend = await startServer(hashReply);
    cleanups.push(() => backend.close());
    const metricsPort = await freePort();
    const sup = supervised(
      [{ address: loopback, type: 'stream', name: 'web' }],
      [`--metrics-listen=127.0.0.1:${metricsPort}`, backend.address],
    );
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const { received } = await sendAndCollect(dial(sup.activator.port(0)), payload);
    const proxy = await sup.nextActivation();
    await proxy.log.waitFor('serving metrics');
    const { status, body } = await scrape(metricsPort);
    expect(status).toBe(200);
    const labels = { listener: 'web', protocol: 'tcp' };
    expect(
      sample(body, 'sockrelay_forwarded_bytes_total', { ...labels, direction: 'client_to_backend' }),
    ).toBe(payload.length);
    expect(
      sample(body, 'sockrelay_forwarded_bytes_total', { ...labels, direction: 'backend_to_client' }),
    ).toBe(received.length);
    expect(sample(body, 'sockrelay_info', { engine: 'splice' })).toBe(1);
    expect((await scrape(metricsPort, '/')).status).toBe(404);
  });

  it('does not count a scrape as activity: the proxy still exits on time', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const metricsPort = await freePort();
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--exit-idle-time=700ms', `--metrics-listen=127.0.0.1:${metricsPort}`, backend.address],
      { spawn: 'now', respawn: false },
    );
    const proxy = await sup.nextActivation();
    await proxy.log.waitFor('serving metrics');
    // Scraped every 50 ms until it exits: were a scrape activity, each would restart the 700 ms and
    // the proxy would still run when the 200 scrapes (10 s and more) are done.
    let exited = false;
    void proxy.exited.then(() => (exited = true));
    let scrapes = 0;
    while (!exited && scrapes < 200) {
      const answer = await scrape(metricsPort).catch((err: Error) => err);
      scrapes++;
      // Refused only because it is on its way out (it closes the metrics port before it exits).
      if (answer instanceof Error) break;
      expect(answer.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(scrapes).toBeGreaterThan(1);
    expect(scrapes).toBeLessThan(200);
    expect(await proxy.exitStatus()).toBe(0);
  });

  it('continues its counters across activations through --metrics-textfile', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const textfile = join(dir.path, 'sockrelay.prom');
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const sup = supervised(
      [{ address: loopback, type: 'stream', name: 'web' }],
      ['--exit-idle-time=200ms', `--metrics-textfile=${textfile}`, backend.address],
    );
    const bytesIn = (): number | undefined =>
      sample(readFileSync(textfile, 'utf8'), 'sockrelay_forwarded_bytes_total', {
        direction: 'client_to_backend',
      });
    await sendAndCollect(dial(sup.activator.port(0)), Buffer.alloc(1000, 1));
    expect(await (await sup.nextActivation()).exited).toBe(0);
    expect(bytesIn()).toBe(1000);
    await sendAndCollect(dial(sup.activator.port(0)), Buffer.alloc(234, 2));
    expect(await (await sup.nextActivation()).exited).toBe(0);
    expect(bytesIn()).toBe(1234);
    expect(sample(readFileSync(textfile, 'utf8'), 'sockrelay_activations_total')).toBe(2);
  });
});
