/**
 * Per-source counts across a restart through the fd store (test/helpers/fdstore-supervisor.py) and a
 * reload (SIGHUP, handed over to a successor process): the connections and UDP sessions a previous
 * instance handed over count for their source in the next, so a client cannot double its share by
 * waiting for a restart.
 */
import { describe, expect, it } from 'vitest';
import { HANDOVER_PREFIX } from '../../src/handover/fd-names.js';
import { useCleanups } from '../helpers/cleanups.js';
import { endSuccessorAtCleanup } from '../helpers/reloading.js';
import { FdStoreSupervisor } from '../helpers/fdstore.js';
import { echo, freePort, startServer } from '../helpers/net.js';
import { runCli } from '../helpers/proxy.js';
import { echoBackend } from '../helpers/udp.js';
import { sourcePeer, type Peer } from './peers.js';

describe('per-source counts across a restart', () => {
  const cleanups = useCleanups();
  const track = (p: Peer): Peer => (cleanups.push(() => p.stop()), p);

  async function restarted(sup: FdStoreSupervisor, what: Record<string, number>): Promise<void> {
    sup.send('restart');
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor(
      (l) =>
        l.msg === 'resumed handed-over connections' && Object.entries(what).every(([k, v]) => l[k] === v),
    );
  }

  it('TCP: the 2 connections handed over hold their source’s 2; a third is reset, another source served', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const sup = new FdStoreSupervisor(
      [{ type: 'stream', name: 'web' }],
      ['--connections-per-source=2', backend.address],
      64,
    );
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    const port = sup.ports[0]!;
    const holder = track(sourcePeer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 2));
    expect(await holder.next('held')).toMatchObject({ served: 2, reset: 0 });

    await restarted(sup, { connections: 2 });

    const third = track(sourcePeer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 1));
    expect(await third.next('held')).toMatchObject({ served: 0, reset: 1 });
    const other = track(sourcePeer(null, 'tcp-ask', '127.0.0.1', port, '127.0.0.3'));
    expect(await other.next('answer')).toMatchObject({ text: 'hi' });
    // The handed-over ones are still relayed (the holder never saw them end).
    expect(holder.events.filter((e) => e.event === 'reset')).toHaveLength(0);
  });

  it('UDP: the session handed over holds its source’s 1; a new one from it is dropped, another source served', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'plain');
    cleanups.push(() => backend.close());
    const sup = new FdStoreSupervisor(
      [{ type: 'dgram', name: 'dns' }],
      ['--connections-per-source=1', `127.0.0.1:${backend.port}`],
      16,
    );
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    await sup.next('started');
    const port = sup.ports[0]!;
    const first = track(sourcePeer(null, 'udp-hold', '127.0.0.1', port, '127.0.0.2', 1));
    await first.next('served');

    await restarted(sup, { sessions: 1 });

    track(sourcePeer(null, 'udp-hold', '127.0.0.1', port, '127.0.0.2', 1));
    await sup.log.waitFor((l) => l.reason === 'per-source' && l.source === '127.0.0.2');
    const other = track(sourcePeer(null, 'udp-ask', '127.0.0.1', port, '127.0.0.3'));
    expect(await other.next('answer')).toMatchObject({ text: 'hi' });
  });

  it('TCP reload: the 2 connections carried through the exec hold their source’s 2', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const port = await freePort();
    const proxy = runCli([
      '--listen',
      `127.0.0.1:${port}`,
      '--connections-per-source=2',
      '--exit-idle-time=infinity',
      backend.address,
    ]);
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');
    const holder = track(sourcePeer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 2));
    expect(await holder.next('held')).toMatchObject({ served: 2, reset: 0 });

    proxy.child.kill('SIGHUP');
    endSuccessorAtCleanup(proxy, cleanups);
    await proxy.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 2);

    const third = track(sourcePeer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 1));
    expect(await third.next('held')).toMatchObject({ served: 0, reset: 1 });
    const other = track(sourcePeer(null, 'tcp-ask', '127.0.0.1', port, '127.0.0.3'));
    expect(await other.next('answer')).toMatchObject({ text: 'hi' });
  });
});
