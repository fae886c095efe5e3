// Cold start: how long the first client waits when the proxy is not running yet, and how much
// memory the proxy holds once it has served that client. Every proxy is started the same way, by
// systemd-socket-activate (node-naive serves fd 3 then): the clock runs from the client's connect()
// to the first response byte, covering exec, start-up, backend connect and relay. direct is the
// floor: the same request straight to nginx.
//
// cold-start gives each subject's own activations; cold-paired measures sockrelay against
// node-naive in pairs of activations, alternating which goes first, and reports the median and
// spread of the per-pair ratios, so that a machine that slows down between pairs moves both sides.
import { SMALL_FILE } from '../lib/backends.mjs';
import { activated, startSubject, SUBJECTS } from '../lib/subjects.mjs';
import { connect, httpGet } from '../lib/net.mjs';
import { rssKiB } from '../lib/stats.mjs';

export const name = 'cold';
export const description =
  'first request through a just-activated proxy: ms to the first byte, RSS after it (paired with node-naive)';
export const needs = ['nginx'];

const NAIVE = SUBJECTS.find((s) => s.name === 'node-naive');

export function cases(opts) {
  return [
    {
      id: 'cold',
      metrics: [
        {
          id: 'cold-start',
          label: `cold start to first byte, socket-activated (${opts.coldSamples}/round)`,
          unit: 'ms',
          better: 'lower',
          ratioTo: 'node-naive',
        },
        {
          id: 'cold-rss',
          label: 'RSS after the first request',
          unit: 'MB',
          better: 'lower',
          ratioTo: 'node-naive',
        },
      ],
      async run(ctx, subject) {
        const nginx = await ctx.nginx();
        const starts = [];
        const rss = [];
        for (let i = 0; i < opts.coldSamples; i++) {
          const r = await coldRequest(activated(subject), nginx.port, ctx);
          starts.push(r.ms);
          if (r.rssMB !== null) rss.push(r.rssMB);
        }
        return { values: { 'cold-start': starts, 'cold-rss': rss } };
      },
    },
    {
      id: 'cold-paired',
      subjects: (s) => s.name === 'sockrelay-splice',
      metrics: [
        {
          id: 'cold-ratio',
          label: 'cold start ÷ node-naive, paired activations (median, min–max)',
          unit: '×',
          better: 'lower',
          spread: true,
        },
        {
          id: 'cold-rss-ratio',
          label: 'RSS after the first request ÷ node-naive, paired (median, min–max)',
          unit: '×',
          better: 'lower',
          spread: true,
        },
      ],
      async run(ctx, subject) {
        const nginx = await ctx.nginx();
        const time = [];
        const rss = [];
        const pairs = [];
        for (let i = 0; i < opts.coldSamples; i++) {
          // Alternate who goes first, across pairs and across rounds.
          const ownFirst = (ctx.round + i) % 2 === 0;
          const order = ownFirst ? [subject, NAIVE] : [NAIVE, subject];
          const r = {};
          for (const s of order) r[s.name] = await coldRequest(activated(s), nginx.port, ctx);
          const own = r[subject.name];
          const naive = r[NAIVE.name];
          time.push(own.ms / naive.ms);
          if (own.rssMB !== null && naive.rssMB !== null) rss.push(own.rssMB / naive.rssMB);
          pairs.push({ first: order[0].name, [subject.name]: own, [NAIVE.name]: naive });
        }
        return { values: { 'cold-ratio': time, 'cold-rss-ratio': rss }, details: { pairs } };
      },
    },
  ];
}

/**
 * One activation: connect, send a GET, time the first response byte; once the response has
 * ended, the proxy's RSS (null for direct, which has no proxy).
 */
async function coldRequest(subject, backendPort, ctx) {
  const proxy = await startSubject(subject, backendPort, ctx.subjectOpts);
  try {
    const t0 = performance.now();
    const sock = await connect(proxy.port, 10_000);
    const first = await responseOf(sock, httpGet(SMALL_FILE), 10_000);
    const rss = proxy.pid === null ? null : rssKiB(proxy.pid);
    return { ms: first - t0, rssMB: rss === null ? null : rss / 1024 };
  } finally {
    await proxy.stop();
  }
}

/** Sends `request`; resolves performance.now() at the first response byte once the response has ended. */
function responseOf(sock, request, ms) {
  return new Promise((resolve, reject) => {
    let first = null;
    const t = setTimeout(() => done(new Error(`no complete response within ${ms} ms`)), ms);
    const done = (err) => {
      clearTimeout(t);
      sock.destroy();
      if (err) reject(err);
      else resolve(first);
    };
    sock.on('data', () => (first ??= performance.now()));
    sock.once('end', () => done(first === null ? new Error('closed before any response byte') : null));
    sock.once('error', done);
    sock.write(request);
  });
}
