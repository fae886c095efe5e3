/**
 * The safety net of a handover: a connection parked in systemd's fd store that never reaches a
 * next instance (the store emptied by a stop, an overflow, a unit gone) must end in a reset for
 * both peers, never in a clean end that would pass a cut stream off as a whole one. And a
 * connection that does reach the next instance ends the ordinary way there.
 * The fd store is test/helpers/fdstore-supervisor.py, which does what systemd does with it.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { HANDOVER_PREFIX } from '../../src/handover/fd-names.js';
import { FdStoreSupervisor } from '../helpers/fdstore.js';
import { collect, dial, startServer } from '../helpers/net.js';

/** How a socket's stream ends: 'eof' (a clean FIN), or the error code (ECONNRESET for a reset). */
function howItEnds(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('end', () => resolve('eof'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('connections in the fd store', () => {
  const cleanups = useCleanups();

  /** A proxy with a store, one connection through it that has moved bytes, and the backend's side of it. */
  async function connectionThroughProxy() {
    const backendSide: Socket[] = [];
    const backend = await startServer((s) => void backendSide.push(s));
    cleanups.push(() => backend.close());
    const sup = new FdStoreSupervisor([{ type: 'stream', name: 'web' }], [backend.address], 64);
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    await sup.log.waitFor('sockrelay started');
    const client = dial(sup.ports[0]!);
    await once(client, 'connect');
    await expect.poll(() => backendSide.length).toBe(1);
    const server = backendSide[0]!;
    // Bytes both ways: the connection is relaying, so a restart hands it over.
    client.write('ping');
    await once(server, 'data');
    server.write('pong');
    await once(client, 'data');
    return { sup, client, server };
  }

  it('a stored connection whose store is emptied ends in a reset for the client and the backend, not EOF', async () => {
    const { sup, client, server } = await connectionThroughProxy();
    const ends = Promise.all([howItEnds(client), howItEnds(server)]);
    sup.send('hand-over');
    expect((await sup.next('handed-over')).stored).toBe(2);
    sup.send('empty-store');
    await sup.next('store-emptied');
    expect(await ends).toEqual(['ECONNRESET', 'ECONNRESET']);
  });

  it('a resumed connection ends the ordinary way: a FIN after the last byte, no reset', async () => {
    const { sup, client, server } = await connectionThroughProxy();
    const clientEnd = collect(client);
    sup.send('restart');
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    server.end('last words');
    client.end();
    const c = await clientEnd;
    expect(c.error).toBeNull();
    expect(c.received.toString()).toBe('last words');
  });
});
