/**
 * The UDP relay contract (src/udp/types.ts), held against the relay. Cases that need IP_PKTINFO or unix sockets live in
 * native-relay.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import {
  Client,
  echoBackend,
  inheritedSocket,
  makeRelay,
  native,
  nextEvent,
  relayOptions,
} from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe.skipIf(!native)('UDP relay contract', () => {
  async function setup(overrides: Parameters<typeof relayOptions>[2] = {}) {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = makeRelay(
      relayOptions(fd, [{ family: 'inet', address: '127.0.0.1', port: backend.port }], overrides),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    return { backend, relay, port };
  }

  async function client(type: 'udp4' | 'udp6' = 'udp4', address = '127.0.0.1'): Promise<Client> {
    const c = await Client.open(type, address);
    cleanups.push(() => c.close());
    return c;
  }

  it('gives each of 50 concurrent clients only its own replies, one session each', async () => {
    const { relay, port, backend } = await setup();
    const clients = await Promise.all(Array.from({ length: 50 }, () => client()));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 20; j++) await c.request(`client-${i}:${j}`, port, '127.0.0.1');
      }),
    );
    const sessionPorts = new Set<string>();
    clients.forEach((c, i) => {
      expect(c.replies).toHaveLength(20);
      const tags = new Set(c.replies.map((r) => r.data.toString().split('|')[0]));
      expect(tags.size).toBe(1);
      sessionPorts.add([...tags][0]!);
      c.replies.forEach((r, j) => expect(r.data.toString().split('|')[1]).toBe(`client-${i}:${j}`));
    });
    expect(sessionPorts.size).toBe(50);
    expect(backend.sources.size).toBe(50);
    await expect
      .poll(() => relay.stats().datagramsOut === 1000, { timeout: 2000, message: 'counters' })
      .toBe(true);
    const stats = relay.stats();
    expect(stats.datagramsIn).toBe(1000);
    expect(stats.sessionsTotal).toBe(50);
    expect(stats.sessionsActive).toBe(50);
    expect(relay.activeSessions()).toBe(50);
    let bytesIn = 0;
    for (let i = 0; i < 50; i++) for (let j = 0; j < 20; j++) bytesIn += `client-${i}:${j}`.length;
    expect(stats.bytesIn).toBe(BigInt(bytesIn));
    // The tag the backend adds is the session's port: 'NNNNN|' on every reply.
    const tagBytes = clients.reduce(
      (sum, c) => sum + c.replies.reduce((n, r) => n + r.data.indexOf('|') + 1, 0),
      0,
    );
    expect(stats.bytesOut).toBe(BigInt(bytesIn + tagBytes));
    expect(Object.values(stats.dropped).every((n) => n === 0)).toBe(true);
  });

  it('keeps datagram boundaries, from empty to 65,507 bytes', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'plain');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [{ family: 'inet', address: '127.0.0.1', port: backend.port }]));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client();
    for (const size of [0, 1, 1472, 9000, 65_507]) {
      const payload = randomBytes(size);
      const reply = await c.request(payload, port, '127.0.0.1');
      expect(reply.data.length).toBe(size);
      expect(reply.data.equals(payload)).toBe(true);
    }
    await expect
      .poll(() => relay.stats().datagramsOut === 5, { timeout: 2000, message: 'counters' })
      .toBe(true);
    expect(relay.stats().bytesOut).toBe(BigInt(1 + 1472 + 9000 + 65_507));
  });

  it('relays over IPv6', async () => {
    const backend = await echoBackend('udp6', '::1', 'tag');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet6', address: '::1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [{ family: 'inet6', address: '::1', port: backend.port }]));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client('udp6', '::1');
    const reply = await c.request('hello6', port, '::1');
    expect(reply.data.toString()).toMatch(/^\d+\|hello6$/);
    expect(reply.from.address).toBe('::1');
    expect(reply.from.port).toBe(port);
  });

  it('ends idle sessions after sessionTimeoutMs and reports busy and idle', async () => {
    const { relay, port } = await setup({ sessionTimeoutMs: 200 });
    const c = await client();
    const busy = nextEvent(relay, 'busy', 2000);
    const first = await c.request('one', port, '127.0.0.1');
    await busy;
    expect(relay.activeSessions()).toBe(1);
    const started = performance.now();
    await nextEvent(relay, 'idle', 3000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    expect(relay.activeSessions()).toBe(0);
    expect(relay.stats().sessionsTimedOut).toBe(1);
    // The same client comes back: a new session, a new upstream socket.
    const second = await c.request('two', port, '127.0.0.1');
    expect(second.data.toString().split('|')[0]).not.toBe(first.data.toString().split('|')[0]);
    expect(relay.stats().sessionsTotal).toBe(2);
  });

  it('drops and counts new clients beyond sessionsMax while existing sessions carry on', async () => {
    const { relay, port } = await setup({ sessionsMax: 2 });
    const [a, b, c] = await Promise.all([client(), client(), client()]);
    await a.request('a1', port, '127.0.0.1');
    await b.request('b1', port, '127.0.0.1');
    const dropped = nextEvent<[{ reason: string; count: number }]>(relay, 'dropped', 3000);
    await c.send('c1', port, '127.0.0.1');
    const [info] = await dropped;
    expect(info).toMatchObject({ label: 'test', reason: 'sessions-max', count: 1 });
    // Sent after c1: by the time these replies are back, c1 has been handled (and dropped).
    expect((await a.request('a2', port, '127.0.0.1')).data.toString()).toMatch(/\|a2$/);
    expect((await b.request('b2', port, '127.0.0.1')).data.toString()).toMatch(/\|b2$/);
    expect(c.replies).toHaveLength(0);
    const stats = relay.stats();
    expect(stats.dropped['sessions-max']).toBe(1);
    expect(stats.sessionsActive).toBe(2);
    expect(stats.sessionsTotal).toBe(2);
  });

  it('ends a session the backend refuses with a warning, and goes on serving', async () => {
    const { relay, port, backend } = await setup();
    const a = await client();
    await a.request('up', port, '127.0.0.1');
    const backendPort = backend.port;
    backend.close();
    const failed = nextEvent<[{ code: string; client: string; backend: string }]>(
      relay,
      'sessionError',
      3000,
    );
    const idle = nextEvent(relay, 'idle', 3000);
    await a.send('down', port, '127.0.0.1');
    const [info] = await failed;
    expect(info.code).toBe('ECONNREFUSED');
    expect(info.client).toBe(`127.0.0.1:${a.port}`);
    expect(info.backend).toBe('test-backend');
    await idle;
    expect(relay.activeSessions()).toBe(0);
    // The backend returns on the same port: old and new clients are served again.
    const revived = await echoBackend('udp4', '127.0.0.1', 'tag', backendPort);
    cleanups.push(revived.close);
    const b = await client();
    expect((await b.request('b', port, '127.0.0.1')).data.toString()).toMatch(/\|b$/);
    expect((await a.request('again', port, '127.0.0.1')).data.toString()).toMatch(/\|again$/);
  });

  it('sums a burst of failures into few warnings whose counts are exact', async () => {
    const { relay, port, backend } = await setup();
    backend.close();
    const events: Array<{ code: string; count: number }> = [];
    relay.on('sessionError', (info) => events.push(info));
    const clients = await Promise.all(Array.from({ length: 10 }, () => client()));
    for (let j = 0; j < 5; j++) await Promise.all(clients.map((c) => c.send(`x${j}`, port, '127.0.0.1')));
    // Every datagram is forwarded or dropped, and every session the burst opened ends in exactly one
    // failure counted in the warnings, which come within ~1 s.
    await expect
      .poll(
        () => {
          const stats = relay.stats();
          const dropped = Object.values(stats.dropped).reduce((n, d) => n + d, 0);
          const failures = events.reduce((n, e) => n + e.count, 0);
          return (
            stats.datagramsIn + dropped === 50 &&
            stats.sessionsActive === 0 &&
            failures === stats.sessionsTotal
          );
        },
        { timeout: 4000, message: 'every datagram and failure counted' },
      )
      .toBe(true);
    expect(relay.stats().sessionsTotal).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeLessThanOrEqual(3);
    expect(events.every((e) => e.code === 'ECONNREFUSED')).toBe(true);
  });

  it('tryStop refuses while a session is open, then leaves new datagrams queued', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    // The test keeps its own reference to the socket, as systemd does, to see what stays queued.
    const watch = native!.dup(fd);
    cleanups.push(() => native!.close(watch));
    const relay = makeRelay(
      relayOptions(fd, [{ family: 'inet', address: '127.0.0.1', port: backend.port }], {
        sessionTimeoutMs: 150,
      }),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client();
    await c.request('x', port, '127.0.0.1');
    expect(relay.tryStop()).toBe(false);
    await nextEvent(relay, 'idle', 3000);
    expect(relay.tryStop()).toBe(true);
    await c.send('for the next instance', port, '127.0.0.1');
    expect(await native!.waitReadable([watch], 2000)).toEqual([watch]);
    expect(relay.stats().sessionsTotal).toBe(1);
  });
});
