/**
 * Integration tests run what users run, exactly as systemd would: the launcher, the bundle and its
 * code cache (`npm run bundle`), built first so they are never stale. tsc's dist/ (the library, and
 * what the bundle is checked against) is built too. Type errors are `npm run lint`'s to report (it
 * runs first in `npm test`); tsc still emits on them, so a build with type errors warns here
 * instead of hiding every test result behind one failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup(): void {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (build.status !== 0) {
    if (!existsSync('dist/cli.js')) throw new Error(`tsc emitted nothing:\n${build.stdout}${build.stderr}`);
    console.warn(`warning: dist/ built with type errors (npm run lint reports them):\n${build.stdout}`);
  }
  const bundle = spawnSync('npm', ['run', '--silent', 'bundle'], { encoding: 'utf8' });
  if (bundle.status !== 0) throw new Error(`npm run bundle failed:\n${bundle.stdout}${bundle.stderr}`);
}
