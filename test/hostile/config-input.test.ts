/**
 * What a careless operator or a hostile conf writes into the environment and the flags: switch values
 * that read as "off" but were taken as "on", a check that was never meant to come from a variable,
 * values with newlines that forge a second log line, and a route option spelled the way it reads.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, sendAndCollect, startServer, tempDir } from '../helpers/net.js';
import { CLI, runCli, runCliSync } from '../helpers/proxy.js';

const ARGS = ['--listen', '127.0.0.1:0', '127.0.0.1:9'];

describe('switches from the environment', () => {
  const cleanups = useCleanups();

  /** The listener of the started proxy and whether --access-log is on, as its own lines say. */
  async function startedWith(env: NodeJS.ProcessEnv): Promise<{ transparent: boolean }> {
    const proxy = runCli(ARGS, { PATH: process.env.PATH, ...env });
    cleanups.push(() => proxy.stop());
    const line = await proxy.log.waitFor('sockrelay started');
    const listeners = line.listeners as Array<{ transparent?: boolean }>;
    return { transparent: listeners[0]!.transparent === true };
  }

  it.each(['0', 'no', 'false', 'off', 'NO', 'Off'])('SOCKRELAY_TRANSPARENT=%s leaves it off', async (v) => {
    expect(await startedWith({ SOCKRELAY_TRANSPARENT: v })).toEqual({ transparent: false });
  });

  it.each(['1', 'yes', 'true', 'on', 'YES'])('SOCKRELAY_TRANSPARENT=%s turns it on', async (v) => {
    expect(await startedWith({ SOCKRELAY_TRANSPARENT: v })).toEqual({ transparent: true });
  });

  it.each([
    ['SOCKRELAY_TRANSPARENT', ''],
    ['SOCKRELAY_TRANSPARENT', 'maybe'],
    ['SOCKRELAY_TRANSPARENT', '2'],
    ['SOCKRELAY_ACCESS_LOG', ''],
    ['SOCKRELAY_ACCESS_LOG', 'enabled'],
  ])('%s=%j is refused with exit 64 and one line naming it', (variable, value) => {
    const { code, stderr, stdout } = runCliSync(ARGS, { [variable]: value });
    expect({ code, stdout }).toEqual({ code: 64, stdout: '' });
    expect(stderr).toMatch(new RegExp(`^sockrelay: ${variable}: `));
    expect(stderr.endsWith('\n')).toBe(true);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([
    ['0', false],
    ['off', false],
    ['1', true],
  ] as const)('SOCKRELAY_ACCESS_LOG=%s: access line %s', async (value, expected) => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const proxy = runCli(['--listen', '127.0.0.1:0', backend.address], {
      PATH: process.env.PATH,
      SOCKRELAY_ACCESS_LOG: value,
    });
    cleanups.push(() => proxy.stop());
    const started = await proxy.log.waitFor('sockrelay started');
    const client = dial((started.listeners as Array<{ address: string }>)[0]!.address);
    cleanups.push(() => client.destroy());
    const { received } = await sendAndCollect(client, Buffer.from('one'));
    expect(received.toString()).toBe('one');
    // SIGTERM: the proxy logs its stop after any access line of the connection that just ended.
    proxy.child.kill('SIGTERM');
    await proxy.log.waitFor('sockrelay stopped');
    expect(proxy.log.lines.some((l) => typeof l.end === 'string')).toBe(expected);
  });
});

describe('--check-config is typed, never read from the environment', () => {
  it.each(['0', '1', ''])(
    'SOCKRELAY_CHECK_CONFIG=%j is refused with exit 64 instead of exiting 0 unserved',
    (v) => {
      const { code, stderr } = runCliSync(ARGS, { SOCKRELAY_CHECK_CONFIG: v });
      expect(code).toBe(64);
      expect(stderr).toMatch(/^sockrelay: SOCKRELAY_CHECK_CONFIG: .*--check-config/);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    },
  );

  it('--help names no variable for --check-config', () => {
    const { stdout } = runCliSync(['--help']);
    expect(stdout).toMatch(/--check-config/);
    expect(stdout).not.toMatch(/SOCKRELAY_CHECK_CONFIG/);
  });

  it('the flag itself still checks and exits 0', () => {
    expect(runCliSync([...ARGS, '--check-config'])).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('every error is one line, whatever the value holds', () => {
  const cleanups = useCleanups();
  const FORGED = '{"level":30,"msg":"forged"}';

  it.each([
    ['an environment variable', [...ARGS], { SOCKRELAY_EXIT_IDLE_TIME: `5s\n${FORGED}` }],
    ['a flag', ['--exit-idle-time', `5s\n${FORGED}`, ...ARGS], {}],
    ['a choice', ['--log-level', `info\r\n${FORGED}`, ...ARGS], {}],
    ['the backend', ['--listen', '127.0.0.1:0', `127.0.0.1:x\n${FORGED}`], {}],
    ['a terminal escape', ['--exit-idle-time', '5s\x1b[2J\x1b[31mred\u2028x', ...ARGS], {}],
    ['an unknown flag', [`--exit-idle-tim\n${FORGED}`, ...ARGS], {}],
    ['an unknown flag with a suggestion', ['--exit-idle-tim', '5s', ...ARGS], {}],
  ])('%s', (_, args, env) => {
    const { code, stderr } = runCliSync(args, env);
    expect(code).toBe(64);
    expect(stderr.endsWith('\n')).toBe(true);
    expect(stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^sockrelay: /)]);
    // eslint-disable-next-line no-control-regex
    expect(stderr.trimEnd()).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
  });

  it('the escaped value still names what was wrong', () => {
    const { stderr } = runCliSync(ARGS, { SOCKRELAY_EXIT_IDLE_TIME: `5s\n${FORGED}` });
    expect(stderr).toContain(`'5s\\n{"level":30`);
  });

  it('under journald too: one line, one priority prefix', () => {
    // stderr is "the journal" when $JOURNAL_STREAM names fd 2's device and inode: a file stands in.
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'stderr');
    const fd = openSync(path, 'w');
    const { dev, ino } = fstatSync(fd);
    const result = spawnSync(process.execPath, [CLI, ...ARGS], {
      env: {
        PATH: process.env.PATH,
        JOURNAL_STREAM: `${dev}:${ino}`,
        SOCKRELAY_EXIT_IDLE_TIME: `5s\n<6>${FORGED}`,
      },
      stdio: ['ignore', 'ignore', fd],
      timeout: 10_000,
    });
    closeSync(fd);
    expect(result.status).toBe(64);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^<3>sockrelay: --exit-idle-time: '5s\\n<6>\{/)]);
  });
});

describe('route options', () => {
  it.each([
    ['tp=127.0.0.1:8080,transparent', /--route tp: 'transparent' needs a value: transparent=yes\|no/],
    [
      'tp=127.0.0.1:8080,Transparent=yes',
      /--route tp: unknown option 'Transparent=yes'.*proxy-protocol=v1\|v2\|none.*transparent=yes\|no/,
    ],
    ['tp=127.0.0.1:8080,keepalive', /--route tp: unknown option 'keepalive'.*transparent=yes\|no/],
    ['tp=/run/a.sock,transparent', /--route tp: 'transparent' needs a value/],
  ])('%s names the option and the forms that exist', (route, message) => {
    const { code, stderr } = runCliSync(['--route', route]);
    expect(code).toBe(64);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a unix path with a comma that is no option stays a path', () => {
    expect(runCliSync(['--route', 'a=/run/a,b.sock', '--check-config'])).toMatchObject({ code: 0 });
  });
});
