// `npm run prebuild`: the N-API binaries `npm pack` ships, so that installing sockrelay on
// linux-x64 or linux-arm64 (glibc) needs no compiler and no install script.
//
// One binary per arch serves every Node >= 20 (N-API, not the V8 ABI). arm64 is cross-compiled
// with Debian's g++-aarch64-linux-gnu. The files land in native/prebuilds/linux-<arch>/ where
// node-gyp-build looks for them; they are tagged glibc so a musl system builds from source
// instead of loading a binary it cannot run.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import prebuildify from 'prebuildify';

const here = dirname(fileURLToPath(import.meta.url));

const ARCHES = [
  { arch: 'x64', toolPrefix: process.arch === 'x64' ? '' : 'x86_64-linux-gnu-' },
  { arch: 'arm64', toolPrefix: process.arch === 'arm64' ? '' : 'aarch64-linux-gnu-' },
];

// node-gyp needs node's headers. Use the ones installed with this node when there are any (Debian's
// nodejs package and the official tarballs both have them) so the build never downloads anything.
function localNodeDir() {
  const candidate = resolve(dirname(process.execPath), '..');
  return existsSync(join(candidate, 'include', 'node', 'node_api.h')) ? candidate : undefined;
}

const nodedir = process.env.npm_config_nodedir || localNodeDir();
if (nodedir) process.env.npm_config_nodedir = nodedir;

const TOOLS = { CC: 'gcc', CXX: 'g++', LINK: 'g++' };
const hostTools = Object.fromEntries(Object.keys(TOOLS).map((name) => [name, process.env[name]]));

function build({ arch, toolPrefix }) {
  // prebuildify hands node-gyp a copy of process.env (an env option is ignored), so set the toolchain
  // there: the cross compiler for a foreign arch, whatever the user chose (or make's default) for ours.
  for (const [name, tool] of Object.entries(TOOLS)) {
    const value = toolPrefix ? `${toolPrefix}${tool}` : hostTools[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return new Promise((resolveBuild, rejectBuild) => {
    prebuildify(
      {
        cwd: here,
        name: 'sockrelay',
        arch,
        napi: true,
        // The N-API binary is the same for every Node release; build it against the running one.
        targets: [{ runtime: 'node', target: process.versions.node }],
        tagLibc: true,
        cache,
        strip: true,
        stripBin: `${toolPrefix}strip`,
      },
      (err) =>
        err ? rejectBuild(new Error(`prebuild for linux-${arch} failed: ${err.message}`)) : resolveBuild(),
    );
  });
}

// node-gyp's header dir (unused when the local headers are found), ours to remove rather than /tmp/prebuildify.
const cache = mkdtempSync(join(tmpdir(), 'sockrelay-prebuild-'));
rmSync(join(here, 'prebuilds'), { recursive: true, force: true });
try {
  for (const target of ARCHES) await build(target);
} finally {
  // The last build left its (foreign-arch) objects in build/; node-gyp-build prefers build/Release over
  // prebuilds/, so nothing may stay there.
  rmSync(join(here, 'build'), { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
}
