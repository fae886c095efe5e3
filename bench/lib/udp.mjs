// UDP helpers: the C echo server and load generator (lib/udp.c, compiled with `cc` into the run's
// temp dir when the run starts), and a datagram round trip for smoke tests and warm-up.
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { start, run, tail } from './proc.mjs';
import { HOST } from './net.mjs';

const SOURCE = fileURLToPath(new URL('./udp.c', import.meta.url));

/** Compiles lib/udp.c into `dir`; returns { tool } or { error }. */
export function buildUdpTool(dir) {
  const tool = path.join(dir, 'udp');
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', tool, SOURCE], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    return { error: `cc lib/udp.c failed (${r.status ?? r.signal ?? r.error?.message}): ${tail(r.stderr)}` };
  }
  return { tool };
}

/** The C echo server on a 127.0.0.1 port of its own; it exits by itself after `maxS` seconds. */
export async function startUdpEcho(tool, maxS) {
  const proc = start([tool, 'echo', String(maxS)]);
  const m = await proc.waitFor('stdout', /^listening (\d+)$/m, 5000, 'udp echo to listen');
  return { port: Number(m[1]), proc, stop: () => proc.stop() };
}

/**
 * `clients` sockets against 127.0.0.1:port, one datagram in flight each, `warmS` seconds uncounted
 * then `seconds` counted. Resolves { replies, seconds, rate, p50_us, p99_us, p999_us, timeouts,
 * stale, errors } (see lib/udp.c).
 */
export async function udpLoad(tool, port, { clients, warmS, seconds }) {
  const argv = [tool, 'load', String(port), String(clients), String(warmS), String(seconds)];
  const limit = warmS + seconds + 15;
  const r = await run(argv, { ms: limit * 1000 });
  if (r.timedOut) throw new Error(`udp load did not finish within ${limit} s`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`udp load printed no JSON (${r.code ?? r.signal}): ${tail(r.stderr || r.stdout)}`);
  }
}

/**
 * Sends a datagram to 127.0.0.1:port until one comes back, resending every 100 ms: the first one
 * may wake a socket-activated proxy, and a proxy that binds by itself may not be bound yet.
 * Resolves the milliseconds it took; rejects after `ms`.
 */
export function udpRoundTrip(port, ms = 5000) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const t0 = performance.now();
    let every;
    let finished = false;
    const deadline = setTimeout(
      () => done(new Error(`no UDP reply from ${HOST}:${port} within ${ms} ms`)),
      ms,
    );
    function done(err) {
      if (finished) return;
      finished = true;
      clearTimeout(deadline);
      clearInterval(every);
      sock.close();
      if (err) reject(err);
      else resolve(performance.now() - t0);
    }
    const send = () => sock.send('ping', port, HOST, () => {});
    sock.on('message', () => done(null));
    // ECONNREFUSED (nothing bound yet) surfaces as an error on some sends; the next one retries.
    sock.on('error', () => {});
    sock.bind(0, HOST, () => {
      send();
      every = setInterval(send, 100);
    });
  });
}
