/**
 * Before any container: the checkout must be built (the containers run its dist/ and native
 * build), we must be root, and the cached roots must exist (made on the first run, a few
 * minutes). Any of these missing fails the whole suite with one line: never a silent skip.
 */
import { existsSync } from 'node:fs';
import { nativeAddonPath } from '../../../src/native/binding.js';
import { join } from 'node:path';
import { CHECKOUT, ensureRoot, VERSIONS } from './container.js';

export default function setup(): void {
  if (process.getuid?.() !== 0)
    throw new Error('systemd suite: must run as root (it boots containers with systemd-nspawn)');
  if (!existsSync(join(CHECKOUT, 'dist/launch.cjs')))
    throw new Error('systemd suite: dist/launch.cjs missing: run `npm run build` first');
  try {
    nativeAddonPath();
  } catch {
    throw new Error('systemd suite: native addon not built: run `npm run build` first');
  }
  ensureRoot('nspawn');
  for (const version of VERSIONS) ensureRoot(version);
}
