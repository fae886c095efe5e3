/**
 * A client held while its backend starts (--connect-timeout) moves with a handover, reload or
 * restart, like a connection already relaying (issue 27 item 4). Before, only relaying connections
 * were exported: one still connecting stayed behind in the old process, which kept running (a
 * reload) or kept the restart waiting (the fd store) until its backend answered or its deadline
 * passed.
 *
 * The backend is a port nothing listens on yet: the relay retries with backoff until the deadline.
 * It starts only once the old process has gone, so whatever serves the client then is the new one.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HANDOVER_PREFIX } from '../../src/handover/fd-names.js';
import { useCleanups } from '../helpers/cleanups.js';
import { FdStoreSupervisor } from '../helpers/fdstore.js';
import { collect, dial, freePort, randomBytes, sha256, startServer } from '../helpers/net.js';
import type { LogReader } from '../helpers/proxy.js';
import { runReloading, type ReloadingProxy } from '../helpers/reloading.js';

/** A backend that reads until EOF, then answers with `reply` and closes; `received` is what it read. */
function lateBackend(reply: Buffer) {
  let resolveReceived: (b: Buffer) => void = () => undefined;
  const received = new Promise<Buffer>((resolve) => (resolveReceived = resolve));
  const handler = (socket: Socket): void => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      resolveReceived(Buffer.concat(chunks));
      socket.end(reply);
    });
  };
  return { handler, received };
}

/** The proxy has accepted the client (it is connecting now), as its debug log says. */
const accepted = (log: LogReader, pid: number) =>
  log.waitFor((l) => l.msg === 'connection open' && l.pid === pid);

