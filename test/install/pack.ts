/**
 * `npm pack` of a fresh checkout: the working tree's sources copied to a temp dir (no dist/, no
 * native/build/ or prebuilds/), so `prepack` has to build everything the tarball needs, and the
 * developer's own dist/ (which other tests run) is never rebuilt under them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, readdirSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What a checkout does not have: generated output and local state. */
const NOT_IN_A_CHECKOUT = new Set([
  '.git',
  'node_modules',
  'dist',
  'coverage',
  'bench/results',
  'native/build',
  'native/prebuilds',
]);

/** This environment without the npm_* variables `npm test` sets, as a user's shell would have it. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
}

/** Runs a command to completion; rejects with its output when it fails. */
export async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`);
  return output;
}

/** Packs a fresh copy of this checkout into `dir`; returns the tarball's path and what npm pack said. */
export async function packFreshCheckout(dir: string): Promise<{ tarball: string; output: string }> {
  const checkout = join(dir, 'checkout');
  cpSync(ROOT, checkout, {
    recursive: true,
    filter: (source) => {
      const path = relative(ROOT, source);
      return !NOT_IN_A_CHECKOUT.has(path) && !path.endsWith('.tgz');
    },
  });
  // The dev dependencies prepack needs (prebuildify, node-gyp, typescript), as `npm ci` left them.
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
  const output = await run('npm', ['pack', '--pack-destination', dir], { cwd: checkout, env: cleanEnv() });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${dir}`);
  return { tarball: join(dir, tarball), output };
}
