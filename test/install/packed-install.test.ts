/**
 * The package as a user gets it: `npm pack` of a fresh checkout, installed with `npm install -g`
 * into a temp prefix on a PATH with no compiler and no make, then run under systemd-socket-activate.
 * Slow (prepack compiles the addon, for arm64 too where the cross toolchain is), so everything shares
 * one pack and one install.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, echo, freePort, randomBytes, sendAndCollect, startServer, tempDir } from '../helpers/net.js';
import { EM_AARCH64, EM_X86_64, readElf } from './elf.js';
import { BUILD_TOOLS, noCompilerPath } from './no-compiler-path.js';
import { startNotifyReceiver } from './notify-receiver.js';
import { has } from '../helpers/requires.js';
import { cleanEnv, packFreshCheckout, run } from './pack.js';

const MINUTE = 60_000;
const N_API_ENTRY = 'napi_register_module_v1';
const SHIPPED = [
  /^package\/(package\.json|README\.md|LICENSE)$/,
  /^package\/dist\/.+\.(js|d\.ts)$/,
  /^package\/dist\/(launch|sockrelay|sockrelay-metrics|sockrelay-pino)\.cjs$/,
  /^package\/dist\/sockrelay\.cjs\.cache$/,
  /^package\/dist\/sockrelay\.8$/,
  /^package\/native\/binding\.gyp$/,
  /^package\/native\/src\/.+\.(cc|h)$/,
  /^package\/native\/prebuilds\/linux-(x64|arm64)\/sockrelay\.glibc\.node$/,
  /^package\/units\/[^/]+\.(service|socket)$/,
  /^package\/units\/sockrelay\/[^/]+\.conf$/,
  /^package\/units\/transparent\/transparent\.conf$/,
  /^package\/units\/monitoring\/sockrelay-(alerts\.yml|dashboard\.json)$/,
];

const activate = has('systemd-socket-activate');

describe.skipIf(!activate)('the packed tarball, installed globally without a compiler', () => {
  const dir = tempDir('sockrelay-install-');
  let tarball: string;
  let packOutput: string;
  let shipped: string[];
  /** The stripped PATH: node, npm, sh, systemd-socket-activate, python3. */
  let PATH: string;
  const prefix = join(dir.path, 'prefix');
  const installed = join(prefix, 'lib', 'node_modules', 'sockrelay');
  const sockrelay = join(prefix, 'bin', 'sockrelay');
  const userEnv = (): NodeJS.ProcessEnv => ({ ...cleanEnv(), PATH });

  beforeAll(async () => {
    ({ tarball, output: packOutput } = await packFreshCheckout(join(dir.path, 'pack')));
    shipped = (await run('tar', ['-tzf', tarball])).trim().split('\n');
    PATH = noCompilerPath(join(dir.path, 'bin'));
    await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], { env: userEnv() });
  }, 30 * MINUTE);
  afterAll(() => dir.remove());

  it('ships prebuilds, sources and units, and nothing else', () => {
    expect(shipped.filter((path) => !SHIPPED.some((pattern) => pattern.test(path)))).toEqual([]);
    const gyp = JSON.parse(readFileSync(join(installed, 'native', 'binding.gyp'), 'utf8')) as {
      targets: Array<{ sources: string[] }>;
    };
    const needed = [
      'package/dist/launch.cjs',
      'package/dist/sockrelay.cjs',
      'package/dist/sockrelay-metrics.cjs',
      'package/dist/sockrelay-pino.cjs',
      'package/dist/sockrelay.cjs.cache',
      'package/dist/index.d.ts',
      'package/native/prebuilds/linux-x64/sockrelay.glibc.node',
      'package/units/sockrelay.service',
      ...gyp.targets.flatMap((t) => t.sources.map((source) => `package/native/${source}`)),
    ];
    expect(needed.filter((path) => !shipped.includes(path))).toEqual([]);
  });

  it('has a PATH without any compiler or make', async () => {
    for (const tool of BUILD_TOOLS) {
      await expect(run('sh', ['-c', `command -v ${tool}`], { env: userEnv() })).rejects.toThrow(
        /exited with/,
      );
    }
  });

  it('loads the prebuilt addon: nothing was compiled at install time', async () => {
    expect(existsSync(join(installed, 'native', 'build'))).toBe(false);
    const probe = `
      const load = require(require.resolve('node-gyp-build', { paths: [process.argv[1]] }));
      const dir = require('node:path').join(process.argv[1], 'native');
      console.log(JSON.stringify({ path: load.path(dir), relay: typeof load(dir).RelayEngine }));`;
    const loaded = JSON.parse(await run('node', ['-e', probe, installed], { env: userEnv() })) as object;
    expect(loaded).toEqual({
      path: join(installed, 'native', 'prebuilds', `linux-${process.arch}`, 'sockrelay.glibc.node'),
      relay: 'function',
    });
  });

  /** A connection through the installed sockrelay under systemd-socket-activate, and its READY=1. */
  async function proxyThroughInstalled(): Promise<void> {
    const backend = await startServer(echo);
    const notify = await startNotifyReceiver(dir.path);
    const port = await freePort();
    const activate = spawn(
      'systemd-socket-activate',
      [
        '-l',
        `127.0.0.1:${port}`,
        '-E',
        `NOTIFY_SOCKET=${notify.path}`,
        sockrelay,
        '--log-level=debug',
        backend.address,
      ],
      { env: userEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = once(activate, 'exit');
    let stderr = '';
    try {
      activate.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await expect.poll(() => stderr, { timeout: 10_000 }).toMatch(/^Listening on /m);
      const payload = randomBytes(256 * 1024);
      const { received, error } = await sendAndCollect(dial(port), payload);
      expect(error).toBeNull();
      expect(received.equals(payload)).toBe(true);
      expect(await notify.waitFor((m) => m.split('\n').includes('READY=1'))).toMatch(/^READY=1\n/);
      // Packed and installed by the same Node, the shipped code cache is the one used.
      expect(stderr).toMatch(/"codeCache":"used"/);
    } finally {
      activate.kill('SIGTERM');
      await exited;
      await notify.close();
      await backend.close();
    }
  }

  it('proxies a connection under systemd-socket-activate and tells READY=1 to NOTIFY_SOCKET', async () => {
    await proxyThroughInstalled();
  });

  it('loads its metrics from their own bundle: a run with --metrics-textfile leaves the counters', async () => {
    const textfile = join(dir.path, 'sockrelay.prom');
    const child = spawn(
      sockrelay,
      ['--listen', '127.0.0.1:0', '--exit-idle-time=200ms', '--metrics-textfile', textfile, '127.0.0.1:1'],
      { env: userEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect({ code, stderr: stderr.match(/^sockrelay: .*$/m)?.[0] }).toEqual({ code: 0, stderr: undefined });
    expect(readFileSync(textfile, 'utf8')).toMatch(/^sockrelay_info\{.*engine="splice".*\} 1$/m);
  });

  /** The ELF summary of the tarball's prebuild for linux-`arch`. */
  async function shippedPrebuild(arch: string) {
    const extracted = join(dir.path, 'extracted');
    await run('sh', [
      '-c',
      `mkdir -p "$1" && tar -xzf "$2" -C "$1" package/native/prebuilds`,
      'sh',
      extracted,
      tarball,
    ]);
    return readElf(
      join(extracted, 'package', 'native', 'prebuilds', `linux-${arch}`, 'sockrelay.glibc.node'),
    );
  }

  it('ships an x86-64 x64 prebuild exporting the N-API entry point', async () => {
    const x64 = await shippedPrebuild('x64');
    expect(x64.machine).toBe(EM_X86_64);
    expect(x64.exports).toContain(N_API_ENTRY);
  });

  // The release ships both; a machine without the cross toolchain packs only its own.
  it.skipIf(!has('aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip'))(
    'ships an aarch64 arm64 prebuild exporting the N-API entry point',
    async () => {
      const arm64 = await shippedPrebuild('arm64');
      expect(arm64.machine).toBe(EM_AARCH64);
      expect(arm64.exports).toContain(N_API_ENTRY);
    },
  );

  it('npm pack said which prebuilds it built, and why any other was not', () => {
    const cross = has('aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip');
    expect(packOutput).toMatch(
      cross ? /^prebuild: built linux-x64, linux-arm64$/m : /^prebuild: built linux-x64$/m,
    );
    if (!cross)
      expect(packOutput).toMatch(
        /^prebuild: not built linux-arm64: aarch64-linux-gnu-\S+ .*not found \(Debian: apt-get install g\+\+-aarch64-linux-gnu binutils-aarch64-linux-gnu\)$/m,
      );
    else expect(packOutput).not.toMatch(/not built/);
  });

  it('with no addon for the machine, refuses to start with one line and exit code 69', async () => {
    rmSync(join(installed, 'native', 'prebuilds'), { recursive: true });
    const child = spawn(sockrelay, ['127.0.0.1:1'], { env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect({ code, stdout }).toEqual({ code: 69, stdout: '' });
    expect(stderr).toMatch(
      /^sockrelay: native addon not loaded \(No native build was found for platform=linux arch=\w+ [^\n]*\); build it with `npm rebuild -g --allow-scripts=sockrelay sockrelay`[^\n]*\n$/,
    );
  });

  it(
    'builds the addon from source with the command that line names, where a compiler is',
    async () => {
      // JOBS: node-gyp compiles one file at a time unless told otherwise.
      const withCompiler = { ...cleanEnv(), PATH: process.env.PATH, JOBS: 'max' };
      await run('npm', ['rebuild', '-g', '--prefix', prefix, '--allow-scripts=sockrelay', 'sockrelay'], {
        env: withCompiler,
      });
      expect(readElf(join(installed, 'native', 'build', 'Release', 'sockrelay.node')).exports).toContain(
        N_API_ENTRY,
      );
      await proxyThroughInstalled();
    },
    20 * MINUTE,
  );
});
