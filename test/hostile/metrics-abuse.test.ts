/**
 * The metrics endpoint under abuse by one local client: pipelined requests it never reads the
 * answers to must not grow sockrelay's memory without bound (each queued answer is a whole
 * scrape), and the endpoint must still answer a well-behaved scraper.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { echo, startServer } from '../helpers/net.js';
import { runCli } from '../helpers/proxy.js';

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

function scrape(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject).on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.end();
  });
}

const PIPELINED = Buffer.from('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(2048));
/** Bounds on the flood: bytes written, time spent, and how long a stalled write may wait. */
/** One client, a few connections: each is answered on its own. */
const ABUSIVE_CONNECTIONS = 4;
const FLOOD_MAX_BYTES = 96 * 1024 * 1024;
const FLOOD_MAX_MS = 8000;
const STALL_MS = 1500;
/** What the flood may add to the proxy's resident memory: generous, far below the unbounded growth. */
const RSS_GROWTH_MAX = 48 * 1024 * 1024;

/**
 * Writes pipelined GETs and never reads. Stops when the bounds are reached, when the proxy stops
 * taking bytes for STALL_MS (its buffers are full: what bounded reading looks like), or when it
 * closes the connection. Samples the proxy's RSS throughout; resolves with the highest.
 */
async function flood(socket: Socket, pid: number): Promise<{ peakRss: number }> {
  let peakRss = rssBytes(pid);
  let written = 0;
  const closed = once(socket, 'close').then(
    () => 'closed' as const,
    () => 'closed' as const,
  );
  const deadline = Date.now() + FLOOD_MAX_MS;
  while (written < FLOOD_MAX_BYTES && Date.now() < deadline && !socket.destroyed) {
    const accepted = socket.write(PIPELINED);
    written += PIPELINED.length;
    peakRss = Math.max(peakRss, rssBytes(pid));
    if (accepted) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    const stalled = new Promise((r) => setTimeout(() => r('stalled'), STALL_MS).unref());
    const outcome = await Promise.race([
      once(socket, 'drain').then(
        () => 'drained',
        () => 'closed',
      ),
      stalled,
      closed,
    ]);
    peakRss = Math.max(peakRss, rssBytes(pid));
    if (outcome !== 'drained') break;
  }
  // What the proxy already read keeps being worked on for a moment: watch it settle.
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peakRss = Math.max(peakRss, rssBytes(pid));
  }
  return { peakRss };
}

describe('metrics endpoint abuse', () => {
  const cleanups = useCleanups();

  it('keeps memory bounded under unread pipelined requests and still serves others', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const proxy = runCli(['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', backend.address], {
      PATH: process.env.PATH,
    });
    cleanups.push(() => proxy.stop());
    const serving = await proxy.log.waitFor('serving metrics');
    const port = Number(String(serving.metrics).split(':')[1]);
    const pid = proxy.child.pid!;
    expect((await scrape(port)).status).toBe(200);
    const before = rssBytes(pid);

    const abusers = await Promise.all(
      Array.from({ length: ABUSIVE_CONNECTIONS }, async () => {
        // Closing it is a fair answer to the abuse: its reset is expected.
        const abuser = connect({ host: '127.0.0.1', port }).on('error', () => undefined);
        cleanups.push(() => abuser.destroy());
        await once(abuser, 'connect');
        return abuser;
      }),
    );
    const floods = await Promise.all(abusers.map((abuser) => flood(abuser, pid)));
    const peakRss = Math.max(...floods.map((f) => f.peakRss));

    expect(proxy.child.exitCode).toBeNull();
    expect(peakRss - before).toBeLessThan(RSS_GROWTH_MAX);
    const after = await scrape(port);
    expect(after.status).toBe(200);
    expect(after.body).toMatch(/^sockrelay_/m);
  });
});
