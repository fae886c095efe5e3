/**
 * A handover is all or nothing (issue 27 items 1 and 3): with a listener named as long as systemd
 * allows (255; here 200), a restart through the fd store still carries the live connection.
 * Failed before: the names were encoded only after every connection had been taken out of the
 * engine; "handover name too long (357 > 255)" threw, "handover failed: draining instead" was
 * logged, and the connection — its reset safety net already set, nothing left to drain — was
 * reset at once.
 * The fd store is test/helpers/fdstore-supervisor.py, which does what systemd does with it.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { HANDOVER_PREFIX } from '../../src/handover/fd-names.js';
import { FdStoreSupervisor } from '../helpers/fdstore.js';
import { collect, dial, echo, startServer } from '../helpers/net.js';

describe('handover names', () => {
  const cleanups = useCleanups();

  it('a restart carries a live connection of a listener with a 200-character name', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const name = 'n'.repeat(200);
    const sup = new FdStoreSupervisor([{ type: 'stream', name }], [backend.address], 64);
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    await sup.log.waitFor('sockrelay started');
    const client = dial(sup.ports[0]!);
    await once(client, 'connect');
    const done = collect(client, 30_000);
    client.write('before;');
    await expect.poll(() => [...backend.sockets][0]?.bytesWritten ?? 0).toBe(7);
    sup.send('restart');
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    client.end('after');
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(received.toString()).toBe('before;after');
    expect(backend.accepted).toBe(1);
    expect(sup.log.lines.filter((l) => l.msg === 'handover failed: draining instead')).toEqual([]);
  });
});
