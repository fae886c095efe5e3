// Bulk throughput: iperf3 through the subject, 1 and 4 parallel streams, both directions.
// Each measurement gets a fresh iperf3 server and a freshly activated proxy. iperf3's own rate is
// taken over its test interval, after every stream is connected, so activation is not counted.
//
// Besides Gbit/s, what the relay spent on it: the proxy's CPU time per GB moved (/proc/PID/stat)
// and its wake-ups per GB (voluntary context switches of all its threads), both over the iperf3
// run only. The proxy is activated by an empty connection first, so start-up is in neither.
import { startIperf3 } from '../lib/backends.mjs';
import { startSubject } from '../lib/subjects.mjs';
import { run, tail } from '../lib/proc.mjs';
import { HOST, emptyConnectionThrough } from '../lib/net.mjs';
import { cpuMs, wakeups } from '../lib/stats.mjs';

const VARIANTS = [
  { streams: 1, reverse: false },
  { streams: 4, reverse: false },
  { streams: 1, reverse: true },
  { streams: 4, reverse: true },
];

export const name = 'bulk';
export const description =
  'iperf3 throughput, 1 and 4 streams (-P 4), both directions (-R); proxy CPU and wake-ups per GB';

export function cases() {
  return VARIANTS.map(({ streams, reverse }) => {
    const id = `bulk-p${streams}${reverse ? '-r' : ''}`;
    const what = `iperf3 ${streams} stream${streams > 1 ? 's' : ''}, ${reverse ? 'backend→client (-R)' : 'client→backend'}`;
    return {
      id,
      metrics: [
        { id, label: what, unit: 'Gbit/s', better: 'higher' },
        { id: `${id}-cpu`, label: `${what}, proxy CPU per GB`, unit: 'CPU s/GB', better: 'lower' },
        { id: `${id}-wake`, label: `${what}, proxy wake-ups per GB`, unit: '1/GB', better: 'lower' },
      ],
      run: (ctx, subject) => measure(ctx, subject, streams, reverse, id),
    };
  });
}

async function measure(ctx, subject, streams, reverse, id) {
  const server = await startIperf3();
  let proxy;
  try {
    proxy = await startSubject(subject, server.port, ctx.subjectOpts);
    // iperf3's server takes an empty control connection as a failed test and listens on.
    if (proxy.pid) await emptyConnectionThrough(proxy.port);
    const d = ctx.opts.duration;
    const argv = [
      'iperf3',
      '-c',
      HOST,
      '-p',
      String(proxy.port),
      '-t',
      String(d),
      '-P',
      String(streams),
      '-J',
    ];
    if (reverse) argv.push('-R');
    const before = proxy.pid ? { cpu: cpuMs(proxy.pid), wake: wakeups(proxy.pid) } : null;
    const r = await run(argv, { ms: (d + 20) * 1000 });
    const after = proxy.pid ? { cpu: cpuMs(proxy.pid), wake: wakeups(proxy.pid) } : null;
    let json;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 printed no JSON (${r.code ?? r.signal}): ${tail(r.stderr || r.stdout)}`);
    }
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    const bps = json.end?.sum_received?.bits_per_second;
    if (!Number.isFinite(bps)) throw new Error('iperf3 JSON has no end.sum_received');
    // iperf3 counts its own test interval; the proxy readings also span connecting and the end.
    const gb = (json.end?.sum_sent?.bytes ?? NaN) / 1e9;
    const spent = (key) =>
      before?.[key] != null && after?.[key] != null && gb > 0 ? (after[key] - before[key]) / gb : null;
    const values = { [id]: bps / 1e9 };
    const cpu = spent('cpu');
    const wake = spent('wake');
    if (cpu !== null) values[`${id}-cpu`] = cpu / 1000;
    if (wake !== null) values[`${id}-wake`] = wake;
    return {
      values,
      details: {
        retransmits: json.end?.sum_sent?.retransmits ?? null,
        bytes: json.end?.sum_sent?.bytes ?? null,
        cpuMs: before && after ? after.cpu - before.cpu : null,
        wakeups: before && after ? after.wake - before.wake : null,
      },
    };
  } finally {
    await proxy?.stop();
    await server.stop();
  }
}
