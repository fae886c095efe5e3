// Makes dist/sockrelay.cjs.cache, the V8 code cache the launcher (src/launch/launcher.ts) compiles
// the bundle with, by running sockrelay as users do: it starts, proxies one connection and exits on
// SIGTERM. The launcher writes the cache once the engines serve (SOCKRELAY_CODE_CACHE_WRITE): what
// the start path compiled, which is what a socket-activated start needs before its first client.
// It runs at build time (`npm ci`'s prepare, and prepack, so the tarball ships it) with the Node
// that builds; a user's different Node rejects it and sockrelay compiles from source as before.
// Without a cache sockrelay only starts slower, so a failure here warns and leaves none.
// usage: node src/packaging/code-cache.mjs [DIST]   (default: this checkout's dist/)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = process.argv[2]
  ? `${path.resolve(process.argv[2])}/`
  : fileURLToPath(new URL('../../dist/', import.meta.url));
const CACHE = `${DIST}sockrelay.cjs.cache`;
const PARTIAL = `${CACHE}.partial`;
const TIME_LIMIT_MS = 20_000;

async function trainingRun() {
  const backend = net.createServer((c) => c.end('cache\n'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const child = spawn(
    process.execPath,
    [`${DIST}launch.cjs`, '--listen', '127.0.0.1:0', `127.0.0.1:${backend.address().port}`],
    {
      env: { PATH: process.env.PATH, SOCKRELAY_CODE_CACHE_WRITE: PARTIAL },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = once(child, 'exit');
  const limit = setTimeout(() => child.kill('SIGKILL'), TIME_LIMIT_MS);
  try {
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const address = await new Promise((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        // The start line lists the listeners with the port the kernel picked.
        const started = /"listeners":\[\{[^\]]*?"address":"127\.0\.0\.1:(\d+)"/.exec(stderr);
        if (started) resolve(Number(started[1]));
      });
      exited.then(([code]) => reject(new Error(`sockrelay exited (${code}) before serving: ${stderr}`)));
    });
    const client = net.connect(address, '127.0.0.1');
    client.resume();
    await once(client, 'end');
    client.destroy();
    child.kill('SIGTERM');
    const [code] = await exited;
    if (code !== 0) throw new Error(`sockrelay exited with ${code}: ${stderr}`);
  } finally {
    clearTimeout(limit);
    child.kill('SIGKILL');
    backend.close();
  }
}

rmSync(CACHE, { force: true });
try {
  await trainingRun();
  renameSync(PARTIAL, CACHE);
} catch (err) {
  rmSync(PARTIAL, { force: true });
  process.stderr.write(`warning: no V8 code cache made (sockrelay runs, starting slower): ${err.message}\n`);
}
