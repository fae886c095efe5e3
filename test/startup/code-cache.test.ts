/**
 * The V8 code cache is an optimisation that must never be trusted: whatever lies next to the
 * bundle (nothing, garbage, a cache cut short or damaged in place, which V8 would deserialize and
 * die of, one made under other V8 flags, or one made for a different bundle of the same length,
 * which V8 itself would accept), sockrelay serves exactly as
 * its bundle says, says nothing about it at the default log level, and at debug level says what
 * happened to the cache. Each case runs a copy of the built package (launcher, bundle, cache),
 * so the checkout's own dist/ is never touched.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, sendAndCollect, startServer, tempDir } from '../helpers/net.js';
import { watchProcess, type LogLine } from '../helpers/proxy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The launcher, the bundles (main, pino, metrics) and the main bundle's cache. */
const SHIPPED = readdirSync(join(ROOT, 'dist')).filter((file) => /\.cjs(\.cache)?$/.test(file));
const STARTED = 'sockrelay started';

/** The package as installed: package.json, the launcher, bundles and cache, and the addon. */
function packageCopy(dir: string): { dist: string; cache: string; bundle: string } {
  const dist = join(dir, 'dist');
  mkdirSync(dist, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  for (const file of SHIPPED) copyFileSync(join(ROOT, 'dist', file), join(dist, file));
  symlinkSync(join(ROOT, 'native'), join(dir, 'native'));
  return { dist, cache: join(dist, 'sockrelay.cjs.cache'), bundle: join(dist, 'sockrelay.cjs') };
}

describe('the V8 code cache next to the bundle', () => {
  const dir = tempDir('sockrelay-code-cache-');
  const cleanups = useCleanups();
  let backend: Awaited<ReturnType<typeof startServer>>;
  let copies = 0;

  beforeAll(async () => {
    backend = await startServer(echo);
  });
  afterAll(async () => {
    await backend.close();
    dir.remove();
  });

  const freshCopy = () => packageCopy(join(dir.path, `copy-${++copies}`));

  /** Runs a copy, proxies one exchange through it, stops it; resolves with its log. */
  async function serveOnce(dist: string, options: { logLevel?: string; nodeFlags?: string[] } = {}) {
    const args = ['--listen', '127.0.0.1:0', `--log-level=${options.logLevel ?? 'debug'}`, backend.address];
    const child = spawn(process.execPath, [...(options.nodeFlags ?? []), join(dist, 'launch.cjs'), ...args], {
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proxy = watchProcess(child);
    cleanups.push(() => proxy.stop());
    const started = await Promise.race([
      proxy.log.waitFor(STARTED),
      proxy.exited.then((status) => {
        throw new Error(`sockrelay ended (${status}) before serving:\n${proxy.log.raw.join('\n')}`);
      }),
    ]);
    const port = Number(String((started.listeners as Array<{ address: string }>)[0]!.address).split(':')[1]);
    const payload = Buffer.from('through whatever cache there was\n');
    const { received, error } = await sendAndCollect(dial(port), payload);
    expect(error).toBeNull();
    expect(received.equals(payload)).toBe(true);
    child.kill('SIGTERM');
    expect(await proxy.exitStatus()).toBe(0);
    return { lines: proxy.log.lines, raw: proxy.log.raw };
  }

  const cacheState = (lines: LogLine[]) => lines.find((l) => l.msg === 'V8 code cache')?.codeCache;

  /** Where a cache file's parts are: its header ends before its copy of `bundle`, V8's data after. */
  const layout = (cache: Buffer, bundle: Buffer) => {
    const copy = cache.indexOf(bundle);
    expect(copy).toBeGreaterThan(0);
    return { header: copy, v8: copy + bundle.length };
  };

  /** `sockrelay --version` of a copy: it compiles the whole bundle with the cache, then exits. */
  const version = (dist: string) =>
    spawnSync(process.execPath, [join(dist, 'launch.cjs'), '--version'], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
    });

  it('is used as built', async () => {
    const { dist } = freshCopy();
    expect(cacheState((await serveOnce(dist)).lines)).toBe('used');
  });

  it('may be missing', async () => {
    const { dist, cache } = freshCopy();
    rmSync(cache);
    expect(cacheState((await serveOnce(dist)).lines)).toBe('missing');
  });

  it('is ignored when it is garbage', async () => {
    const { dist, cache } = freshCopy();
    writeFileSync(cache, Buffer.from('not a code cache at all\n'.repeat(100)));
    expect(cacheState((await serveOnce(dist)).lines)).toBe('not ours');
  });

  // V8 checks its data's length and header, but not its payload (release builds skip the
  // checksum): bytecode damaged in place crashed node (SIGTRAP, SIGSEGV) at every start.
  const damages: Array<[string, (whole: Buffer, at: { header: number; v8: number }) => Buffer]> = [
    [
      '20 bytes flipped in the middle of V8’s data, same length',
      (whole, { v8 }) => {
        const mid = v8 + Math.floor((whole.length - v8) / 2);
        for (let i = mid; i < mid + 20; i++) whole[i]! ^= 0xff;
        return whole;
      },
    ],
    ['one bit flipped in V8’s first byte', (whole, { v8 }) => ((whole[v8]! ^= 0x01), whole)],
    ['one bit flipped in the last byte', (whole) => ((whole[whole.length - 1]! ^= 0x80), whole)],
    [
      'one bit flipped in the header’s last byte',
      (whole, { header }) => ((whole[header - 1]! ^= 0x01), whole),
    ],
    ['cut short by 4096 bytes', (whole) => whole.subarray(0, whole.length - 4096)],
    ['cut short by one byte', (whole) => whole.subarray(0, whole.length - 1)],
    ['one byte longer', (whole) => Buffer.concat([whole, Buffer.of(0)])],
  ];

  it.each(damages)('is ignored, before V8 sees it, when damaged: %s', async (_, damage) => {
    const { dist, cache, bundle } = freshCopy();
    const whole = readFileSync(cache);
    writeFileSync(cache, damage(whole, layout(whole, readFileSync(bundle))));

    const run = version(dist);
    expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
    });
    expect(run.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(cacheState((await serveOnce(dist)).lines)).toBe('damaged');
  });

  it('is ignored when it carries no checksum (the format before it had one)', async () => {
    const { dist, cache, bundle } = freshCopy();
    const whole = readFileSync(cache);
    const source = readFileSync(bundle);
    const header = Buffer.alloc(12);
    header.writeUInt32LE(0x43435253, 0);
    header.writeUInt32LE(2, 4);
    header.writeUInt32LE(source.length, 8);
    writeFileSync(cache, Buffer.concat([header, source, whole.subarray(layout(whole, source).v8)]));
    expect(cacheState((await serveOnce(dist)).lines)).toBe('not ours');
  });

  it('is ignored when node runs with other V8 flags than made it', async () => {
    const { dist } = freshCopy();
    expect(cacheState((await serveOnce(dist, { nodeFlags: ['--no-opt'] })).lines)).toBe('rejected by V8');
  });

  it('is ignored, not trusted, when it was made for another bundle of the same length', async () => {
    // Another build: the same bundle with one message changed, same length, and its own cache.
    const other = freshCopy();
    const source = readFileSync(other.bundle, 'latin1');
    expect(source).toContain(`"${STARTED}"`);
    writeFileSync(other.bundle, source.replace(`"${STARTED}"`, `"${STARTED.toUpperCase()}"`), 'latin1');
    const made = spawnSync(process.execPath, [join(ROOT, 'src/packaging/code-cache.mjs'), other.dist], {
      encoding: 'utf8',
    });
    expect(made.stderr).toBe('');

    const ours = freshCopy();
    copyFileSync(other.cache, ours.cache);
    // V8 alone would take it: it knows the source only by its length.
    const v8Alone = spawnSync(
      process.execPath,
      [
        '-e',
        `const { Script } = require('node:vm'); const fs = require('node:fs');
         const [bundle, cache] = process.argv.slice(1, 3).map((f) => fs.readFileSync(f));
         const data = cache.subarray(Number(process.argv[3]));
         console.log(new Script(bundle.toString('latin1'), { filename: process.argv[1], cachedData: data }).cachedDataRejected);`,
        ours.bundle,
        ours.cache,
        String(layout(readFileSync(other.cache), readFileSync(other.bundle)).v8),
      ],
      { encoding: 'utf8' },
    );
    expect(v8Alone.stdout.trim()).toBe('false');

    const { lines } = await serveOnce(ours.dist);
    expect(cacheState(lines)).toBe('made for another bundle');
    expect(lines.map((l) => l.msg)).toContain(STARTED);
    expect(lines.map((l) => l.msg)).not.toContain(STARTED.toUpperCase());
  });

  it('is not mentioned at the default log level, whatever became of it', async () => {
    const { dist, cache } = freshCopy();
    writeFileSync(cache, Buffer.from('garbage'));
    const { raw } = await serveOnce(dist, { logLevel: 'info' });
    expect(raw.filter((line) => /cache/i.test(line))).toEqual([]);
  });
});
