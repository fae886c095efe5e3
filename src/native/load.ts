/**
 * Loading the native addon: the data plane, without which sockrelay does not start.
 *
 * node-gyp-build finds it: `native/build/Release` (built from source, by the install script or
 * `npm rebuild sockrelay`) wins over `native/prebuilds/<platform>-<arch>/` (what the package
 * ships), so an installed sockrelay loads its prebuilt binary with no install script run.
 * Nothing else in sockrelay may `require` the .node file.
 */
import { join } from 'node:path';
import nodeGypBuild from 'node-gyp-build';
import { ExitCode, SockrelayError } from '../errors.js';
import { PACKAGE_ROOT } from '../package-files.js';
import type { NativeBinding } from './binding.js';

/** `native/` of the package, from src/ (tests), dist/ (the library) and the bundle alike. */
const ADDON_DIR = join(PACKAGE_ROOT, 'native');

export interface NativeLoad {
  binding: NativeBinding | null;
  /** Why the addon did not load. */
  error: Error | null;
}

let cached: NativeLoad | undefined;

/** Load the addon once; a failure is kept, not thrown, for the caller to report. */
export function loadNative(): NativeLoad {
  if (cached) return cached;
  try {
    cached = { binding: nodeGypBuild(ADDON_DIR) as NativeBinding, error: null };
  } catch (err) {
    cached = { binding: null, error: err instanceof Error ? err : new Error(String(err)) };
  }
  return cached;
}

/** The .node file `loadNative` loads, for child processes that load it themselves (tests). Throws if none. */
export function nativeAddonPath(): string {
  return nodeGypBuild.path(ADDON_DIR);
}

/** No addon for this machine: the one line says why, and what builds it. */
export class NativeAddonMissingError extends SockrelayError {
  constructor(cause: Error | null) {
    const why = cause?.message.split('\n')[0]?.trim() || 'unknown error';
    super(
      'ERR_NATIVE_ADDON_MISSING',
      `native addon not loaded (${why}); build it with \`npm rebuild -g --allow-scripts=sockrelay sockrelay\` ` +
        '(`npm rebuild sockrelay` where it is a dependency; needs python3, make and a C++ compiler)',
      ExitCode.unavailable,
      { cause },
    );
  }
}

/** The addon, or the error that makes sockrelay refuse to start (`load` is injectable for the daemon's deps). */
export function requireNative(load: NativeLoad = loadNative()): NativeBinding {
  const { binding, error } = load;
  if (!binding) throw new NativeAddonMissingError(error);
  return binding;
}
