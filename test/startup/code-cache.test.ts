/**
 * The V8 code cache is an optimisation that must never be trusted: whatever lies next to the
 * bundle (nothing, garbage, a cache cut short, one made under other V8 flags, or one made for a
 * different bundle of the same length, which V8 itself would accept), sockrelay serves exactly as
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
    const started = await proxy.log.waitFor(STARTED);
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

  it('is ignored when it was cut short', async () => {
    const { dist, cache } = freshCopy();
    const whole = readFileSync(cache);
    writeFileSync(cache, whole.subarray(0, whole.length - 4096));
    expect(cacheState((await serveOnce(dist)).lines)).toBe('rejected by V8');
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
         const [bundle, cache] = process.argv.slice(1).map((f) => fs.readFileSync(f));
         const data = cache.subarray(12 + bundle.length);
         console.log(new Script(bundle.toString('latin1'), { filename: process.argv[1], cachedData: data }).cachedDataRejected);`,
        ours.bundle,
        ours.cache,
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
