// A Prometheus-style scraper for the metrics workload: GET /metrics every `everyMs` while a load
// runs, each request bounded by a timeout; stop() resolves what it saw.
import http from 'node:http';
import { HOST } from './net.mjs';

export function startScraper(port, { everyMs = 1000, timeoutMs = 2000 } = {}) {
  const seen = { scrapes: 0, failed: 0, bytes: 0, lastError: null, maxMs: 0 };
  const inflight = new Set();
  const scrape = () => {
    const t0 = performance.now();
    const p = new Promise((resolve) => {
      const req = http.get({ host: HOST, port, path: '/metrics', timeout: timeoutMs }, (res) => {
        let n = 0;
        res.on('data', (b) => (n += b.length));
        res.on('end', () => {
          if (res.statusCode === 200 && n > 0) {
            seen.scrapes++;
            seen.bytes = n;
          } else {
            seen.failed++;
            seen.lastError = `HTTP ${res.statusCode}, ${n} bytes`;
          }
          seen.maxMs = Math.max(seen.maxMs, performance.now() - t0);
          resolve();
        });
        res.on('error', fail);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', fail);
      function fail(err) {
        seen.failed++;
        seen.lastError = err.message;
        resolve();
      }
    });
    inflight.add(p);
    p.then(() => inflight.delete(p));
  };
  scrape();
  const timer = setInterval(scrape, everyMs);
  return async () => {
    clearInterval(timer);
    await Promise.all(inflight);
    seen.maxMs = Math.round(seen.maxMs * 10) / 10;
    return seen;
  };
}
