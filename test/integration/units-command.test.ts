/**
 * `sockrelay units` writes what an operator installs for one proxy: a sockrelay@NAME.socket that
 * starts the template sockrelay@.service, the NAME.conf it reads, and for an on-demand backend two
 * drop-ins. Everything it writes must pass `systemd-analyze verify` next to the shipped template, and
 * the conf must be accepted by the real CLI as the template passes it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { cliStdout, runCli, runCliSync } from '../helpers/proxy.js';
import { buildRoot, verify } from '../helpers/systemd-analyze.js';
import { has } from '../helpers/requires.js';

const TEMPLATE = readFileSync(
  fileURLToPath(new URL('../../units/sockrelay@.service', import.meta.url)),
  'utf8',
);
/** The backend of the on-demand pattern, a plain service the drop-ins attach to. */
const HEAVY = '[Unit]\nDescription=heavy backend\n\n[Service]\nExecStart=/usr/local/bin/heavy-backend\n';

const PATTERNS = [
  { title: 'plain TCP', args: ['--listen', '0.0.0.0:80', '127.0.0.1:8080'], instance: '80' },
  {
    title: 'TCP and UDP, IPv4 and IPv6',
    args: ['--listen', '0.0.0.0:53', '--listen', '[::]:53', '--udp', '--name', 'dns', '127.0.0.1:5353'],
    instance: 'dns',
  },
  {
    title: 'on-demand backend',
    args: ['--listen', '127.0.0.1:3000', '--on-demand', 'heavy.service', '--name', 'heavy', '127.0.0.1:3001'],
    instance: 'heavy',
  },
  {
    title: 'public-facing, per-source limits',
    args: ['--listen', '0.0.0.0:443', '--public-facing', '--name', 'public', '127.0.0.1:8443'],
    instance: 'public',
  },
  {
    title: 'unix socket, routes in the conf',
    args: ['--listen', '/run/web.sock', '--name', 'web'],
    instance: 'web',
  },
] as const;

/** What `units --write` put in a directory, by path relative to it. */
async function filesIn(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return new Map(
    await Promise.all(files.map(async (f) => [relative(dir, f), await readFile(f, 'utf8')] as const)),
  );
}

