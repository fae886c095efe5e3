// Cost of the PROXY protocol header (issue 7): wrk with 'Connection: close' (a header per connection)
// through sockrelay-splice, without the header to plain nginx and with --proxy-protocol=v2 to an
// nginx listening with proxy_protocol. Both in every round, alternating order (lib/paired.mjs).
// Runs only if the build's --help offers --proxy-protocol.
import { wrkThrough } from './http.mjs';
import { paired } from '../lib/paired.mjs';

export const name = 'proxyproto';
export const description =
  "wrk 'Connection: close' through sockrelay-splice, without and with --proxy-protocol=v2 (nginx proxy_protocol)";
export const needs = ['nginx'];

const HEADERS = ['Connection: close'];

export function unavailable({ help }) {
  return /--proxy-protocol\b/.test(help ?? '')
    ? null
    : 'the build has no --proxy-protocol (sockrelay --help does not list it)';
}

export function cases() {
  return [
    {
      id: 'proxyproto',
      subjects: (s) => s.name === 'sockrelay-splice',
      metrics: [
        {
          id: 'pp-none',
          label: 'wrk Connection: close, 50 conns, no PROXY header',
          unit: 'req/s',
          better: 'higher',
        },
        {
          id: 'pp-v2',
          label: 'wrk Connection: close, 50 conns, --proxy-protocol=v2',
          unit: 'req/s',
          better: 'higher',
        },
        { id: 'pp-ratio', label: 'PROXY v2 ÷ none, req/s (paired per round)', unit: '×', better: 'higher' },
        {
          id: 'pp-cpu-ratio',
          label: 'PROXY v2 ÷ none, proxy CPU per request (paired)',
          unit: '×',
          better: 'lower',
        },
      ],
      async run(ctx, subject) {
        const plain = await ctx.nginx();
        const pp = await ctx.nginx({ proxyProtocol: true });
        const r = await paired(ctx.round, [
          { key: 'none', run: () => wrkThrough(ctx, subject, plain.port, { headers: HEADERS }) },
          {
            key: 'v2',
            run: () => wrkThrough(ctx, subject, pp.port, { headers: HEADERS, args: ['--proxy-protocol=v2'] }),
          },
        ]);
        return {
          values: {
            'pp-none': r.none.rps,
            'pp-v2': r.v2.rps,
            'pp-ratio': r.v2.rps / r.none.rps,
            'pp-cpu-ratio': r.v2.cpuUsPerReq / r.none.cpuUsPerReq,
          },
          details: {
            errors: { none: r.none.errors, v2: r.v2.errors },
            cpuUsPerReq: { none: r.none.cpuUsPerReq, v2: r.v2.cpuUsPerReq },
          },
          warnings: [...r.none.warnings, ...r.v2.warnings.map((w) => `with --proxy-protocol=v2: ${w}`)],
        };
      },
    },
  ];
}
