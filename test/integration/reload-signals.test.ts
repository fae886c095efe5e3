/**
 * Signals that arrive while a reload (SIGHUP) re-executes the process, outside systemd (--listen):
 * more SIGHUPs must not kill it, and a stop must still stop it, draining the live stream.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { collect, dial, echo, freePort, randomBytes, sha256, startServer } from '../helpers/net.js';
import { runCli, type RunningProcess } from '../helpers/proxy.js';

const HALF = 256 * 1024;

/** The C library this very process runs with: a preload any Node program takes without change. */
const libc = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.split(/\s+/)[5] ?? '')
    .find((file) => /\/libc\.so\.6$/.test(file))!;

/** Whether `pid` now runs the program a reload exec'd: only that one has LISTEN_FDS in its environment. */
const execd = (pid: number) =>
  readFileSync(`/proc/${pid}/environ`, 'latin1')
    .split('\0')
    .some((v) => v.startsWith('LISTEN_FDS='));

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

  // Failed before: a stop in the old program's last moments went to a listener whose loop never ran
  // again (lost: the process served on), and one in the new program's start-up ended it at once
  // (killed by the signal), cutting the stream it had been handed.
  it.each([
    ['SIGTERM', 'as the old program says it re-executes', {}],
    ['SIGTERM', 'once the new program runs', {}],
    ['SIGINT', 'once the new program runs', {}],
    ['SIGTERM', 'once the new program runs, with an LD_PRELOAD of its own', { LD_PRELOAD: libc() }],
  ])('a %s sent %s stops the new program once it serves, draining', async (signal, when, env) => {
    const { proxy, finish } = await proxyWithStream(env);
    const pid = proxy.child.pid!;
    proxy.child.kill('SIGHUP');
    await proxy.log.waitFor('re-executing with the live connections');
    // Seen as soon as the exec is done, long before the new program listens (Node's start-up alone
    // takes tens of milliseconds).
    if (when.startsWith('once'))
      await expect.poll(() => execd(pid), { interval: 1, timeout: 15_000 }).toBe(true);
    proxy.child.kill(signal as NodeJS.Signals);
    await finish();
    expect(await proxy.exited).toBe(0);
    expect(count(proxy, 'sockrelay started')).toBe(2);
    // Held for the new program, not heard by a listener it had by then.
    expect(count(proxy, 'a stop arrived during the reload: stopping now')).toBe(1);
    expect(proxy.log.lines.find((l) => l.msg === 'sockrelay stopped')?.reason).toBe(signal);
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
