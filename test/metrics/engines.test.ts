/**
 * The metrics over real engines and UDP relays on loopback: what a scrape says equals the bytes
 * that crossed, both ways, for the stream engine and the UDP relay.
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import type { Engine } from '../../src/engine/types.js';
import { createMetrics } from '../../src/metrics/index.js';
import type { UdpRelay } from '../../src/udp/types.js';
import { inet, runEngine } from '../helpers/engines.js';
import { dial, echo, hashReply, randomBytes, sendAndCollect, startServer } from '../helpers/net.js';
import { Client, echoBackend, inheritedSocket, makeRelay, native, relayOptions } from '../udp/helpers.js';
import { httpGet, promtoolCheck, recordingLogger, valueOf } from './helpers.js';
import { has } from '../helpers/requires.js';

const LOOPBACK = { address: { kind: 'inet', host: '127.0.0.1', port: 0, text: '127.0.0.1:0' } } as const;

async function scrape(
  sources: { engine?: Engine; udp?: UdpRelay[] },
  cleanups: { push(cleanup: () => unknown): void },
) {
  const metrics = createMetrics({
    logger: recordingLogger().logger,
    sources: {
      version: 'test',
      engine: sources.engine ? 'splice' : 'none',
      tcp: () => sources.engine?.stats() ?? null,
      udp: () => (sources.udp ?? []).map((r) => r.stats()),
      backendOf: () => 'test-backend',
    },
  });
  cleanups.push(() => metrics.stop());
  const server = await metrics.serve(LOOPBACK);
  const res = await httpGet(server.port!);
  expect(res.status).toBe(200);
  expect(promtoolCheck(res.body)).toEqual({ status: 0, findings: '' });
  return res.body;
}

describe.skipIf(!has('promtool'))('metrics over real relays', () => {
  const cleanups = useCleanups();

  it('counts exactly the TCP bytes that crossed', async () => {
    const hashing = await startServer(hashReply);
    cleanups.push(() => hashing.close());
    const relay = runEngine([inet(hashing.port)]);
    cleanups.push(() => relay.close());

    // Asymmetric on purpose, so a swapped direction cannot pass: 3 MiB in, a 64-byte hash and a length out.
    const payloads = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(1), randomBytes(65_537)];
    let sent = 0;
    let received = 0;
    for (const payload of payloads) {
      const exchange = await sendAndCollect(dial(relay.port), payload);
      expect(exchange.error).toBeNull();
      sent += payload.length;
      received += exchange.received.length;
    }
    await expect.poll(() => relay.engine.active() === 0, { timeout: 10_000 }).toBe(true);

    const text = await scrape({ engine: relay.engine }, cleanups);
    const where = { listener: 'test', backend: 'test-backend', protocol: 'tcp' };
    const bytes = (direction: string) =>
      valueOf(text, 'sockrelay_forwarded_bytes_total', { ...where, direction });
    expect(bytes('client_to_backend')).toBe(sent);
    expect(bytes('backend_to_client')).toBe(received);
    expect(valueOf(text, 'sockrelay_connections_accepted_total', { listener: 'test' })).toBe(payloads.length);
    expect(valueOf(text, 'sockrelay_connections_active', { listener: 'test' })).toBe(0);
    expect(valueOf(text, 'sockrelay_info', { engine: 'splice' })).toBe(1);
    const durations = valueOf(text, 'sockrelay_connection_duration_seconds_count', { listener: 'test' });
    if (durations !== undefined) expect(durations).toBe(payloads.length);
  });

  it('shows the splice pipes holding bytes and the ones pooled, read at scrape time', async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const backend = await startServer((socket) => socket.end(payload));
    cleanups.push(() => backend.close());
    const relay = runEngine([inet(backend.port)]);
    cleanups.push(() => relay.close());
    const client = dial(relay.port);
    cleanups.push(() => client.destroy());
    // A client that does not read: the backend's bytes wait in a pipe of the proxy.
    client.pause();
    await expect.poll(() => relay.engine.stats().pipes?.inUse, { timeout: 10_000 }).toBe(1);
    const held = await scrape({ engine: relay.engine }, cleanups);
    expect(valueOf(held, 'sockrelay_pipes', { state: 'in_use' })).toBe(1);
    const done = sendAndCollect(client, Buffer.alloc(0));
    client.resume();
    expect((await done).received.length).toBe(payload.length);
    await expect.poll(() => relay.engine.active() === 0, { timeout: 10_000 }).toBe(true);
    const drained = await scrape({ engine: relay.engine }, cleanups);
    expect(valueOf(drained, 'sockrelay_pipes', { state: 'in_use' })).toBe(0);
    expect(valueOf(drained, 'sockrelay_pipes', { state: 'pooled' })).toBeGreaterThanOrEqual(1);
  });

  it('counts refused backends as failed connections', async () => {
    const gone = await startServer(echo);
    const port = gone.port;
    await gone.close();
    const relay = runEngine([inet(port)]);
    cleanups.push(() => relay.close());
    await sendAndCollect(dial(relay.port), Buffer.from('x'));
    await expect.poll(() => relay.engine.active() === 0, { timeout: 10_000 }).toBe(true);
    const text = await scrape({ engine: relay.engine }, cleanups);
    expect(valueOf(text, 'sockrelay_connections_failed_total', { listener: 'test', reason: 'refused' })).toBe(
      1,
    );
  });

  it.skipIf(!native)('counts exactly the UDP datagrams and bytes that crossed', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(() => backend.close());
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [inet(backend.port)]));
    cleanups.push(() => relay.destroy());
    relay.start();

    const client = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => client.close());
    const sizes = [1, 1400, 65_000, 7];
    for (const size of sizes) await client.request(randomBytes(size), port, '127.0.0.1');
    const sent = sizes.reduce((a, b) => a + b, 0);
    const received = client.replies.reduce((a, r) => a + r.data.length, 0);
    await expect.poll(() => relay.stats().datagramsOut === sizes.length, { timeout: 10_000 }).toBe(true);

    const text = await scrape({ udp: [relay] }, cleanups);
    const where = { listener: 'test', backend: 'test-backend' };
    const bytes = (direction: string) =>
      valueOf(text, 'sockrelay_forwarded_bytes_total', { ...where, protocol: 'udp', direction });
    expect(bytes('client_to_backend')).toBe(sent);
    expect(bytes('backend_to_client')).toBe(received);
    const datagrams = (direction: string) =>
      valueOf(text, 'sockrelay_udp_datagrams_total', { ...where, direction });
    expect(datagrams('client_to_backend')).toBe(sizes.length);
    expect(datagrams('backend_to_client')).toBe(sizes.length);
    expect(valueOf(text, 'sockrelay_udp_sessions_active', where)).toBe(1);
  });
});
