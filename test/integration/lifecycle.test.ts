/**
 * Lifecycle through the test activator, which holds the listening socket the
 * way a .socket unit does and starts sockrelay again after it exits.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import {
  collect,
  dial,
  echo,
  hashReply,
  randomBytes,
  sendAndCollect,
  sha256,
  startServer,
} from '../helpers/net.js';
import { runCli, supervise, type Supervised } from '../helpers/proxy.js';

const loopback = { family: 'inet', address: '127.0.0.1', port: 0 } as const;

describe('sockrelay lifecycle', () => {
  const cleanups = useCleanups();
  async function backendWith(handler: (s: Socket) => void) {
    const s = await startServer(handler);
    cleanups.push(() => s.close());
    return s;
  }
  function supervised(...[sockets, args, options]: Parameters<typeof supervise>): Supervised {
    const s = supervise(sockets, args, options);
    cleanups.push(() => s.stop());
    return s;
  }

  it('exits 0 after the idle time even if no client ever connects', async () => {
    const backend = await backendWith(echo);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--exit-idle-time=300ms', backend.address],
      {
        spawn: 'now',
        respawn: false,
      },
    );
    const proxy = await sup.nextActivation();
    expect(await proxy.exitStatus()).toBe(0);
    expect(await proxy.log.waitFor('sockrelay stopped')).toMatchObject({ reason: 'idle' });
  });

  it('does not exit while a connection is open, and exits once it closes', async () => {
    const backend = await backendWith(echo);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--exit-idle-time=300ms', backend.address],
      {
        respawn: false,
      },
    );
    const client = dial(sup.activator.port(0));
    client.write('hold');
    await once(client, 'data');
    const proxy = await sup.nextActivation();
    // Well past the idle time, the open connection still works.
    await new Promise((r) => setTimeout(r, 900));
    expect(proxy.child.exitCode).toBeNull();
    const { received } = await sendAndCollect(client, Buffer.from(' still here'));
    expect(received.toString()).toBe(' still here');
    expect(await proxy.exitStatus()).toBe(0);
  });

  it('is activated again by the next client after an idle exit, with nothing lost', async () => {
    const backend = await backendWith(hashReply);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--exit-idle-time=200ms', backend.address],
    );
    const port = sup.activator.port(0);
    const payload = randomBytes(1024 * 1024);
    for (let round = 0; round < 3; round++) {
      const { received } = await sendAndCollect(dial(port), payload);
      expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
      const proxy = await sup.nextActivation();
      expect(await proxy.exitStatus()).toBe(0);
    }
    expect(sup.activations).toHaveLength(3);
  });

  it('on SIGTERM stops accepting, lets open connections finish, then exits 0', async () => {
    const backend = await backendWith(hashReply);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--shutdown-timeout=20s', backend.address],
      {
        respawn: false,
      },
    );
    const port = sup.activator.port(0);
    const client = dial(port);
    client.write('part one;');
    const proxy = await sup.nextActivation();
    await proxy.log.waitFor('sockrelay started');
    // The engine runs before it says so: the backend may have the connection already.
    await expect.poll(() => backend.accepted).toBe(1);
    proxy.child.kill('SIGTERM');
    await proxy.log.waitFor('draining');
    // A new client now waits in the backlog for the next activation instead of being served.
    const late = dial(port);
    await once(late, 'connect');
    const { received, error } = await sendAndCollect(client, Buffer.from('part two'));
    expect(error).toBeNull();
    expect(received.toString()).toBe(`${sha256(Buffer.from('part one;part two'))} 17`);
    expect(await proxy.exitStatus()).toBe(0);
    expect(backend.accepted).toBe(1);
    late.destroy();
  });

  it('after --shutdown-timeout resets the connections still open, and exits 0', async () => {
    const backend = await backendWith(echo);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--shutdown-timeout=300ms', backend.address],
      {
        respawn: false,
      },
    );
    const client = dial(sup.activator.port(0));
    client.write('x');
    await once(client, 'data');
    const proxy = await sup.nextActivation();
    const closed = collect(client);
    proxy.child.kill('SIGTERM');
    expect(await proxy.exitStatus()).toBe(0);
    expect((await closed).error?.code).toBe('ECONNRESET');
    expect(await proxy.log.waitFor('shutdown timeout: resetting open connections')).toMatchObject({
      open: 1,
    });
  });

  it('with -c 2 serves the third client once one of the first two closes, without resetting it', async () => {
    const backend = await backendWith(echo);
    const sup = supervised([{ address: loopback, type: 'stream' }], ['-c', '2', backend.address]);
    const port = sup.activator.port(0);
    const [a, b] = [dial(port), dial(port)];
    for (const c of [a, b]) {
      c.write('x');
      await once(c, 'data');
    }
    const third = sendAndCollect(dial(port), Buffer.from('third'));
    let answered = false;
    void third.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    a.end();
    const { received, error } = await third;
    expect(error).toBeNull();
    expect(received.toString()).toBe('third');
    b.destroy();
  });

  it('does not spin or reset clients when fds run out, and serves again once they free up', async () => {
    const backend = await backendWith(echo);
    // Soft and hard limit both 128: the proxy cannot raise it, and cannot hold 60 proxied connections.
    const sup = supervised([{ address: loopback, type: 'stream' }], ['--log-level=warn', backend.address], {
      wrapper: ['prlimit', '--nofile=128:128', '--'],
      spawn: 'now',
      respawn: false,
    });
    const proxy = await sup.nextActivation();
    const pid = proxy.child.pid!;
    const port = sup.activator.port(0);
    const held: Socket[] = [];
    const errors: string[] = [];
    let echoed = 0;
    cleanups.push(() => held.forEach((s) => s.destroy()));
    for (let i = 0; i < 60; i++) {
      const c = dial(port);
      c.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? 'error'));
      c.once('data', () => echoed++);
      held.push(c);
      c.write('x');
    }
    // Some are served, the rest must wait unharmed.
    await expect.poll(() => echoed >= 5, { timeout: 10_000 }).toBe(true);
    const cpu = (): number => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
    };
    const before = cpu();
    await new Promise((r) => setTimeout(r, 1000));
    // A spinning accept loop burns ~100 ticks a second; a paused one almost none.
    expect(cpu() - before).toBeLessThan(50);
    expect(echoed).toBeLessThan(60);
    expect(errors).toEqual([]);
    for (const c of held.splice(0)) c.destroy();
    const { received } = await sendAndCollect(dial(port), Buffer.from('after'));
    expect(received.toString()).toBe('after');
  });

  it('runs by hand with --listen, binding its own socket', async () => {
    const backend = await backendWith(echo);
    const proxy = runCli(['--listen', '127.0.0.1:0', backend.address]);
    cleanups.push(() => proxy.stop());
    const started = await proxy.log.waitFor('sockrelay started');
    const address = (started.listeners as Array<{ address: string }>)[0]!.address;
    const { received } = await sendAndCollect(dial(address), Buffer.from('by hand'));
    expect(received.toString()).toBe('by hand');
    proxy.child.kill('SIGTERM');
    expect(await proxy.exitStatus()).toBe(0);
  });
});
