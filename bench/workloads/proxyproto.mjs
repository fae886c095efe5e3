// Cost of the PROXY protocol header (issue 7): wrk with 'Connection: close' (a header per connection)
// through sockrelay-splice, without the header to plain nginx and with --proxy-protocol=v2 to an
// nginx listening with proxy_protocol. Both in every round, alternating order (lib/paired.mjs).
// Runs only if the build's --help offers --proxy-protocol.
import { wrkThrough } from './http.mjs';
import { costMetrics, costResult, paired } from '../lib/paired.mjs';

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
      metrics: costMetrics('pp', {
        off: 'wrk Connection: close, 50 conns, no PROXY header',
        on: 'wrk Connection: close, 50 conns, --proxy-protocol=v2',
        feature: 'PROXY v2',
      }),
      async run(ctx, subject) {
        const plain = await ctx.nginx();
        const pp = await ctx.nginx({ proxyProtocol: true });
        const r = await paired(ctx.round, [
          { key: 'off', run: () => wrkThrough(ctx, subject, plain.port, { headers: HEADERS }) },
          {
            key: 'on',
            run: () => wrkThrough(ctx, subject, pp.port, { headers: HEADERS, args: ['--proxy-protocol=v2'] }),
          },
        ]);
        return costResult('pp', r, 'with --proxy-protocol=v2');
      },
    },
  ];
}
