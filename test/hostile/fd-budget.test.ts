/**
 * Issue 13 item 8: one fd budget for every kind of fd. Under a small LimitNOFILE, UDP sessions (one
 * upstream socket each) or slow metrics clients used to take every fd, and TCP accepts failed with
 * EMFILE for as long as they stayed. The proxy runs here under `prlimit --nofile=N:N`.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';

import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, sendAndCollect, startServer } from '../helpers/net.js';
import { supervise } from '../helpers/proxy.js';
import { echoBackend } from '../helpers/udp.js';

const cleanups = useCleanups();
const loopback = { family: 'inet', address: '127.0.0.1', port: 0 } as const;

/** A TCP and a UDP echo backend on one port number, so one backend address serves both sockets. */
async function echoBackends(): Promise<string> {
  const tcp = await startServer(echo);
  cleanups.push(() => tcp.close());
  const udp = await echoBackend('udp4', '127.0.0.1', 'plain', tcp.port);
  cleanups.push(udp.close);
  return `127.0.0.1:${tcp.port}`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

async function tcpStillServed(port: number): Promise<void> {
  const reply = await sendAndCollect(dial(port), Buffer.from('tcp still served'), 5000);
  expect(reply.error).toBeNull();
  expect(reply.received.toString()).toBe('tcp still served');
}

describe('one fd budget for every kind of fd', () => {
  it('200 UDP sources at nofile=128 leave room for TCP', async () => {
    const backend = await echoBackends();
    const sup = supervise(
      [
        { address: loopback, type: 'stream' },
        { address: loopback, type: 'dgram' },
      ],
      ['--log-level=error', backend],
      { spawn: 'now', respawn: false, wrapper: ['prlimit', '--nofile=128:128', '--'] },
    );
    cleanups.push(() => sup.stop());
    await sup.nextActivation();
    const tcpPort = sup.activator.port(0);
    const udpPort = sup.activator.port(1);

    const sources: dgram.Socket[] = [];
    cleanups.push(() => sources.forEach((s) => s.close()));
    let replies = 0;
    for (let i = 0; i < 200; i++) {
      const s = dgram.createSocket('udp4');
      s.on('message', () => replies++);
      s.bind(0, '127.0.0.1');
      await once(s, 'listening', { signal: AbortSignal.timeout(2000) });
      sources.push(s);
      s.send(`source ${i}`, udpPort, '127.0.0.1');
    }
    // The first source surely has a session; its second reply means the relay read all 200 before.
    const before = replies;
    sources[0]!.send('again', udpPort, '127.0.0.1');
    await expect.poll(() => replies, { timeout: 5000 }).toBeGreaterThan(before);

    await tcpStillServed(tcpPort);
  });

  it('400 slow metrics clients at nofile=256 leave room for TCP', async () => {
    const backend = await echoBackends();
    const metricsPort = await freePort();
    const sup = supervise(
      [{ address: loopback, type: 'stream' }],
      ['--log-level=error', `--metrics-listen=127.0.0.1:${metricsPort}`, backend],
      { spawn: 'now', respawn: false, wrapper: ['prlimit', '--nofile=256:256', '--'] },
    );
    cleanups.push(() => sup.stop());
    await sup.nextActivation();
    await expect.poll(() => accepts(metricsPort), { timeout: 10_000 }).toBe(true);
    const tcpPort = sup.activator.port(0);

    const slow: Socket[] = [];
    cleanups.push(() => slow.forEach((s) => s.destroy()));
    for (let i = 0; i < 400; i++) {
      const s = connect({ host: '127.0.0.1', port: metricsPort });
      s.on('error', () => undefined);
      // Half a request, never finished: a slow client holding its connection.
      s.write('GET /metrics HTTP/1.1\r\n');
      slow.push(s);
    }
    await Promise.all(
      slow.map((s) =>
        s.connecting
          ? once(s, 'connect', { signal: AbortSignal.timeout(5000) }).catch(() => undefined)
          : null,
      ),
    );

    await tcpStillServed(tcpPort);
  });
});
