// UDP request/response: N clients, each with one 32-byte datagram in flight (a reply sends the next),
// through the subject to a C echo server; replies per second and the p99 round-trip time. Both ends
// are lib/udp.c, so the proxy, not the tools, is what runs out of CPU. Each measurement gets a fresh
// echo server and a fresh proxy; one datagram round trip activates the proxy (or waits until socat
// has bound) before the clock starts, and the first WARM_S seconds are not counted, so that
// per-client session setup is not either.
import { startSubject } from '../lib/subjects.mjs';
import { startUdpEcho, udpLoad, udpRoundTrip } from '../lib/udp.mjs';

const CLIENTS = [1, 16];
export const WARM_S = 0.5;
// The UDP rows compare with the better of the two socat forms (see lib/subjects.mjs).
const REF = 'socat-listen';

export const name = 'udp';
export const description = `UDP echo through the subject, ${CLIENTS.join(' and ')} clients with one datagram in flight each`;
export const proto = 'udp';

export function unavailable({ udpTool, udpToolError }) {
  return udpTool ? null : udpToolError;
}

export function cases() {
  return CLIENTS.map((clients) => {
    const id = `udp-c${clients}`;
    const who = `${clients} client${clients > 1 ? 's' : ''}`;
    return {
      id,
      metrics: [
        {
          id: `${id}-rate`,
          label: `UDP request/response, ${who}`,
          unit: 'req/s',
          better: 'higher',
          ratioTo: REF,
        },
        { id: `${id}-p99`, label: `UDP round trip p99, ${who}`, unit: 'µs', better: 'lower', ratioTo: REF },
      ],
      run: (ctx, subject) => measure(ctx, subject, clients, id),
    };
  });
}

/**
 * One UDP run of `clients` through a fresh `subject` (with extra CLI `args`); resolves the case's
 * values ({ `${id}-rate`, `${id}-p99` }), details and warnings.
 */
export async function measure(ctx, subject, clients, id, args = []) {
  if (!ctx.udpTool) throw new Error('no UDP load tool (lib/udp.c did not compile)');
  const seconds = ctx.opts.duration;
  const echo = await startUdpEcho(ctx.udpTool, seconds + 120);
  let proxy;
  try {
    proxy = await startSubject(subject, echo.port, { ...ctx.subjectOpts, args });
    await udpRoundTrip(proxy.port, 10_000);
    const r = await udpLoad(ctx.udpTool, proxy.port, { clients, warmS: WARM_S, seconds });
    const died = proxy.death();
    if (died) throw new Error(`proxy exited during the run: ${died}`);
    if (r.replies === 0) throw new Error(`no replies (${r.timeouts} timeouts, ${r.errors} errors)`);
    const lost = r.timeouts + r.stale + r.errors;
    const warnings =
      lost > 0.001 * r.replies
        ? [`${r.timeouts} timeouts, ${r.stale} stale replies, ${r.errors} errors in ${r.replies} replies`]
        : [];
    return { values: { [`${id}-rate`]: r.rate, [`${id}-p99`]: r.p99_us }, details: r, warnings };
  } finally {
    await proxy?.stop();
    await echo.stop();
  }
}
