// sockrelay is benchmarked from a copy of its build taken when the run starts. Others rebuild
// dist/ in the same tree while a run lasts ten minutes; without the copy, rounds would silently
// measure different (or half-written) builds.
import { cpSync, mkdirSync, symlinkSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

// The addon node-gyp-build would load in `root` (a local build or the prebuild), copied to the same place.
const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build');

/** Copies package.json, dist/ and the addon under `dir`; returns { cli, builtAt, help } or { error }. */
export function snapshotBuild(root, dir) {
  const cli = path.join(dir, 'dist/launch.cjs');
  try {
    mkdirSync(dir, { recursive: true });
    cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
    const addon = path.relative(root, nodeGypBuild.path(path.join(root, 'native')));
    mkdirSync(path.dirname(path.join(dir, addon)), { recursive: true });
    cpSync(path.join(root, addon), path.join(dir, addon));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  } catch (err) {
    return { error: `cannot copy the build: ${err.message}` };
  }
  // A build caught half-written fails here rather than in every measurement.
  const r = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || r.error?.message || '').trim().split('\n').slice(-2).join(' | ');
    return { error: `dist/launch.cjs --help failed (${r.status ?? r.signal}): ${why}` };
  }
  // help: what the build offers, for workloads that need a newer option (proxyproto).
  return {
    cli,
    builtAt: statSync(path.join(root, 'dist/sockrelay.cjs')).mtime.toISOString(),
    help: r.stdout,
  };
}
