// Bulk throughput: iperf3 through the subject, 1 and 4 parallel streams, both directions.
// Each measurement gets a fresh iperf3 server and a freshly activated proxy. iperf3's own rate is
// taken over its test interval, after every stream is connected, so activation is not counted.
import { startIperf3 } from '../lib/backends.mjs';
import { startSubject } from '../lib/subjects.mjs';
import { run, tail } from '../lib/proc.mjs';
import { HOST } from '../lib/net.mjs';

const VARIANTS = [
  { streams: 1, reverse: false },
  { streams: 4, reverse: false },
  { streams: 1, reverse: true },
  { streams: 4, reverse: true },
];

export const name = 'bulk';
export const description = 'iperf3 throughput, 1 and 4 streams (-P 4), both directions (-R)';

export function cases() {
  return VARIANTS.map(({ streams, reverse }) => {
    const id = `bulk-p${streams}${reverse ? '-r' : ''}`;
    return {
      id,
      metrics: [
        {
          id,
          label: `iperf3 ${streams} stream${streams > 1 ? 's' : ''}, ${reverse ? 'backend→client (-R)' : 'client→backend'}`,
          unit: 'Gbit/s',
          better: 'higher',
        },
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
    const r = await run(argv, { ms: (d + 20) * 1000 });
    let json;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 printed no JSON (${r.code ?? r.signal}): ${tail(r.stderr || r.stdout)}`);
    }
    if (json.error) throw new Error(`iperf3: ${json.error}`);
    const bps = json.end?.sum_received?.bits_per_second;
    if (!Number.isFinite(bps)) throw new Error('iperf3 JSON has no end.sum_received');
    return {
      values: { [id]: bps / 1e9 },
      details: { retransmits: json.end?.sum_sent?.retransmits ?? null },
    };
  } finally {
    await proxy?.stop();
    await server.stop();
  }
}
