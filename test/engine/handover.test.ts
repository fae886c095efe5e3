/**
 * Handing live connections from one engine to the next (what a restart through
 * systemd's fd store does): every byte arrives once and in order, no reset,
 * and the backend sees one connection, not two.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { adoptingEngine } from '../../src/engine/adopting-engine.js';
import { SpliceEngine } from '../../src/engine/splice-engine.js';
import type { Engine } from '../../src/engine/types.js';
import { inet, native } from '../helpers/engines.js';
import {
  collect,
  dial,
  echo,
  hashReply,
  openFdCount,
  randomBytes,
  sha256,
  startServer,
} from '../helpers/net.js';

function engineOn(listenFd: number, backendPort: number): Engine {
  return new SpliceEngine(native, {
    listeners: [{ fd: listenFd, label: 'test', backend: { spec: 'b', addresses: [inet(backendPort)] } }],
    connectionsMax: 64,
    pipeSize: 65536,
    connectTimeoutMs: 0,
    connectionEvents: false,
  });
}

describe('engine handover', () => {
  const cleanups = useCleanups();

  async function setup(handler: (s: Socket) => void) {
    const backend = await startServer(handler);
    cleanups.push(() => backend.close());
    const listenFd = native.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream' },
    );
    cleanups.push(() => native.close(listenFd));
    const first = engineOn(listenFd, backend.port);
    cleanups.push(() => first.destroy());
    first.start();
    return { backend, listenFd, port: native.fdinfo(listenFd).localPort, first };
  }

  async function handOver(first: Engine, listenFd: number, backendPort: number): Promise<Engine> {
    const handed = await first.exportConnections(2000);
    const next = engineOn(listenFd, backendPort);
    cleanups.push(() => next.destroy());
    next.adoptConnections(handed);
    next.start();
    first.destroy();
    return next;
  }

  it('carries a connection streaming both ways across the handover, byte for byte', async () => {
    const { backend, listenFd, port, first } = await setup(echo);
    const client = dial(port);
    await once(client, 'connect');
    const done = collect(client);
    const payload = randomBytes(4 * 1024 * 1024);
    let sent = 0;
    const chunk = 64 * 1024;
    // Stream in steps; hand over in the middle of the stream.
    const sendSome = async (upTo: number) => {
      while (sent < upTo) {
        const ok = client.write(payload.subarray(sent, Math.min(sent + chunk, upTo)));
        sent = Math.min(sent + chunk, upTo);
        if (!ok) await once(client, 'drain');
      }
    };
    await sendSome(payload.length / 2);
    await expect.poll(() => first.stats().listeners[0]!.bytesIn > 0n, { timeout: 10_000 }).toBe(true);
    const next = await handOver(first, listenFd, backend.port);
    expect(next.active()).toBe(1);
    await sendSome(payload.length);
    client.end();
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.length).toBe(payload.length);
    expect(sha256(received)).toBe(sha256(payload));
    expect(backend.accepted).toBe(1);
  });

  it('carries a half-closed connection: the reply after the client finished still arrives', async () => {
    const { backend, listenFd, port, first } = await setup(hashReply);
    const client = dial(port);
    const done = collect(client);
    const payload = randomBytes(256 * 1024);
    client.end(payload);
    await expect
      .poll(() => first.stats().listeners[0]!.bytesIn === BigInt(payload.length), { timeout: 10_000 })
      .toBe(true);
    await handOver(first, listenFd, backend.port);
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
    expect(backend.accepted).toBe(1);
  });

  it('hands over many connections at once and leaks no fd', async () => {
    const { backend, listenFd, port, first } = await setup(echo);
    const baseline = openFdCount();
    const clients = Array.from({ length: 20 }, () => dial(port));
    for (const c of clients) {
      c.write('before;');
      await once(c, 'data');
    }
    const next = await handOver(first, listenFd, backend.port);
    expect(next.active()).toBe(20);
    const results = await Promise.all(
      clients.map((c, i) => {
        const done = collect(c);
        c.end(`after ${i}`);
        return done;
      }),
    );
    results.forEach(({ received }, i) => expect(received.toString()).toBe(`after ${i}`));
    expect(backend.accepted).toBe(20);
    await expect
      .poll(() => next.active() === 0 && backend.sockets.size === 0, { timeout: 10_000 })
      .toBe(true);
    // Only the pipes the engine's pool keeps for its next busy flows (at most a few) stay open.
    await expect
      .poll(() => openFdCount() <= baseline + 2 * next.stats().pipes!.pooled, { timeout: 10_000 })
      .toBe(true);
  });

  it('drains what the fd store had no room for in a native engine that accepts nothing', async () => {
    const { backend, listenFd, port, first } = await setup(echo);
    const client = dial(port);
    client.write('before;');
    await once(client, 'data');
    const handed = await first.exportConnections(2000);
    first.destroy();
    const drainer = adoptingEngine(
      native,
      {
        listeners: [{ fd: listenFd, label: 'test', backend: { spec: 'b', addresses: [inet(backend.port)] } }],
        connectionsMax: 64,
        pipeSize: 65536,
        connectTimeoutMs: 0,
        connectionEvents: false,
      },
      handed,
    );
    cleanups.push(() => drainer.destroy());
    drainer.start();
    expect(drainer.active()).toBe(1);
    // A new client belongs to the next instance: the drainer must leave it in the backlog.
    const late = dial(port);
    await once(late, 'connect');
    cleanups.push(() => late.destroy());
    expect(await native.waitReadable([listenFd], 200)).toEqual([listenFd]);
    const done = collect(client);
    client.end('after');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe('after');
    await expect.poll(() => drainer.active() === 0, { timeout: 10_000 }).toBe(true);
    expect(drainer.stats().listeners[0]!.accepted).toBe(0);
    expect(await native.waitReadable([listenFd], 0)).toEqual([listenFd]);
  });
});