function environmentOf(conf: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of conf.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

describe('sockrelay units', () => {
  const cleanups = useCleanups();
  let scratch = '';
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'sockrelay-units-command-'));
  });
  afterAll(async () => {
    if (scratch !== '') await rm(scratch, { recursive: true, force: true });
  });

  describe.each(PATTERNS)('$title', ({ args, instance }) => {
    let units = new Map<string, string>();
    let confs = new Map<string, string>();
    let root = '';

    beforeAll(async () => {
      const unitsDir = join(scratch, instance, 'units');
      const confDir = join(scratch, instance, 'conf');
      const written = runCliSync(['units', ...args, '--write', unitsDir, '--conf-dir', confDir]);
      expect(written).toMatchObject({ code: 0, stderr: '' });
      expect(written.stdout).toContain(`systemctl enable --now sockrelay@${instance}.socket`);
      units = await filesIn(unitsDir);
      confs = await filesIn(confDir);
      root = await buildRoot(new Map([['sockrelay@.service', TEMPLATE], ['heavy.service', HEAVY], ...units]));
    }, 60_000);
    afterAll(async () => {
      if (root !== '') await rm(root, { recursive: true, force: true });
    });

    it('writes the socket that starts the template instance, and its conf', () => {
      expect([...units.keys()]).toContain(`sockrelay@${instance}.socket`);
      expect([...confs.keys()]).toEqual([`${instance}.conf`]);
    });

    it('prints exactly what it writes', () => {
      const printed = runCliSync(['units', ...args]);
      expect(printed.code).toBe(0);
      for (const [path, text] of units)
        expect(printed.stdout).toContain(`### /etc/systemd/system/${path}\n${text}`);
      for (const [path, text] of confs)
        expect(printed.stdout).toContain(`### /etc/sockrelay/${path}\n${text}`);
    });

    it.skipIf(!has('systemd-analyze'))(
      'systemd-analyze verify prints nothing for the socket and the instance it starts',
      async () => {
        for (const unit of [`sockrelay@${instance}.socket`, `sockrelay@${instance}.service`]) {
          const result = await verify(root, unit);
          expect({ unit, ...result }).toEqual({ unit, code: 0, signal: null, stdout: '', stderr: '' });
        }
      },
      60_000,
    );

    it('the conf names only variables the CLI reads, and the CLI starts with it', async () => {
      const conf = confs.get(`${instance}.conf`)!;
      const help = cliStdout(['--help']);
      const named = [...conf.matchAll(/^#?(SOCKRELAY_\w+)=/gm)].map((m) => m[1]!);
      expect(named.length).toBeGreaterThan(5);
      for (const variable of named) expect(help).toContain(`env: ${variable}`);

      // As the template runs it: the conf as environment, $BACKEND as the argument; here with a
      // --listen of our own instead of the socket (and a BACKEND where the conf leaves it to the user).
      const env = environmentOf(conf);
      const proxy = runCli(['--listen', '127.0.0.1:0', env.BACKEND ?? '127.0.0.1:9'], {
        PATH: process.env.PATH,
        ...env,
      });
      cleanups.push(() => proxy.stop());
      const started = await proxy.log.waitFor((line) => line.msg === 'sockrelay started');
      expect(started.exitIdleTime).toBe(env.SOCKRELAY_EXIT_IDLE_TIME);
    }, 30_000);
  });

  it('--public-facing sets the README recipe in the conf, each once', () => {
    const { stdout } = runCliSync(['units', '--listen', '0.0.0.0:443', '--public-facing', '127.0.0.1:8443']);
    const env = environmentOf(stdout);
    expect(env).toMatchObject({
      SOCKRELAY_CONNECTIONS_PER_SOURCE: '32',
      SOCKRELAY_CONNECTION_RATE_PER_SOURCE: '20/1s',
      SOCKRELAY_CONNECTION_IDLE_TIMEOUT: '10min',
    });
    expect(stdout.match(/^#?SOCKRELAY_CONNECTIONS_PER_SOURCE=/gm)).toHaveLength(1);
  });

  it('the conf lists switches at their default and no action: uncommented as written, nothing changes', async () => {
    const conf = runCliSync(['units', '--listen', '127.0.0.1:80', '127.0.0.1:8080']).stdout;
    expect(conf).not.toMatch(/SOCKRELAY_CHECK_CONFIG/);
    expect(conf).toMatch(/^#SOCKRELAY_TRANSPARENT=no$/m);
    expect(conf).toMatch(/^#SOCKRELAY_ACCESS_LOG=no$/m);
    const uncommented = conf.replace(/^#(SOCKRELAY_\w+=.+)$/gm, '$1');
    const env = environmentOf(uncommented.slice(uncommented.indexOf('### /etc/sockrelay/')));
    delete env.SOCKRELAY_EXIT_IDLE_TIME;
    expect(Object.keys(env).length).toBeGreaterThan(8);
    const proxy = runCli(['--listen', '127.0.0.1:0', '127.0.0.1:9'], { PATH: process.env.PATH, ...env });
    cleanups.push(() => proxy.stop());
    const started = await proxy.log.waitFor((line) => line.msg === 'sockrelay started');
    expect((started.listeners as Array<{ transparent?: boolean }>)[0]!.transparent).toBeUndefined();
  }, 30_000);

  it('on demand: the proxy requires the backend, and the backend stops when unneeded', async () => {
    const dir = join(scratch, 'on-demand-check');
    cliStdout([
      'units',
      '--listen',
      '127.0.0.1:3000',
      '--on-demand',
      'big.service',
      '--write',
      dir,
      '--conf-dir',
      dir,
    ]);
    const files = await filesIn(dir);
    expect(files.get('sockrelay@3000.service.d/on-demand.conf')).toMatch(/^Requires=big\.service$/m);
    expect(files.get('sockrelay@3000.service.d/on-demand.conf')).toMatch(/^After=big\.service$/m);
    expect(files.get('big.service.d/sockrelay-on-demand.conf')).toMatch(/^StopWhenUnneeded=yes$/m);
    expect(environmentOf(files.get('3000.conf')!).SOCKRELAY_CONNECT_TIMEOUT).toBe('30s');
  });

  const LONG = 'a'.repeat(300);
  it.each([
    [
      ['--listen', '/run/a.sock\nExecStartPre=/bin/touch /tmp/pwned', '--name', 'a', '127.0.0.1:8080'],
      /--listen: .*control character/,
    ],
    [['--listen', '127.0.0.1:80', '127.0.0.1:8080\nSOCKRELAY_TRANSPARENT=1'], /BACKEND: .*control character/],
    [['--listen', '127.0.0.1:80', '/run/a b.sock'], /BACKEND: .*space/],
    [['--listen', '127.0.0.1:80', '--name', 'x\x1b[2J', '127.0.0.1:8080'], /--name: .*may hold only/],
    [['--listen', '127.0.0.1:80', '--name', 'n'.repeat(239), '127.0.0.1:8080'], /--name: .*longer than/],
    [
      ['--listen', '127.0.0.1:80', '--on-demand', `${LONG}.service`, '127.0.0.1:8080'],
      /--on-demand: .*longer than/,
    ],
    [
      ['--listen', '127.0.0.1:80', '--on-demand', 'a@.service', '127.0.0.1:8080'],
      /--on-demand: 'a@.service' is not a unit name/,
    ],
    [['--listen', '[fe80::1%lo]:8081', '127.0.0.1:8080'], /--listen: .*zone/],
    [['--listen', `/run/${LONG}.sock`, '--name', 'a', '127.0.0.1:8080'], /--listen: .*at most 107 bytes/],
    [['--listen', '/run/a.sock\\', '--name', 'a', '127.0.0.1:8080'], /--listen: .*backslash/],
    [['--listen', ' /run/a.sock', '--name', 'a', '127.0.0.1:8080'], /--listen: /],
  ])('refuses %j with exit 64, one line, and writes nothing', async (args, message) => {
    const dir = join(scratch, `refused-${Math.random().toString(36).slice(2)}`);
    const { code, stderr, stdout } = runCliSync(['units', ...args, '--write', dir, '--conf-dir', dir]);
    expect({ code, stdout }).toEqual({ code: 64, stdout: '' });
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(await readdir(dir).catch(() => 'absent')).toBe('absent');
  });

  it("escapes '%' so systemd listens where it was asked, and verify accepts it", async () => {
    const dir = join(scratch, 'percent');
    const written = runCliSync([
      ...'units --listen /run/x%i%z.sock --name pct'.split(' '),
      '--write',
      dir,
      '--conf-dir',
      dir,
    ]);
    expect(written.code).toBe(0);
    const files = await filesIn(dir);
    const socket = files.get('sockrelay@pct.socket')!;
    expect(socket).toMatch(/^ListenStream=\/run\/x%%i%%z\.sock$/m);
    expect(socket).toMatch(/^Description=.*\/run\/x%%i%%z\.sock$/m);
    const root = await buildRoot(new Map([['sockrelay@.service', TEMPLATE], ...files]));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    expect(await verify(root, 'sockrelay@pct.socket')).toMatchObject({ code: 0, stderr: '' });
  }, 60_000);

  it('writes all its files or none: a conf dir it cannot use leaves the units dir as it was', async () => {
    const dir = join(scratch, 'all-or-none');
    const first = runCliSync([
      'units',
      '--listen',
      '127.0.0.1:81',
      '--write',
      `${dir}/units`,
      '--conf-dir',
      `${dir}/conf`,
    ]);
    expect(first.code).toBe(0);
    const before = await filesIn(dir);
    // The second run's conf dir is a regular file: its conf cannot be written.
    const blocked = join(dir, 'units', 'sockrelay@81.socket');
    const second = runCliSync([
      'units',
      '--listen',
      '127.0.0.1:81',
      '--udp',
      '--on-demand',
      'big.service',
      '127.0.0.2:9',
      '--write',
      join(dir, 'units'),
      '--conf-dir',
      blocked,
    ]);
    expect(second.code).toBe(71);
    expect(second.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(await filesIn(dir)).toEqual(before);
    expect((await readdir(join(dir, 'units'))).sort()).toEqual(['sockrelay@81.socket']);
  });

  it.each([
    [['--listen', 'localhost:80', '127.0.0.1:8080'], /--listen: 'localhost:80' needs an IP address/],
    [['127.0.0.1:8080'], /units: give at least one --listen/],
    [['--listen', '0.0.0.0:80', '::1:8080'], /BACKEND: '::1:8080' looks like an IPv6 address/],
    [['--listen', '/run/a.sock', '127.0.0.1:8080'], /give --name/],
    [['--listen', '0.0.0.0:80', '--name', 'a/b', '127.0.0.1:8080'], /--name: 'a\/b' may hold only/],
    [
      ['--listen', '0.0.0.0:80', '--on-demand', 'heavy', '127.0.0.1:8080'],
      /--on-demand: 'heavy' is not a unit name/,
    ],
  ])('rejects %j with exit code 64 and one line', (args, message) => {
    const { code, stderr, stdout } = runCliSync(['units', ...args]);
    expect({ code, stdout }).toEqual({ code: 64, stdout: '' });
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });
});
