/**
 * Values that parse but that the kernel, the timers or the native API cannot take are usage errors
 * (exit 64, one line naming the flag and the limit), not an "internal error" once the daemon starts;
 * and `--listen HOST:PORT` takes a host name, as the help says.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, sendAndCollect, startServer } from '../helpers/net.js';
import { CLI, runCli } from '../helpers/proxy.js';

function run(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: result.status, stderr: result.stderr };
}

const pipeMax = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));

describe('command-line values out of range', () => {
  it.each([
    [['--pipe-size=2G'], /--pipe-size: '2G' is more than .*pipe-max-size/],
    [[`--pipe-size=${pipeMax * 2}`], /--pipe-size: '\d+' is more than .*pipe-max-size/],
    [['--keepalive=100y'], /--keepalive: '100y' is more than .*9h/],
    [['--keepalive=10h'], /--keepalive: '10h' is more than/],
    [['--connection-idle-timeout=100y'], /--connection-idle-timeout: '100y' is more than .*24d|infinity/],
    [['--udp-session-timeout=100y'], /--udp-session-timeout: '100y' is more than/],
  ])('rejects %j with exit code 64, one line and the reason', (flags, message) => {
    // --listen makes the daemon start for real if validation lets the value through.
    const { code, stderr } = run([...flags, '--listen', '127.0.0.1:0', '127.0.0.1:1']);
    expect(stderr).toMatch(message);
    expect(code).toBe(64);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/internal error|\n\s+at /);
  });
});

describe('--listen with a host name', () => {
  const cleanups = useCleanups();

  it('resolves the name, listens on its addresses, says which, and proxies', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const port = await freePort();
    const proxy = runCli(['--listen', `localhost:${port}`, backend.address]);
    cleanups.push(() => proxy.stop());
    const started = await Promise.race([
      proxy.log.waitFor('sockrelay started'),
      proxy.exited.then((code) => {
        throw new Error(`exited ${code}: ${proxy.log.raw.join('\n')}`);
      }),
    ]);
    const addresses = (started.listeners as Array<{ name: string; address: string }>).map((l) => l.address);
    expect(addresses).toContain(`127.0.0.1:${port}`);
    for (const l of started.listeners as Array<{ name: string }>) expect(l.name).toBe(`localhost:${port}`);
    const reply = await sendAndCollect(dial(port), Buffer.from('over a named listener'));
    expect(reply.received.toString()).toBe('over a named listener');
  });

  it('exits 78 naming the host when it does not resolve, as for a backend', () => {
    const { code, stderr } = run(['--listen', 'no-such-host.invalid:8000', '127.0.0.1:1']);
    expect(stderr).toMatch(/--listen no-such-host\.invalid:8000: cannot resolve 'no-such-host\.invalid'/);
    expect(code).toBe(78);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
