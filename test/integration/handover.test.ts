/**
 * Restarting without dropping connections: sockrelay hands live connections to
 * the next instance through systemd's fd store (emulated by
 * test/helpers/fdstore-supervisor.py, which restarts it as systemd would).
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { encodeHandoverName, HANDOVER_PREFIX } from '../../src/handover/fd-names.js';
import { FdStoreSupervisor } from '../helpers/fdstore.js';
import { ask, echoBackend } from '../helpers/udp.js';
import { collect, dial, echo, randomBytes, sha256, startServer } from '../helpers/net.js';

describe('restart through the fd store', () => {
  const cleanups = useCleanups();

  async function setup(fdstore = 64) {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const sup = new FdStoreSupervisor([{ type: 'stream', name: 'web' }], [backend.address], fdstore);
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    await sup.log.waitFor('sockrelay started');
    return { backend, sup };
  }

  /** Streams `payload` in chunks, calling `midway` once halfway; resolves with everything echoed back. */
  async function streamThrough(
    client: Socket,
    payload: Buffer,
    midway: () => Promise<void>,
  ): Promise<Buffer> {
    const done = collect(client, 30_000);
    // Restart only once bytes flow, so that the restart meets the connection mid-stream.
    const flowing = once(client, 'data');
    const chunk = 32 * 1024;
    for (let sent = 0; sent < payload.length; sent += chunk) {
      if (sent >= payload.length / 2 && sent - chunk < payload.length / 2) {
        await flowing;
        await midway();
      }
      if (!client.write(payload.subarray(sent, sent + chunk))) await once(client, 'drain');
    }
    client.end();
    const { received, error } = await done;
    expect(error).toBeNull();
    return received;
  }

  it('carries a streaming connection across a restart: every byte echoed intact, one backend connection', async () => {
    const { backend, sup } = await setup();
    const client = dial(sup.ports[0]!);
    await once(client, 'connect');
    const payload = randomBytes(2 * 1024 * 1024);
    const received = await streamThrough(client, payload, async () => {
      sup.send('restart');
      await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
      await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    });
    expect(sha256(received)).toBe(sha256(payload));
    expect(backend.accepted).toBe(1);
    // The handed-over fds were taken out of the store once adopted.
    await sup.next(
      'notify',
      5000,
      (e) => (e.state as string).startsWith('FDSTOREREMOVE=1') && e.stored === 0,
    );
  });

  it('survives several restarts in a row', async () => {
    const { backend, sup } = await setup();
    const client = dial(sup.ports[0]!);
    const done = collect(client, 30_000);
    const sentAll: Buffer[] = [];
    for (let round = 0; round < 3; round++) {
      const part = Buffer.from(`round ${round};`);
      sentAll.push(part);
      client.write(part);
      await expect.poll(() => backend.sockets.size === 1, { timeout: 10_000 }).toBe(true);
      sup.send('restart');
      await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    }
    client.end('bye');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${Buffer.concat(sentAll).toString()}bye`);
    expect(backend.accepted).toBe(1);
  });

  it('drains the connections that do not fit in a store too small, handing over the rest', async () => {
    // Room for one connection (two fds) only.
    const { backend, sup } = await setup(2);
    const [a, b] = [dial(sup.ports[0]!), dial(sup.ports[0]!)];
    for (const c of [a, b]) {
      c.write('hello;');
      await once(c, 'data');
    }
    const [doneA, doneB] = [collect(a), collect(b)];
    sup.send('restart');
    const handed = await sup.log.waitFor('handed over to the fd store');
    expect(handed).toMatchObject({ storedConnections: 1, overflow: 1 });
    // The old instance still serves the drained one; once both clients finish, both got everything.
    a.end('a done');
    b.end('b done');
    const results = [(await doneA).received.toString(), (await doneB).received.toString()].sort();
    expect(results).toEqual(['a done', 'b done']);
    expect(backend.accepted).toBe(2);
  });

  it('drains, never drops, the connections the store refuses', async () => {
    const { backend, sup } = await setup();
    const client = dial(sup.ports[0]!);
    client.write('before;');
    await once(client, 'data');
    const done = collect(client);
    sup.send('close-notify');
    await sup.next('notify-closed');
    sup.send('restart');
    const handed = await sup.log.waitFor('handed over to the fd store');
    expect(handed).toMatchObject({ level: 40, storedConnections: 0, overflow: 1 });
    expect(handed.storeError).toMatch(/^E[A-Z]+$/);
    // The old instance still relays it until the client is done; then the restart completes.
    client.end('after');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe('after');
    await sup.next('started', 15_000);
    expect(backend.accepted).toBe(1);
  });

  it('drains on a stop, fd store or not: nothing goes to a store the stop is about to empty', async () => {
    const { backend, sup } = await setup();
    const client = dial(sup.ports[0]!);
    client.write('before;');
    await once(client, 'data');
    const done = collect(client);
    sup.send('stop');
    const decided = await sup.log.waitFor('SIGTERM: draining, not handing over');
    expect(decided).toMatchObject({ level: 30, job: 'stop', why: 'not a restart' });
    await sup.log.waitFor('draining');
    // The old instance relays it to its end: the client finishes, and gets every byte back.
    client.end('after');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe('after');
    await sup.next('stopped', 15_000);
    expect(sup.log.lines.some((l) => l.msg === 'handed over to the fd store')).toBe(false);
    expect(backend.accepted).toBe(1);
  });

  it('keeps UDP sessions across a restart: same upstream socket, replies still reach the client', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(() => backend.close());
    const sup = new FdStoreSupervisor([{ type: 'dgram', name: 'dns' }], [`127.0.0.1:${backend.port}`], 16);
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    const client = createSocket('udp4');
    cleanups.push(() => client.close());
    const first = await ask(client, 'one', sup.ports[0]!);
    expect(first).toMatch(/^\d+\|one$/);
    sup.send('restart');
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.sessions === 1);
    // One session throughout: the reply names the same upstream port as before the restart.
    expect(await ask(client, 'two', sup.ports[0]!)).toBe(`${first.split('|')[0]}|two`);
    expect(backend.received).toBe(2);
    expect(backend.sources.size).toBe(1);
  });

  it('rejects garbage in the store cleanly and starts anyway', async () => {
    const { sup } = await setup();
    const wellFormed = encodeHandoverName({
      kind: 'tcp',
      id: '1.0',
      role: 'client',
      listener: 'web',
      bytesIn: 0n,
      bytesOut: 0n,
    });
    sup.send(`store-garbage ${HANDOVER_PREFIX}not-base64-json`);
    sup.send(`store-garbage ${wellFormed}`);
    await sup.next('stored-garbage');
    await sup.next('stored-garbage');
    sup.send('restart');
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 0);
    const rejected = sup.log.lines.filter((l) => l.msg === 'handed-over fd rejected and closed');
    expect(rejected.map((l) => l.why)).toEqual(['malformed name', 'a fifo, not a socket']);
    const client = dial(sup.ports[0]!);
    const done = collect(client);
    client.end('still serving');
    expect((await done).received.toString()).toBe('still serving');
  });
});
