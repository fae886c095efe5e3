// Builds what `sockrelay` runs: dist/sockrelay.cjs, the modules of src/cli.ts and its dependencies
// in one minified CommonJS file (one file to read and compile instead of a graph of ~100 modules to
// resolve, link and evaluate), and dist/launch.cjs, the launcher that runs it with the V8 code cache
// (src/launch/launcher.ts; the cache itself: src/packaging/code-cache.mjs).
//
// CommonJS, because only a classic script can be compiled with cached data on Node 20 (vm.Script).
// Every byte of the main bundle is read, copied and checked on every socket-activated start, so
// what the start never runs is kept out of it: pino (made after the engines start) and the metrics
// are bundles of their own, loaded on first use; the other modules sockrelay imports lazily (UDP,
// handover, reload, operator commands) are small and stay in the main file, wrapped so that their
// code runs only when the import() does.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Node modules whose loading costs milliseconds and that sockrelay's start does not use:
 * commander requires child_process for executable subcommands (sockrelay has none), sonic-boom
 * requires assert for its close(), and our own modules name them for paths taken later (the
 * fd store's busctl, reload's check, a unix socket file left behind). In the bundle each is a
 * stand-in that loads the module on first use.
 */
const LAZY_BUILTINS = ['assert', 'child_process', 'net', 'dns/promises', 'worker_threads'];

/**
 * pino loads thread-stream at start for pino.transport(), which sockrelay never uses: it logs
 * synchronously to fd 2 (src/logger.ts).
 */
const UNUSED_MODULES = ['thread-stream'];

/**
 * pino reads worker_threads' isMainThread at start, which loads worker_threads and node:stream
 * (milliseconds). The bundle only ever runs as the process's main program (src/launch/launcher.ts
 * is package.json's bin), so the answer is known; everything else loads on first use.
 */
const KNOWN_EXPORTS = { worker_threads: { isMainThread: true } };

/**
 * A module that stands in for `real` until first used: its exports are listed now, so that named
 * imports resolve, and reading one (or calling the module) loads `real` then. `known` are exports
 * whose values are known at build time and need no load.
 */
function standIn(real, exports, known = {}) {
  return `let loaded;
const load = () => (loaded ??= require(${JSON.stringify(real)}));
const stand = function (...params) { return load()(...params); };
for (const key of ${JSON.stringify(Object.keys(exports))})
  Object.defineProperty(stand, key, { enumerable: true, configurable: true, get: () => load()[key] });
Object.defineProperties(stand, Object.getOwnPropertyDescriptors(${JSON.stringify(known)}));
module.exports = stand;`;
}

/**
 * pino is made when the daemon first logs, after the engines start (src/logger.ts): it and its
 * dependencies (a quarter of what is left) are a bundle of their own, dist/sockrelay-pino.cjs,
 * which a stand-in in the main bundle loads then. The start neither reads nor evaluates them.
 */
const PINO_BUNDLE = 'sockrelay-pino.cjs';

/**
 * In the main bundle: an import that `filter` matches (and `accepts`) becomes `contents`, code
 * that requires dist/`file`, a bundle of its own, at run time.
 */
function fromItsBundle(file, filter, contents, accepts = () => true) {
  return {
    name: `from-${file}`,
    setup(build) {
      build.onResolve({ filter }, (args) => (accepts(args) ? { path: file, namespace: file } : undefined));
      build.onResolve({ filter: new RegExp(`^\\./${file.replaceAll('.', '\\.')}$`) }, (args) => ({
        path: args.path,
        external: true,
      }));
      build.onLoad({ filter: /.*/, namespace: file }, () => ({ contents, loader: 'js', resolveDir: ROOT }));
    },
  };
}

const pinoFromItsBundle = fromItsBundle(PINO_BUNDLE, /^pino$/, standIn(`./${PINO_BUNDLE}`, require('pino')));

