/**
 * Integration tests run the built CLI exactly as systemd would: build it first so it is never stale.
 * Type errors are `npm run lint`'s to report (it runs first in `npm test`); tsc still emits on them,
 * so a build with type errors warns here instead of hiding every test result behind one failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export default function setup(): void {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (build.status === 0) return;
  if (!existsSync('dist/cli.js')) throw new Error(`tsc emitted nothing:\n${build.stdout}${build.stderr}`);
  console.warn(`warning: dist/ built with type errors (npm run lint reports them):\n${build.stdout}`);
}
