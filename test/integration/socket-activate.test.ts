/** The built CLI under systemd's own activator, systemd-socket-activate. */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import {
  dial,
  echo,
  freePort,
  hashReply,
  randomBytes,
  sendAndCollect,
  sha256,
  startServer,
  type TestServer,
} from '../helpers/net.js';
import { ask, echoBackend } from '../helpers/udp.js';
import { underSocketActivate, type RunningProcess } from '../helpers/proxy.js';
import { has } from '../helpers/requires.js';

const MiB = 1024 * 1024;

describe.skipIf(!has('systemd-socket-activate'))('sockrelay under systemd-socket-activate', () => {
  const cleanups = useCleanups();
  const track = <T extends TestServer | RunningProcess>(x: T): T => {
    cleanups.push(() => ('close' in x ? x.close() : x.stop()));
    return x;
  };

  it('forwards 8 MiB both ways, sha256-checked', async () => {
    const upload = await track(await startServer(hashReply));
    const payload = randomBytes(8 * MiB);
    const download = await track(await startServer((s) => s.end(payload)));
    const [upPort, downPort] = [await freePort(), await freePort()];
    track(await underSocketActivate(['-l', `127.0.0.1:${upPort}`], [upload.address]));
    track(await underSocketActivate(['-l', `127.0.0.1:${downPort}`], [download.address]));

    const up = await sendAndCollect(dial(upPort), payload);
    expect(up.received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
    const down = await sendAndCollect(dial(downPort), Buffer.alloc(0));
    expect(sha256(down.received)).toBe(sha256(payload));
  });

  it('keeps the half-close: the reply after the client shut down writing arrives', async () => {
    const backend = await track(await startServer(hashReply));
    const port = await freePort();
    track(await underSocketActivate(['-l', `127.0.0.1:${port}`], [backend.address]));
    const { received, error } = await sendAndCollect(dial(port), Buffer.from('ping'));
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(Buffer.from('ping'))} 4`);
  });

  it('adopts several named sockets, IPv4 and IPv6, and logs them at start', async () => {
    const backend = await track(await startServer(echo));
    const [v4, v6] = [await freePort(), await freePort('::1')];
    const proxy = track(
      await underSocketActivate(
        ['-l', `127.0.0.1:${v4}`, '-l', `[::1]:${v6}`, '--fdname=web:web6'],
        ['--exit-idle-time=infinity', backend.address],
      ),
    );
    const first = await sendAndCollect(dial(v4), Buffer.from('four'));
    expect(first.received.toString()).toBe('four');
    const started = await proxy.log.waitFor('sockrelay started');
    expect(started.listeners).toEqual([
      {
        fd: 3,
        name: 'web',
        address: `127.0.0.1:${v4}`,
        family: 'inet',
        kind: 'stream-listener',
        backend: backend.address,
      },
      {
        fd: 4,
        name: 'web6',
        address: `[::1]:${v6}`,
        family: 'inet6',
        kind: 'stream-listener',
        backend: backend.address,
      },
    ]);
    const second = await sendAndCollect(dial(`[::1]:${v6}`), Buffer.from('six'));
    expect(second.received.toString()).toBe('six');
  });

  it('resets the client when the backend refuses and the connect timeout is 0, logging the errno', async () => {
    const dead = await freePort();
    const port = await freePort();
    const proxy = track(
      await underSocketActivate(['-l', `127.0.0.1:${port}`], ['--connect-timeout=0', `127.0.0.1:${dead}`]),
    );
    const { received } = await sendAndCollect(dial(port), Buffer.from('hello'));
    expect(received.length).toBe(0);
    const warning = await proxy.log.waitFor('backend connect failed');
    expect(warning).toMatchObject({ level: 40, code: 'ECONNREFUSED', backend: `127.0.0.1:${dead}` });
    // The daemon is still up and serving.
    expect(proxy.child.exitCode).toBeNull();
  });

  it('forwards datagrams from an inherited datagram socket (-d), replies to the right client', async () => {
    const { createSocket } = await import('node:dgram');
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(() => backend.close());
    const port = await freePort();
    track(await underSocketActivate(['-d', '-l', `127.0.0.1:${port}`], [`127.0.0.1:${backend.port}`]));
    const clients = [createSocket('udp4'), createSocket('udp4')];
    cleanups.push(() => clients.forEach((c) => c.close()));
    const replies = await Promise.all([ask(clients[0]!, 'one', port), ask(clients[1]!, 'two', port)]);
    // Each client got its own reply, through its own session (upstream socket).
    expect(replies[0]).toMatch(/^\d+\|one$/);
    expect(replies[1]).toMatch(/^\d+\|two$/);
    expect(backend.sources.size).toBe(2);
  });

  it('serves a connection right after exec, the way systemd-socket-activate hands over the first client', async () => {
    const backend = await track(await startServer(echo));
    const port = await freePort();
    const proxy = track(
      await underSocketActivate(['-l', `127.0.0.1:${port}`], ['--log-level=debug', backend.address]),
    );
    const client = dial(port);
    await once(client, 'connect');
    const { received } = await sendAndCollect(client, Buffer.from('first'));
    expect(received.toString()).toBe('first');
    await proxy.log.waitFor('connection closed');
  });
});
