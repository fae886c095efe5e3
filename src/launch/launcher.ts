/**
 * What `sockrelay` runs (package.json "bin"): the bundle, dist/sockrelay.cjs, compiled with the
 * V8 code cache stored next to it, so a socket-activated start does not spend its first client's
 * time parsing and compiling JavaScript.
 *
 * The cache is an optimisation, never a dependency: missing, unreadable, damaged or made for
 * another bundle (checked here, before V8 sees it, see code-cache.ts) or rejected by V8 (another
 * Node, other V8 flags), the bundle is compiled from source as if there were no cache, and
 * sockrelay logs at debug level what happened to it. `SOCKRELAY_CODE_CACHE_WRITE=PATH` makes the process write a fresh cache to
 * PATH as it exits (src/packaging/code-cache.mjs does, at build time).
 */
// First: importing it stops SIGUSR1 from opening a debugger while the rest loads (see no-debugger.ts).
import '../lifecycle/no-debugger.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { checkCodeCache, encodeCodeCache } from './code-cache.js';
import { setCodeCacheState, whenStartPathCompiled, type CodeCacheState } from './code-cache-state.js';

const BUNDLE = join(__dirname, 'sockrelay.cjs');
const CODE_CACHE = `${BUNDLE}.cache`;

/** V8's cache data for `bundle`, or why there is none. */
function readCache(bundle: Buffer): { data?: Buffer; state: CodeCacheState } {
  let file: Buffer;
  try {
    file = readFileSync(CODE_CACHE);
  } catch (err) {
    return { state: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable' };
  }
  const check = checkCodeCache(file, bundle);
  return 'data' in check ? { data: check.data, state: 'used' } : { state: check.why };
}

const bundle = readFileSync(BUNDLE);
const cache = readCache(bundle);
// The bundle is one function expression taking what Node gives a CommonJS module (bundle.mjs).
const script = new Script(bundle.toString('latin1'), {
  filename: BUNDLE,
  ...(cache.data ? { cachedData: cache.data } : {}),
});
setCodeCacheState(cache.data && script.cachedDataRejected ? 'rejected by V8' : cache.state);

const writeTo = process.env.SOCKRELAY_CODE_CACHE_WRITE;
if (writeTo) {
  delete process.env.SOCKRELAY_CODE_CACHE_WRITE;
  // Once the engines serve (code-cache-state.ts), so that the cache holds the functions the start
  // compiled, not only the top level; at exit if the run never got there.
  const write = (): void => {
    process.off('exit', write);
    writeFileSync(writeTo, encodeCodeCache(bundle, script.createCachedData()));
  };
  whenStartPathCompiled(write);
  process.once('exit', write);
}

const module = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(
  module.exports,
  createRequire(BUNDLE),
  module,
  BUNDLE,
  dirname(BUNDLE),
);
