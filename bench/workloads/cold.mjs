// Cold start: how long the first client waits when the proxy is not running yet.
// Socket-activated subjects: systemd-socket-activate already listens; the clock runs from the
// client's connect() to the first response byte, covering exec, startup, backend connect and relay.
// node-naive has no activation, so its clock runs from spawn() (polling until it accepts) to the
// first response byte. direct is the floor: the same request straight to nginx.
import { SMALL_FILE } from '../lib/backends.mjs';
import { startSubject } from '../lib/subjects.mjs';
import { connect, firstByte, httpGet, waitForPort } from '../lib/net.mjs';

export const name = 'cold';
export const description = 'first request through a just-started proxy, ms (median of samples)';
export const needs = ['nginx'];

export function cases(opts) {
  return [
    {
      id: 'cold',
      metrics: [
        {
          id: 'cold-start',
          label: `cold start to first byte (${opts.coldSamples}/round)`,
          unit: 'ms',
          better: 'lower',
          ratioTo: 'node-naive',
        },
      ],
      async run(ctx, subject) {
        const nginx = await ctx.nginx();
        const samples = [];
        for (let i = 0; i < opts.coldSamples; i++) samples.push(await once(subject, nginx.port, ctx));
        return { values: { 'cold-start': samples } };
      },
    },
  ];
}

async function once(subject, backendPort, ctx) {
  const req = httpGet(SMALL_FILE);
  if (subject.kind === 'listen') {
    const t0 = performance.now();
    const proxy = await startSubject(subject, backendPort, { ...ctx.subjectOpts, ready: 'none' });
    try {
      const sock = await waitForPort(proxy.port, 10_000, 1);
      return (await firstByte(sock, req)) - t0;
    } finally {
      await proxy.stop();
    }
  }
  const proxy = await startSubject(subject, backendPort, ctx.subjectOpts);
  try {
    const t0 = performance.now();
    const sock = await connect(proxy.port, 10_000);
    return (await firstByte(sock, req, 10_000)) - t0;
  } finally {
    await proxy.stop();
  }
}
