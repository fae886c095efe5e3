/**
 * Before any container: the checkout must be built (the containers run its dist/ and native
 * build), we must be root, and the cached roots must exist (made on the first run, a few
 * minutes). Any of these missing fails the whole suite with one line: never a silent skip.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKOUT, ensureRoot, VERSIONS } from './container.js';

export default function setup(): void {
  if (process.getuid?.() !== 0)
    throw new Error('systemd suite: must run as root (it boots containers with systemd-nspawn)');
  if (!existsSync(join(CHECKOUT, 'dist/cli.js')))
    throw new Error('systemd suite: dist/cli.js missing: run `npm run build` first');
  const build = join(CHECKOUT, 'native/build/Release');
  if (!existsSync(build) || !readdirSync(build).some((f) => f.endsWith('.node')))
    throw new Error('systemd suite: native addon not built: run `npm run build` first');
  ensureRoot('nspawn');
  for (const version of VERSIONS) ensureRoot(version);
}
