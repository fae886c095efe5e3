// Ports and small socket probes. Everything here is 127.0.0.1 only.
import net from 'node:net';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';

export const HOST = '127.0.0.1';

/** A port that was free a moment ago: listen (or bind, for 'udp') on 0, read the port, close. */
export function freePort(proto = 'tcp') {
  if (proto === 'udp') {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.on('error', reject);
      s.bind(0, HOST, () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  }
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Connects once; resolves the socket, rejects on error or after `ms`. */
export function connect(port, ms = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: HOST, port });
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${HOST}:${port} timed out after ${ms} ms`));
    }, ms);
    sock.once('connect', () => {
      clearTimeout(t);
      sock.off('error', onErr);
      resolve(sock);
    });
    const onErr = (err) => {
      clearTimeout(t);
      reject(err);
    };
    sock.once('error', onErr);
  });
}

/**
 * Polls until `port` accepts a connection (used only for servers that announce nothing).
 * Bounded: gives up after `ms`.
 */
export async function waitForPort(port, ms = 5000, every = 2) {
  const deadline = performance.now() + ms;
  let last;
  while (performance.now() < deadline) {
    try {
      const s = await connect(port, Math.max(1, deadline - performance.now()));
      return s;
    } catch (err) {
      last = err;
      await sleep(every);
    }
  }
  throw new Error(`${HOST}:${port} did not accept within ${ms} ms (${last?.code ?? last?.message})`);
}

export const httpGet = (path = '/') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`;

/**
 * Sends `request` on `sock` and resolves performance.now() at the first response byte,
 * then destroys the socket. Rejects on close-before-data or after `ms`.
 */
export function firstByte(sock, request, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(new Error(`no response within ${ms} ms`)), ms);
    const onData = () => done(null, performance.now());
    const onEnd = () => done(new Error('connection closed before any response byte'));
    const onErr = (err) => done(err);
    function done(err, val) {
      clearTimeout(t);
      sock.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onErr);
      sock.destroy();
      if (err) reject(err);
      else resolve(val);
    }
    sock.once('data', onData).once('end', onEnd).once('close', onEnd).once('error', onErr);
    sock.write(request);
  });
}

/** One full HTTP request/response through `port` (for warming a proxy up). */
export async function httpOnce(port, path = '/', ms = 5000) {
  const sock = await connect(port, ms);
  await firstByte(sock, httpGet(path), ms);
}

/**
 * Activates a proxy with a connection that carries nothing: connects, half-closes, and resolves once
 * the proxy has passed the FIN on and closed (so it has started and reached the backend).
 */
export async function emptyConnectionThrough(port, ms = 5000) {
  const sock = await connect(port, ms);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the empty connection through ${HOST}:${port} stayed open ${ms} ms`));
    }, ms);
    sock.on('error', () => {});
    sock.resume();
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    sock.end();
  });
}
