/**
 * The stream engine contract (src/engine/types.ts), held against the native
 * engine. Real sockets on loopback, bytes checked.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { SpliceEngine } from '../../src/engine/splice-engine.js';
import { CONNECT_SECONDS_BOUNDS, DURATION_SECONDS_BOUNDS } from '../../src/engine/types.js';
import { inet, native, runEngine, type RunningEngine } from '../helpers/engines.js';
import {
  collect,
  dial,
  echo,
  freePort,
  hashReply,
  openFdCount,
  randomBytes,
  sendAndCollect,
  sha256,
  startServer,
  tempDir,
  type TestServer,
} from '../helpers/net.js';

const MiB = 1024 * 1024;

describe('the stream engine', () => {
  const cleanups = useCleanups();

  async function server(
    handler: (s: Socket) => void,
    listen?: Parameters<typeof startServer>[1],
  ): Promise<TestServer> {
    const s = await startServer(handler, listen);
    cleanups.push(() => s.close());
    return s;
  }
  async function relay(...args: Parameters<typeof runEngine>): Promise<RunningEngine> {
    const r = runEngine(...args);
    cleanups.push(() => r.close());
    return r;
  }

  it('forwards 8 MiB client → backend byte for byte', async () => {
    const backend = await server(hashReply);
    const { port, engine } = await relay([inet(backend.port)]);
    const payload = randomBytes(8 * MiB);
    const { received, error } = await sendAndCollect(dial(port), payload);
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
    await expect.poll(() => engine.active() === 0, { timeout: 10_000 }).toBe(true);
    const stats = engine.stats().listeners[0]!;
    expect(stats.bytesIn).toBe(BigInt(payload.length));
    expect(stats.bytesOut).toBe(BigInt(received.length));
  });

  it('forwards 8 MiB backend → client byte for byte', async () => {
    const payload = randomBytes(8 * MiB);
    const backend = await server((s) => s.end(payload));
    const { port } = await relay([inet(backend.port)]);
    const { received, error } = await sendAndCollect(dial(port), Buffer.alloc(0));
    expect(error).toBeNull();
    expect(sha256(received)).toBe(sha256(payload));
  });

  it('forwards both ways at once through an echo backend', async () => {
    const backend = await server(echo);
    const { port } = await relay([inet(backend.port)]);
    const payload = randomBytes(8 * MiB);
    const { received } = await sendAndCollect(dial(port), payload);
    expect(received.length).toBe(payload.length);
    expect(sha256(received)).toBe(sha256(payload));
  });

  it('propagates a half-close: the reply after the client shut down writing still arrives', async () => {
    const backend = await server(hashReply);
    const { port } = await relay([inet(backend.port)]);
    const client = dial(port);
    await once(client, 'connect');
    const { received, error } = await sendAndCollect(client, Buffer.from('question'));
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(Buffer.from('question'))} 8`);
  });

  it('propagates a half-close from the backend: the client can still send after the backend shut down', async () => {
    let backendGot: Promise<string> = Promise.reject(new Error('no connection'));
    backendGot.catch(() => undefined);
    const backend = await server((s) => {
      s.end('greeting');
      backendGot = collect(s).then(({ received }) => received.toString());
    });
    const { port } = await relay([inet(backend.port)]);
    const client = dial(port);
    const done = collect(client);
    await once(client, 'end');
    client.end('late words');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe('greeting');
    expect(await backendGot).toBe('late words');
  });

  it('propagates a reset from the backend to the client', async () => {
    const backend = await server((s) => s.once('data', () => s.resetAndDestroy()));
    const { port } = await relay([inet(backend.port)]);
    const client = dial(port);
    const done = collect(client);
    client.write('trigger');
    const { error } = await done;
    expect(error?.code).toBe('ECONNRESET');
  });

  it('propagates a reset from the client to the backend', async () => {
    const backendSaw: Array<string | undefined> = [];
    const backend = await server((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => backendSaw.push(e.code));
      s.on('close', () => backendSaw.push('close'));
      s.once('data', () => s.write('ack'));
    });
    const { port } = await relay([inet(backend.port)]);
    const client = dial(port);
    client.write('hello');
    await once(client, 'data');
    client.resetAndDestroy();
    await expect.poll(() => backendSaw.includes('close'), { timeout: 10_000 }).toBe(true);
    expect(backendSaw[0]).toBe('ECONNRESET');
  });

  it('serves 200 concurrent connections, each getting only its own bytes', async () => {
    const backend = await server(echo);
    const { port, engine } = await relay([inet(backend.port)]);
    const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(1024 + i * 97));
    const results = await Promise.all(payloads.map((p) => sendAndCollect(dial(port), p)));
    results.forEach(({ received }, i) => expect(sha256(received)).toBe(sha256(payloads[i]!)));
    await expect.poll(() => engine.active() === 0, { timeout: 10_000 }).toBe(true);
    const [stats] = engine.stats().listeners;
    expect(stats!.accepted).toBe(200);
    // Both histograms saw every connection, in the engine's buckets.
    for (const [histogram, bounds] of [
      [stats!.connectSeconds, CONNECT_SECONDS_BOUNDS],
      [stats!.durationSeconds, DURATION_SECONDS_BOUNDS],
    ] as const) {
      expect(histogram!.bounds).toEqual(bounds);
      expect(histogram!.count).toBe(200);
      expect(histogram!.counts.reduce((a, b) => a + b, 0)).toBe(200);
    }
  });

  it('reaches an IPv6 backend', async () => {
    const backend = await server(echo, { host: '::1' });
    const { port } = await relay([inet(backend.port, '::1', 'inet6')]);
    const { received } = await sendAndCollect(dial(port), Buffer.from('over v6'));
    expect(received.toString()).toBe('over v6');
  });

  it('reaches a unix socket backend by path and by abstract name', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'backend.sock');
    await server(echo, { path });
    // Bound at its exact length, as systemd and C programs bind abstract names (Node would pad it).
    const abstractName = `sockrelay-test-${process.pid}`;
    const abstractFd = native.listenSocket(
      { family: 'unix', path: abstractName, abstract: true },
      { type: 'stream' },
    );
    const abstractServer = createServer({ allowHalfOpen: true }, echo).listen({ fd: abstractFd });
    cleanups.push(() => new Promise((resolve) => abstractServer.close(resolve)));
    const byPath = await relay([{ family: 'unix', path, abstract: false }]);
    const byName = await relay([{ family: 'unix', path: abstractName, abstract: true }]);
    expect((await sendAndCollect(dial(byPath.port), Buffer.from('path'))).received.toString()).toBe('path');
    expect((await sendAndCollect(dial(byName.port), Buffer.from('abstract'))).received.toString()).toBe(
      'abstract',
    );
  });

  it('tries every backend address in order until one connects', async () => {
    const backend = await server(echo);
    const dead = await freePort();
    const { port, engine } = await relay([inet(dead), inet(backend.port)]);
    const { received } = await sendAndCollect(dial(port), Buffer.from('second address'));
    expect(received.toString()).toBe('second address');
    expect(engine.stats().listeners[0]!.failedRefused).toBe(0);
  });

  it('closes the client when the backend refuses, counts it, and reports it', async () => {
    const dead = await freePort();
    const { port, engine } = await relay([inet(dead)], { connectTimeoutMs: 0 });
    const failed = new Promise((resolve) => engine.on('connectFailed', resolve));
    const { received, error } = await sendAndCollect(dial(port), Buffer.from('anyone?'));
    expect(received.length).toBe(0);
    expect(error?.code).toBe('ECONNRESET');
    expect(await failed).toEqual({
      listener: 'test',
      backend: 'test-backend',
      code: 'ECONNREFUSED',
      count: 1,
    });
    expect(engine.stats().listeners[0]).toMatchObject({ failedRefused: 1, active: 0 });
  });

  it('reports a refused connect only once the connection no longer counts as open', async () => {
    const dead = await freePort();
    const { port, engine } = await relay([inet(dead)], { connectTimeoutMs: 0 });
    // The engine going idle is its own word that the count dropped; a report must not come before it.
    const heard: string[] = [];
    engine.on('idle', () => heard.push('idle'));
    const failed = new Promise<{ active: number; open: number }>((resolve) =>
      engine.on('connectFailed', () => {
        heard.push('connectFailed');
        resolve({ active: engine.stats().listeners[0]!.active, open: engine.active() });
      }),
    );
    const { error } = await sendAndCollect(dial(port), Buffer.from('anyone?'));
    expect(error?.code).toBe('ECONNRESET');
    expect(await failed).toEqual({ active: 0, open: 0 });
    expect(heard).toEqual(['idle', 'connectFailed']);
  });

  it('holds a client while the backend is late, then delivers its bytes intact', async () => {
    const port = await freePort();
    const { port: relayPort } = await relay([inet(port)], { connectTimeoutMs: 10_000 });
    const client = dial(relayPort);
    await once(client, 'connect');
    const payload = randomBytes(64 * 1024);
    const done = sendAndCollect(client, payload);
    setTimeout(() => void server(hashReply, { host: '127.0.0.1', port }), 1000);
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
  });

  it('gives up on a black-holed backend at the connect deadline', async () => {
    // A listener whose accept queue is full drops further SYNs: connect() hangs, like a black hole.
    const holeFd = native.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream', backlog: 0 },
    );
    cleanups.push(() => native.close(holeFd));
    const holePort = native.fdinfo(holeFd).localPort;
    // Backlog 0 queues one connection; the next SYNs are dropped.
    const filler = dial(holePort);
    cleanups.push(() => filler.destroy());
    await once(filler, 'connect');
    const { port, engine } = await relay([inet(holePort)], { connectTimeoutMs: 600 });
    const started = Date.now();
    const { received } = await sendAndCollect(dial(port), Buffer.from('hello?'));
    const elapsed = Date.now() - started;
    expect(received.length).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(engine.stats().listeners[0]!.failedTimeout).toBe(1);
  });

  it('at the connection cap leaves further clients in the backlog and serves them when a slot frees', async () => {
    const backend = await server(echo);
    const { port, engine } = await relay([inet(backend.port)], { connectionsMax: 2 });
    const first = dial(port);
    const second = dial(port);
    for (const c of [first, second]) {
      c.write('x');
      await once(c, 'data');
    }
    const third = dial(port);
    await once(third, 'connect'); // completed by the kernel: it sits in the backlog
    const thirdDone = sendAndCollect(third, Buffer.from('third'));
    let thirdAnswered = false;
    void thirdDone.then(() => (thirdAnswered = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(thirdAnswered).toBe(false);
    expect(engine.stats().listeners[0]).toMatchObject({ accepted: 2, active: 2 });
    expect(backend.accepted).toBe(2);
    first.end();
    const { received, error } = await thirdDone;
    expect(error).toBeNull();
    expect(received.toString()).toBe('third');
    second.destroy();
  });

  it('tryStop refuses while a connection is open, and after stopping leaves new clients queued', async () => {
    const backend = await server(echo);
    const { port, engine, listenFd } = await relay([inet(backend.port)]);
    const open = dial(port);
    open.write('x');
    await once(open, 'data');
    expect(engine.tryStop()).toBe(false);
    const idle = new Promise<void>((resolve) => engine.on('idle', resolve));
    open.end();
    await idle;
    expect(engine.tryStop()).toBe(true);
    // A client arriving now must wait for the next instance, not be dropped.
    const late = dial(port);
    await once(late, 'connect');
    const done = sendAndCollect(late, Buffer.from('next instance'));
    // Hand the same listening socket to a next engine, as systemd does to the next activation.
    const successor = new SpliceEngine(native, {
      listeners: [{ fd: listenFd, label: 'test', backend: { spec: 'b', addresses: [inet(backend.port)] } }],
      connectionsMax: 10,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionIdleTimeoutMs: 0,
      keepaliveMs: 0,
      connectionEvents: false,
    });
    cleanups.push(() => successor.destroy());
    successor.start();
    expect((await done).received.toString()).toBe('next instance');
  });

  it('emits busy and idle as connections come and go', async () => {
    const backend = await server(echo);
    const { port, engine } = await relay([inet(backend.port)]);
    const events: string[] = [];
    engine.on('busy', () => events.push('busy'));
    const idle = new Promise<void>((resolve) => engine.on('idle', () => (events.push('idle'), resolve())));
    await Promise.all([
      sendAndCollect(dial(port), Buffer.from('a')),
      sendAndCollect(dial(port), Buffer.from('b')),
    ]);
    await idle;
    expect(events).toEqual(['busy', 'idle']);
  });

  it('survives 2,000 connections in bursts with random half-closes and aborts, leaking no fd', async () => {
    const backend = await server(hashReply);
    const { port, engine } = await relay([inet(backend.port)]);
    const baseline = openFdCount();
    let checked = 0;
    let abortedEarly = 0;
    for (let burst = 0; burst < 20; burst++) {
      await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const client = dial(port);
          const payload = randomBytes(256 + ((burst * 100 + i) % 4096));
          const kind = (burst * 7 + i * 13) % 10;
          if (kind === 0) {
            // Abort right away: the kernel may drop it before the engine ever accepts it.
            client.on('error', () => undefined);
            await once(client, 'connect');
            client.resetAndDestroy();
            abortedEarly++;
            return;
          }
          if (kind === 1) {
            client.on('error', () => undefined);
            client.write(payload);
            client.destroy();
            await once(client, 'close');
            return;
          }
          const { received, error } = await sendAndCollect(client, payload);
          expect(error).toBeNull();
          expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
          checked++;
        }),
      );
    }
    await expect
      .poll(() => engine.active() === 0 && backend.sockets.size === 0, { timeout: 15_000 })
      .toBe(true);
    // Only the pipes the engine's pool keeps for its next busy flows (at most a few) stay open.
    const pooled = (): number => engine.stats().pipes?.pooled ?? 0;
    await expect.poll(() => openFdCount() <= baseline + 2 * pooled(), { timeout: 5000 }).toBe(true);
    expect(checked).toBeGreaterThan(1500);
    expect(engine.stats().listeners[0]!.accepted).toBeGreaterThanOrEqual(2000 - abortedEarly);
  }, 60_000);
});
