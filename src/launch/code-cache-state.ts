/**
 * How the launcher used the code cache, handed from the launcher (src/launch/launcher.ts) to the
 * bundle it runs, which logs it once a logger exists. Not set when sockrelay runs without the
 * launcher (dist/cli.js, tests of src/).
 */
import type { Logger } from '../logger.js';

export type CodeCacheState =
  'used' | 'missing' | 'unreadable' | 'not ours' | 'made for another bundle' | 'rejected by V8';

const KEY = Symbol.for('sockrelay.codeCache');

type WithState = { [KEY]?: CodeCacheState };

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