const lazyModules = {
  name: 'lazy-modules',
  setup(build) {
    const builtin = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    build.onResolve({ filter: builtin }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: standIn(`node:${args.path}`, require(args.path), KNOWN_EXPORTS[args.path]),
      loader: 'js',
    }));
    const unused = new RegExp(`^(${UNUSED_MODULES.join('|')})$`);
    build.onResolve({ filter: unused }, (args) => ({ path: args.path, namespace: 'unused-module' }));
    build.onLoad({ filter: /.*/, namespace: 'unused-module' }, (args) => ({
      contents: `module.exports = function () { throw new Error('${args.path} is not in the sockrelay bundle'); };`,
      loader: 'js',
    }));
  },
};

/**
 * Metrics (prom-client and its dependencies, a third of the code) live in a bundle of their own,
 * dist/sockrelay-metrics.cjs, read and compiled only by a sockrelay that serves metrics: every
 * other start reads, copies and checks that much less before its first client (src/launch/).
 * The two bundles share one src/errors.ts, so that an error the metrics throw is still a
 * SockrelayError to the CLI: the main bundle hands its module to the metrics bundle's factory.
 */
const METRICS_ENTRY = 'src/metrics/index.ts';
const METRICS_BUNDLE = 'sockrelay-metrics.cjs';
const SHARED = { errors: 'src/errors.ts' };
const sharedPaths = new Map(Object.entries(SHARED).map(([name, file]) => [`${ROOT}${file}`, name]));

/** In the main bundle: `import('../metrics/index.js')` loads the metrics bundle, handing it SHARED. */
const metricsFromItsBundle = fromItsBundle(
  METRICS_BUNDLE,
  /\/metrics\/index\.js$/,
  `module.exports = require('./${METRICS_BUNDLE}')({ ${Object.entries(SHARED)
    .map(([name, file]) => `${name}: require(${JSON.stringify(ROOT + file)})`)
    .join(', ')} });`,
  (args) => args.kind === 'dynamic-import',
);

/** In the metrics bundle: the SHARED modules are the main bundle's, passed to its factory. */
const sharedFromMainBundle = {
  name: 'shared-from-main-bundle',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const file = `${args.resolveDir}/${args.path}`.replace(/\.js$/, '.ts');
      const name = sharedPaths.get(path.normalize(file));
      return name ? { path: name, namespace: 'shared' } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'shared' }, (args) => ({
      contents: `module.exports = __shared.${args.path};`,
      loader: 'js',
    }));
  },
};

const common = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
};

/** What sockrelay runs: minified, ASCII only (the launcher reads it as latin1, a one-byte string). */
const minified = { ...common, minify: true, charset: 'ascii' };

await build({
  ...minified,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/sockrelay.cjs',
  plugins: [lazyModules, metricsFromItsBundle, pinoFromItsBundle],
  // import() of Node's own modules becomes a require: a vm.Script has no loader for import().
  supported: { 'dynamic-import': false },
  // import.meta.url is the bundle's own URL; src/package-files.ts sits at the same depth as it.
  define: { 'import.meta.url': '__bundleUrl' },
  // The file is one function expression, the wrapper Node gives a CommonJS module, which the
  // launcher compiles and calls: the source string V8 compiles is the file as read, not a copy.
  banner: {
    js: '(function (exports, require, module, __filename, __dirname) {"use strict";var __bundleUrl=require("node:url").pathToFileURL(__filename).href;',
  },
  footer: { js: '})' },
});

await build({
  ...minified,
  entryPoints: [require.resolve('pino')],
  outfile: `dist/${PINO_BUNDLE}`,
  plugins: [lazyModules],
});

await build({
  ...minified,
  entryPoints: [METRICS_ENTRY],
  outfile: `dist/${METRICS_BUNDLE}`,
  plugins: [lazyModules, sharedFromMainBundle],
  supported: { 'dynamic-import': false },
  // A factory: the main bundle calls it once, with the modules the two share.
  banner: {
    js: 'module.exports = function (__shared) { var module = { exports: {} }, exports = module.exports;',
  },
  footer: { js: 'return module.exports; };' },
});

await build({
  ...common,
  entryPoints: ['src/launch/launcher.ts'],
  outfile: 'dist/launch.cjs',
  banner: { js: '#!/usr/bin/env node' },
});
chmodSync(`${ROOT}dist/launch.cjs`, 0o755);
