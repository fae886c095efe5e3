/**
 * Integration tests run what users run, exactly as systemd would: the launcher, the bundle and its
 * code cache (`npm run bundle`), built first so they are never stale. tsc's dist/ (the library, and
 * what the bundle is checked against) is built too. Type errors are `npm run lint`'s to report (it
 * runs first in `npm test`); tsc still emits on them, so a build with type errors warns here
 * instead of hiding every test result behind one failure.
 *
 * The teardown prints the run's one summary of what was skipped for want of a tool
 * (test/helpers/requires.ts) and how long the run took.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SKIPS_FILE_ENV, describeMissing, type Tool } from './helpers/requires.js';

export default function setup(): () => void {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-skips-'));
  const skips = join(dir, 'skips.jsonl');
  // Workers inherit the environment the run starts them with.
  process.env[SKIPS_FILE_ENV] = skips;
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (build.status !== 0) {
    if (!existsSync('dist/cli.js')) throw new Error(`tsc emitted nothing:\n${build.stdout}${build.stderr}`);
    console.warn(`warning: dist/ built with type errors (npm run lint reports them):\n${build.stdout}`);
  }
  const bundle = spawnSync('npm', ['run', '--silent', 'bundle'], { encoding: 'utf8' });
  if (bundle.status !== 0) throw new Error(`npm run bundle failed:\n${bundle.stdout}${bundle.stderr}`);
  return () => {
    const lines = existsSync(skips) ? readFileSync(skips, 'utf8').trim().split('\n').filter(Boolean) : [];
    rmSync(dir, { recursive: true, force: true });
    const byTool = new Map<Tool, Set<string>>();
    for (const line of lines) {
      const { tool, test } = JSON.parse(line) as { tool: Tool; test: string };
      byTool.set(tool, (byTool.get(tool) ?? new Set()).add(test));
    }
    if (byTool.size > 0) {
      const what = [...byTool].map(([tool, tests]) => `  ${describeMissing(tool)}: ${[...tests].join(', ')}`);
      console.log(
        `\nSkipped for want of a tool:\n${what.join('\n')}\n` +
          'Install them all with: sudo npm run test:deps (CI runs with SOCKRELAY_TEST_ALL=1: no skips)',
      );
    }
    console.log(`\nnpm test: the tests took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
}
