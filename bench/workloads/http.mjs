// Small messages and connection churn: wrk against nginx through the subject, 50 connections.
// keep-alive measures per-request cost on open connections; `Connection: close` makes every request
// a new connection, so accept + backend connect + teardown dominate.
import { SMALL_FILE } from '../lib/backends.mjs';
import { startSubject } from '../lib/subjects.mjs';
import { httpOnce } from '../lib/net.mjs';
import { wrk } from '../lib/wrk.mjs';
import { cpuMs } from '../lib/stats.mjs';

/** The usual place: proxy and wrk on loopback, in front of 127.0.0.1:backendPort. */
const loopback = (ctx, backendPort) => ({
  start: (subject, args) => startSubject(subject, backendPort, { ...ctx.subjectOpts, args }),
  activate: (proxy) => httpOnce(proxy.port, SMALL_FILE),
  wrk: {},
});

export function httpWorkload({ name, description, id, label, headers }) {
  return {
    name,
    description,
    needs: ['nginx'],
    cases: () => [
      {
        id,
        metrics: [{ id, label, unit: 'req/s', better: 'higher' }],
        async run(ctx, subject) {
          const nginx = await ctx.nginx();
          const r = await wrkThrough(ctx, subject, nginx.port, { headers });
          return {
            values: { [id]: r.rps },
            details: { requests: r.requests, errors: r.errors },
            warnings: r.warnings,
          };
        },
      },
    ],
  };
}

/**
 * One wrk run (50 connections, ctx.opts.duration) through a fresh `subject` in front of backendPort.
 * args: extra proxy options; during(proxy): called as wrk starts, returns an async stop function
 * whose result lands in `during` of the answer. Resolves { rps, requests, errors, cpuUsPerReq (CPU µs
 * the proxy process spent per request during wrk), warnings, during }.
 * via: where else the proxy runs and wrk connects from, e.g. network namespaces
 * (lib/transparent-net.mjs): { start(subject, args) → handle, activate(handle), wrk: wrk() options }.
 */
export async function wrkThrough(
  ctx,
  subject,
  backendPort,
  { headers = [], args = [], during, via = loopback(ctx, backendPort) } = {},
) {
  const proxy = await via.start(subject, args);
  let stopDuring = null;
  try {
    // Activate (and exec) the proxy before the clock starts.
    await via.activate(proxy);
    stopDuring = during?.(proxy) ?? null;
    const cpu0 = proxy.pid ? cpuMs(proxy.pid) : null;
    const r = await wrk(proxy.port, SMALL_FILE, { duration: ctx.opts.duration, headers, ...via.wrk });
    const cpu1 = proxy.pid ? cpuMs(proxy.pid) : null;
    const died = proxy.death();
    if (died) throw new Error(`proxy exited during the run: ${died}`);
    const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
    const warnings =
      failed > 0.001 * r.requests
        ? [`wrk: ${failed} errors in ${r.requests} requests ${JSON.stringify(r.errors)}`]
        : [];
    const stopped = stopDuring;
    stopDuring = null;
    // CPU the proxy spent per request: unlike req/s, barely moved by what else the machine runs.
    const cpuUsPerReq =
      cpu0 !== null && cpu1 !== null && r.requests ? ((cpu1 - cpu0) * 1000) / r.requests : null;
    return { ...r, cpuUsPerReq, warnings, during: stopped ? await stopped() : null };
  } finally {
    await stopDuring?.();
    await proxy.stop();
  }
}
