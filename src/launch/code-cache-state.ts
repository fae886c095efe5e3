/**
 * How the launcher used the code cache, handed from the launcher (src/launch/launcher.ts) to the
 * bundle it runs, which logs it once a logger exists. Not set when sockrelay runs without the
 * launcher (dist/cli.js, tests of src/).
 */
import type { Logger } from '../logger.js';

export type CodeCacheState =
  | 'used'
  | 'missing'
  | 'unreadable'
  | 'not ours'
  | 'unverifiable'
  | 'damaged'
  | 'made for another bundle'
  | 'rejected by V8';

const KEY = Symbol.for('sockrelay.codeCache');
const WRITE_KEY = Symbol.for('sockrelay.codeCache.write');

type WithState = { [KEY]?: CodeCacheState; [WRITE_KEY]?: () => void };

export function setCodeCacheState(state: CodeCacheState): void {
  (globalThis as WithState)[KEY] = state;
}

export function codeCacheState(): CodeCacheState | undefined {
  return (globalThis as WithState)[KEY];
}

/** At debug level only: a cache not used costs start-up time, nothing else, and is no one's error. */
export function logCodeCache(logger: Logger): void {
  const state = codeCacheState();
  if (state !== undefined) logger.debug({ codeCache: state }, 'V8 code cache');
}

/**
 * Set by the launcher when it is asked to make a code cache (a build's training run): how to
 * write it. The cache should hold what the start compiles up to the engines serving, and no more:
 * everything in it is deserialized before the first client is relayed, while what runs after
 * (pino's set-up and first lines, shutdown) compiles when it is needed, off that path.
 */
export function whenStartPathCompiled(write: () => void): void {
  (globalThis as WithState)[WRITE_KEY] = write;
}

/** The engines serve: a training run writes its code cache now (nothing otherwise). */
export function startPathCompiled(): void {
  const write = (globalThis as WithState)[WRITE_KEY];
  delete (globalThis as WithState)[WRITE_KEY];
  write?.();
}
