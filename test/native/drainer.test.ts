/**
 * The drainer: at a handover, connections that do not fit in the fd store are adopted by a native
 * engine that only drains them. stopAccepting() before start() makes it one: it relays what it
 * adopted to the end, and never accepts a client of the listeners it shares with the next instance.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, startServer } from '../helpers/net.js';
import { loadNative, type RelayEngineNative, type RelayEngineOptions } from '../../src/native/binding.js';

const native = loadNative().binding!;

async function roundTrip(client: Socket, text: string): Promise<string> {
  client.write(text);
  const [data] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
  return data.toString();
}

describe('a drainer engine (stopAccepting() before start())', () => {
  const cleanups = useCleanups();

  function engine(options: RelayEngineOptions): RelayEngineNative {
    const e = new native.RelayEngine(options, () => undefined);
    cleanups.push(() => e.destroy());
    return e;
  }

  it('relays the connections it adopted to their end and accepts no client', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const listenFd = native.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream' },
    );
    cleanups.push(() => native.close(listenFd));
    const port = native.fdinfo(listenFd).localPort;
    // Each engine owns the listener fd it is given: both get a dup of the test's socket.
    const options = (): RelayEngineOptions => ({
      listeners: [{ fd: native.dup(listenFd), backend: 0 }],
      backends: [[{ family: 'inet', address: '127.0.0.1', port: backend.port }]],
      connectionsMax: 8,
      pipeSize: 0,
      connectTimeoutMs: 1000,
      connectionEvents: false,
    });

    const first = engine(options());
    first.start();
    const client = dial(port);
    cleanups.push(() => client.destroy());
    expect(await roundTrip(client, 'before')).toBe('before');
    const handed = await first.exportConnections(2000);
    expect(handed).toHaveLength(1);
    first.destroy();

    const drainer = engine(options());
    for (const c of handed)
      drainer.adoptConnection(c.listener, c.clientFd, c.backendFd, c.bytesIn, c.bytesOut);
    drainer.stopAccepting();
    drainer.start();

    // A client of the next instance waits in the backlog while the drainer serves the old one.
    const newcomer = dial(port);
    cleanups.push(() => newcomer.destroy());
    await once(newcomer, 'connect', { signal: AbortSignal.timeout(5000) });
    expect(await roundTrip(client, 'after')).toBe('after');
    expect(await native.waitReadable([listenFd], 0)).toEqual([listenFd]);
    expect(drainer.stats().listeners[0]).toMatchObject({ accepted: 0, active: 1 });

    client.end();
    await once(client, 'close', { signal: AbortSignal.timeout(5000) });
    await expect.poll(() => drainer.active(), { timeout: 5000 }).toBe(0);
  });
});
