// `npm run prebuild`: the N-API binaries `npm pack` ships, so that installing sockrelay on
// linux-x64 or linux-arm64 (glibc) needs no compiler and no install script.
//
// One binary per arch serves every Node >= 20 (N-API, not the V8 ABI). arm64 is cross-compiled
// with Debian's g++-aarch64-linux-gnu. A foreign arch whose cross toolchain is not installed is left
// out, and said so, rather than failing: `npm pack` then ships what this machine can build (the
// release is packed in CI, which installs both toolchains and checks both binaries). The files land in native/prebuilds/linux-<arch>/ where
// node-gyp-build looks for them; they are tagged glibc so a musl system builds from source
// instead of loading a binary it cannot run.
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import prebuildify from 'prebuildify';

const here = dirname(fileURLToPath(import.meta.url));

const ARCHES = [
  {
    arch: 'x64',
    toolPrefix: process.arch === 'x64' ? '' : 'x86_64-linux-gnu-',
    debian: 'g++-x86-64-linux-gnu binutils-x86-64-linux-gnu',
  },
  {
    arch: 'arm64',
    toolPrefix: process.arch === 'arm64' ? '' : 'aarch64-linux-gnu-',
    debian: 'g++-aarch64-linux-gnu binutils-aarch64-linux-gnu',
  },
];

const onPath = (command) =>
  (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir || '.', command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

/** Why a foreign arch cannot be built here, or null when its cross g++ and strip are installed. */
function missingCrossTools({ toolPrefix, debian }) {
  if (!toolPrefix) return null;
  const missing = ['g++', 'strip'].map((tool) => `${toolPrefix}${tool}`).filter((tool) => !onPath(tool));
  return missing.length ? `${missing.join(' and ')} not found (Debian: apt-get install ${debian})` : null;
}

// node-gyp needs node's headers. Use the ones installed with this node when there are any (Debian's
// nodejs package and the official tarballs both have them) so the build never downloads anything.
function localNodeDir() {
  const candidate = resolve(dirname(process.execPath), '..');
  return existsSync(join(candidate, 'include', 'node', 'node_api.h')) ? candidate : undefined;
}

// node-gyp compiles one file at a time unless told otherwise; the addon is ~40 files.
process.env.JOBS ??= 'max';

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
const built = [];
const notBuilt = [];
try {
  for (const target of ARCHES) {
    const why = missingCrossTools(target);
    if (why) notBuilt.push(`linux-${target.arch}: ${why}`);
    else await build(target).then(() => built.push(`linux-${target.arch}`));
  }
  console.log(`prebuild: built ${built.join(', ') || 'nothing'}`);
  for (const line of notBuilt) console.log(`prebuild: not built ${line}`);
} finally {
  // The last build left its (foreign-arch) objects in build/; node-gyp-build prefers build/Release over
  // prebuilds/, so nothing may stay there.
  rmSync(join(here, 'build'), { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
}