describe('a client waiting for its backend, across a handover', () => {
  const cleanups = useCleanups();

  async function reloading(args: string[]): Promise<{ proxy: ReloadingProxy; port: number }> {
    const port = await freePort();
    const proxy = runReloading([
      '--listen',
      `127.0.0.1:${port}`,
      '--exit-idle-time=infinity',
      '--log-level=debug',
      ...args,
    ]);
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');
    return { proxy, port };
  }

  /** SIGHUP; resolves once the successor adopted one connection and the old process exited 0. */
  async function reloadAndRetire(proxy: ReloadingProxy): Promise<number> {
    const first = proxy.servingPid();
    proxy.signalMain(first, 'SIGHUP');
    const resumed = await proxy.log.waitFor(
      (l) => l.msg === 'resumed handed-over connections' && l.connections === 1,
    );
    expect(resumed.pid).not.toBe(first);
    // Nothing is left behind: the old process has nothing more to relay.
    await expect.poll(() => proxy.reaped().get(first), { timeout: 15_000 }).toBe(0);
    return resumed.pid as number;
  }

  it('reload: moves to the successor, which connects once the backend is up; bytes intact both ways, PROXY header first', async () => {
    const backendPort = await freePort();
    const { proxy, port } = await reloading([
      '--connect-timeout=60s',
      '--proxy-protocol=v1',
      `127.0.0.1:${backendPort}`,
    ]);
    const client = dial(port);
    const exchange = collect(client, 30_000);
    await once(client, 'connect');
    const payload = randomBytes(192 * 1024);
    client.write(payload.subarray(0, 64 * 1024));
    await accepted(proxy.log, proxy.servingPid());

    const successor = await reloadAndRetire(proxy);

    const reply = randomBytes(160 * 1024);
    const late = lateBackend(reply);
    const backend = await startServer(late.handler, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    client.end(payload.subarray(64 * 1024));
    const header = `PROXY TCP4 127.0.0.1 127.0.0.1 ${client.localPort} ${port}\r\n`;
    const received = await late.received;
    expect(received.subarray(0, header.length).toString('latin1')).toBe(header);
    expect(sha256(received.subarray(header.length))).toBe(sha256(payload));
    const { received: answered, error } = await exchange;
    expect(error).toBeNull();
    expect(sha256(answered)).toBe(sha256(reply));
    expect(backend.accepted).toBe(1);
    expect(proxy.reaped().has(successor)).toBe(false);
  });

  it('reload: a client whose deadline passes after the handover is reset, logged once, by the successor', async () => {
    const backendPort = await freePort();
    const { proxy, port } = await reloading([
      '--connect-timeout=8s',
      '--access-log',
      `127.0.0.1:${backendPort}`,
    ]);
    const client = dial(port);
    const exchange = collect(client, 30_000);
    await once(client, 'connect');
    const clientPort = client.localPort;
    client.write('waiting');
    await accepted(proxy.log, proxy.servingPid());

    const successor = await reloadAndRetire(proxy);

    // As without the reload: the client sees a reset at the deadline.
    const { error } = await exchange;
    expect(error?.code).toBe('ECONNRESET');
    // The backend refused every retry, so the failure names the last refusal, as without a reload.
    const failed = await proxy.log.waitFor((l) => l.msg === 'backend connect failed');
    expect(failed.code).toBe('ECONNREFUSED');
    expect(failed.pid).toBe(successor);
    // One access line for it, from the successor: the export is no close in the old process.
    const lines = proxy.log.lines.filter((l) => typeof l.end === 'string');
    expect(lines.map((l) => [l.pid, l.end, l.client])).toEqual([
      [successor, 'connect-failed', `127.0.0.1:${clientPort}`],
    ]);
  });

  it('reload: the moved client counts for its source, so the next one from it is reset', async () => {
    const backendPort = await freePort();
    const { proxy, port } = await reloading([
      '--connect-timeout=60s',
      '--connections-per-source=1',
      `127.0.0.1:${backendPort}`,
    ]);
    const fromSource = (): Socket =>
      connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2', allowHalfOpen: true });
    const holder = fromSource();
    const held = collect(holder, 30_000);
    await once(holder, 'connect');
    await accepted(proxy.log, proxy.servingPid());

    await reloadAndRetire(proxy);

    const second = fromSource();
    const { received, error } = await collect(second, 10_000);
    expect(received.length).toBe(0);
    expect(error?.code).toBe('ECONNRESET');
    await proxy.log.waitFor((l) => l.reason === 'refused-per-source' && l.source === '127.0.0.2');
    // The one held is still waiting for its backend, and is served once it is up.
    const late = lateBackend(Buffer.from('served'));
    const backend = await startServer(late.handler, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    holder.end('held');
    expect((await late.received).toString()).toBe('held');
    expect((await held).received.toString()).toBe('served');
  });

  /** An fd store supervisor around a relay to a backend port nothing listens on yet, started. */
  async function storeSupervisor(fdstore: number, backendPort: number) {
    const sup = new FdStoreSupervisor(
      [{ type: 'stream', name: 'web' }],
      ['--connect-timeout=60s', '--log-level=debug', `127.0.0.1:${backendPort}`],
      fdstore,
    );
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    const started = await sup.next('started');
    await sup.log.waitFor('sockrelay started');
    return { sup, pid: started.pid as number };
  }

  it('fd store restart: a client still connecting takes one fd of the store, not two', async () => {
    const backendPort = await freePort();
    const { sup, pid } = await storeSupervisor(1, backendPort);
    const client = dial(sup.ports[0]!);
    const exchange = collect(client, 30_000);
    await once(client, 'connect');
    await accepted(sup.log, pid);
    sup.send('restart');
    const handed = await sup.log.waitFor('handed over to the fd store');
    expect(handed).toMatchObject({ storedConnections: 1, overflow: 0 });
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    const late = lateBackend(Buffer.from('answer'));
    const backend = await startServer(late.handler, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    client.end('question');
    expect((await late.received).toString()).toBe('question');
    expect((await exchange).received.toString()).toBe('answer');
  });

  it('fd store restart: a client still connecting that the store refuses is connected by the old instance', async () => {
    const backendPort = await freePort();
    const { sup, pid } = await storeSupervisor(64, backendPort);
    const client = dial(sup.ports[0]!);
    const exchange = collect(client, 30_000);
    await once(client, 'connect');
    await accepted(sup.log, pid);
    sup.send('close-notify');
    await sup.next('notify-closed');
    sup.send('restart');
    const handed = await sup.log.waitFor('handed over to the fd store');
    expect(handed).toMatchObject({ storedConnections: 0, overflow: 1 });
    // Drained, never dropped: the old instance connects it once the backend is up, then ends.
    const late = lateBackend(Buffer.from('answer'));
    const backend = await startServer(late.handler, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    client.end('question');
    expect((await late.received).toString()).toBe('question');
    const { received, error } = await exchange;
    expect(error).toBeNull();
    expect(received.toString()).toBe('answer');
    await sup.next('started', 15_000);
    expect(backend.accepted).toBe(1);
  });

  it('fd store restart: moves to the next instance, which connects once the backend is up; bytes intact both ways', async () => {
    const backendPort = await freePort();
    const sup = new FdStoreSupervisor(
      [{ type: 'stream', name: 'web' }],
      ['--connect-timeout=60s', '--log-level=debug', `127.0.0.1:${backendPort}`],
      64,
    );
    cleanups.push(() => sup.stop());
    await sup.next('listening');
    sup.send('start');
    const started = await sup.next('started');
    await sup.log.waitFor('sockrelay started');
    const client = dial(sup.ports[0]!);
    const exchange = collect(client, 30_000);
    await once(client, 'connect');
    const payload = randomBytes(192 * 1024);
    client.write(payload.subarray(0, 64 * 1024));
    await accepted(sup.log, started.pid as number);

    sup.send('restart');
    // The old instance had nothing left to drain, so the restart completes without the backend.
    await sup.next('started', 15_000, (e) => (e.names as string).includes(HANDOVER_PREFIX));
    await sup.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);

    const reply = randomBytes(160 * 1024);
    const late = lateBackend(reply);
    const backend = await startServer(late.handler, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    client.end(payload.subarray(64 * 1024));
    expect(sha256(await late.received)).toBe(sha256(payload));
    const { received, error } = await exchange;
    expect(error).toBeNull();
    expect(sha256(received)).toBe(sha256(reply));
    expect(backend.accepted).toBe(1);
  });
});
