/**
 * Every option is also an environment variable (SOCKRELAY_ + the long flag), read by commander: the
 * built CLI, run as a real process, must behave the same whichever way a setting arrives.
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, randomBytes, sendAndCollect, sha256, startServer } from '../helpers/net.js';
import { runCli, runCliSync, type LogLine } from '../helpers/proxy.js';

const run = runCliSync;

/**
 * The long flags --help lists, without help and version, with the variable it names for each.
 * --check-config is left out too: it is an action, typed only (test/hostile/config-input.test.ts).
 */
function helpOptions(): Array<{ flag: string; env: string | undefined }> {
  const { stdout } = run(['--help']);
  const section = stdout.slice(stdout.indexOf('Options:'), stdout.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}(?:-\w, )?(--[a-z0-9-]+)[^\n]*?(?:env: (\w+))?\)?$/gm)]
    .map((m) => ({ flag: m[1]!, env: m[2] }))
    .filter(({ flag }) => !['--help', '--version', '--check-config'].includes(flag));
}

describe('options from the environment', () => {
  const cleanups = useCleanups();

  it('--help names a SOCKRELAY_* variable for every option, after its long flag', () => {
    const options = helpOptions();
    expect(options.length).toBeGreaterThan(10);
    for (const { flag, env } of options)
      expect({ flag, env }).toEqual({
        flag,
        env: `SOCKRELAY_${flag.slice(2).replaceAll('-', '_').toUpperCase()}`,
      });
  });

  it.each([
    ['--exit-idle-time', 'soon'],
    ['--connections-max', '0'],
    ['--udp-sessions-max', 'lots'],
    ['--keepalive', 'often'],
    ['--listen', 'nowhere'],
    ['--route', 'no-equals-sign'],
    ['--proxy-protocol', 'v3'],
    ['--metrics-textfile', 'relative.prom'],
  ])('a bad %s from the environment fails like the flag: same line, same exit code', (flag, bad) => {
    const variable = `SOCKRELAY_${flag.slice(2).replaceAll('-', '_').toUpperCase()}`;
    const viaFlag = run([`${flag}=${bad}`, '127.0.0.1:80']);
    const viaEnv = run(['127.0.0.1:80'], { [variable]: bad });
    expect(viaFlag.code).toBe(64);
    expect(viaFlag.stderr.trim().split('\n')).toHaveLength(1);
    expect(viaEnv).toEqual(viaFlag);
  });

  it('a value outside the choices fails with the usage code and names the variable', () => {
    const viaEnv = run(['127.0.0.1:80'], { SOCKRELAY_LOG_LEVEL: 'loud' });
    expect(viaEnv.code).toBe(run(['--log-level=loud', '127.0.0.1:80']).code);
    expect(viaEnv.code).toBe(64);
    expect(viaEnv.stderr).toMatch(/^sockrelay: .*'loud' from env 'SOCKRELAY_LOG_LEVEL' is invalid/);
    expect(viaEnv.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a flag on the command line wins over its variable', () => {
    const { code, stderr } = run(['--exit-idle-time=soon', '127.0.0.1:80'], {
      SOCKRELAY_EXIT_IDLE_TIME: '5min',
    });
    expect(code).toBe(64);
    expect(stderr).toMatch(/--exit-idle-time: 'soon'/);
  });

  async function started(
    args: string[],
    env: NodeJS.ProcessEnv,
  ): Promise<{ line: LogLine; exit: Promise<number | string> }> {
    const proxy = runCli(args, { PATH: process.env.PATH, ...env });
    cleanups.push(() => proxy.stop());
    const line = await proxy.log.waitFor((l) => l.msg === 'sockrelay started');
    return { line, exit: proxy.exited };
  }

  it('settings from the environment run the proxy as the same flags do: listeners, limits, relaying, idle exit', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const byFlags = await started(
      [
        '--listen=127.0.0.1:0',
        '--listen=[::1]:0',
        '--connections-max=7',
        '--exit-idle-time=3s',
        backend.address,
      ],
      {},
    );
    const byEnv = await started([backend.address], {
      SOCKRELAY_LISTEN: '127.0.0.1:0 [::1]:0',
      SOCKRELAY_CONNECTIONS_MAX: '7',
      SOCKRELAY_EXIT_IDLE_TIME: '3s',
    });
    const summary = (line: LogLine) => ({
      listeners: (line.listeners as Array<{ name: string; kind: string; backend: string }>).map(
        ({ name, kind, backend: to }) => ({ name, kind, to }),
      ),
      connectionsMax: line.connectionsMax,
      exitIdleTime: line.exitIdleTime,
    });
    expect(summary(byEnv.line)).toEqual(summary(byFlags.line));
    expect(summary(byFlags.line).listeners).toHaveLength(2);

    const payload = randomBytes(64 * 1024);
    for (const listener of byEnv.line.listeners as Array<{ address: string }>) {
      const reply = await sendAndCollect(dial(listener.address), payload);
      expect(sha256(reply.received)).toBe(sha256(payload));
    }
    // Both exit 0 on their own once idle for the 3 s they were given.
    expect(await byEnv.exit).toBe(0);
    expect(await byFlags.exit).toBe(0);
  }, 30_000);
});
