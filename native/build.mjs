// Builds the native addon with node-gyp during `npm ci` / `npm install`.
//
// sockrelay works without the addon (the TypeScript stream engine takes over), so
// a machine without a compiler must still install. CI sets SOCKRELAY_REQUIRE_NATIVE=1
// so that a broken native build fails loudly there instead of silently degrading.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.SOCKRELAY_REQUIRE_NATIVE === '1';

if (process.platform !== 'linux') {
  console.warn(`sockrelay: native addon skipped on ${process.platform}; the stream engine will be used`);
  process.exit(0);
}

const result = spawnSync('node-gyp', ['rebuild', '--directory', here], { stdio: 'inherit', shell: false });
if (result.status === 0) process.exit(0);

const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`;
if (required) {
  console.error(`sockrelay: native addon build failed (${why})`);
  process.exit(1);
}
console.warn(`sockrelay: native addon not built (${why}); the stream engine will be used`);
