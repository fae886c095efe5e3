/**
 * Signals that arrive while a reload (SIGHUP) re-executes the process, outside systemd (--listen):
 * more SIGHUPs must not kill it, and a stop must still stop it, draining the live stream.
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { collect, dial, echo, freePort, randomBytes, sha256, startServer } from '../helpers/net.js';
import { runCli, type RunningProcess } from '../helpers/proxy.js';

const HALF = 256 * 1024;

describe('signals during a reload', () => {
  const cleanups = useCleanups();

  async function proxyWithStream(env: NodeJS.ProcessEnv = {}) {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const port = await freePort();
    const proxy = runCli(
      [
        '--listen',
        `127.0.0.1:${port}`,
        '--exit-idle-time=infinity',
        '--shutdown-timeout=20s',
        backend.address,
      ],
      { ...process.env, ...env },
    );
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');
    const payload = randomBytes(2 * HALF);
    const client = dial(port);
    const exchange = collect(client, 60_000);
    client.write(payload.subarray(0, HALF));
    await expect.poll(() => [...backend.sockets][0]?.bytesWritten ?? 0, { timeout: 10_000 }).toBe(HALF);
    return {
      backend,
      proxy,
      /** Sends the rest and checks every byte came back over the one backend connection. */
      finish: async () => {
        client.end(payload.subarray(HALF));
        const { received, error } = await exchange;
        expect(error).toBeNull();
        expect(sha256(received)).toBe(sha256(payload));
        expect(backend.accepted).toBe(1);
      },
    };
  }

  const count = (p: RunningProcess, msg: string) => p.log.lines.filter((l) => l.msg === msg).length;

  // Failed before: a SIGHUP between the exec and the new program's listener killed the process.
  it('a flood of SIGHUPs across the re-exec does not kill the process, and the stream goes on intact', async () => {
    const { proxy, finish } = await proxyWithStream();
    const pid = proxy.child.pid!;
    // Every 5 ms from the first SIGHUP until the new program has started and a while beyond: some
    // land in the old program's reload, some in the exec, some in the new program's start-up.
    const floodUntil = Date.now() + 15_000;
    let afterStarted = 0;
    while (Date.now() < floodUntil && afterStarted < 100 && proxy.child.exitCode === null) {
      proxy.child.kill('SIGHUP');
      if (count(proxy, 'sockrelay started') >= 2) afterStarted++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(proxy.child.signalCode).toBeNull();
    expect(proxy.child.exitCode).toBeNull();
    expect(count(proxy, 'sockrelay started')).toBeGreaterThanOrEqual(2);
    // Some did land between an exec and the new program's own listener, and asked for a reload.
    expect(count(proxy, 'SIGHUP during the re-exec: reloading again')).toBeGreaterThanOrEqual(1);
    expect(proxy.log.lines.filter((l) => l.msg === 'sockrelay started').every((l) => l.pid === pid)).toBe(
      true,
    );
    await finish();
    // And it still stops as asked, whatever reload the flood left under way.
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
  });

  // Failed before: the stop drained while the reload went on, and the new program served on.
  it('a SIGTERM while a reload checks the new configuration abandons the reload and drains', async () => {
    const { proxy, finish } = await proxyWithStream();
    proxy.child.kill('SIGHUP');
    await proxy.log.waitFor('reloading');
    proxy.child.kill('SIGTERM');
    // The stream outlasts the check: the reload must not go on with it (before, it re-executed).
    await proxy.log.waitFor(
      (l) => l.msg === 'reload abandoned: stopping' || l.msg === 're-executing with the live connections',
      15_000,
    );
    await finish();
    expect(await proxy.exited).toBe(0);
    expect(count(proxy, 'sockrelay started')).toBe(1);
  });

  it('a stop passed on by a reload stops the new program as soon as it serves', async () => {
    const port = await freePort();
    const proxy = runCli(['--listen', `127.0.0.1:${port}`, '--exit-idle-time=infinity', '127.0.0.1:1'], {
      ...process.env,
      SOCKRELAY_STOP_AFTER_RELOAD: 'SIGTERM',
    });
    cleanups.push(() => proxy.stop());
    expect(await proxy.exited).toBe(0);
    const messages = proxy.log.lines.map((l) => l.msg);
    expect(messages.indexOf('a stop arrived during the reload: stopping now')).toBeGreaterThan(
      messages.indexOf('sockrelay started'),
    );
    expect(proxy.log.lines.find((l) => l.msg === 'sockrelay stopped')?.reason).toBe('SIGTERM');
  });
});
