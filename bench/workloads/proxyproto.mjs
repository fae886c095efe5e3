// Cost of the PROXY protocol header (issue 7): wrk with 'Connection: close' (a header per connection)
// through sockrelay-splice, without the header to plain nginx and with --proxy-protocol=v2 to an
// nginx listening with proxy_protocol. Both in every round, alternating order (lib/paired.mjs).
// Runs only if the build's --help offers --proxy-protocol.
import { wrkThrough } from './http.mjs';
import { costCase } from '../lib/paired.mjs';

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
    costCase({
      id: 'proxyproto',
      prefix: 'pp',
      labels: {
        off: 'wrk Connection: close, 50 conns, no PROXY header',
        on: 'wrk Connection: close, 50 conns, --proxy-protocol=v2',
        feature: 'PROXY v2',
      },
      flag: 'with --proxy-protocol=v2',
      runs: async (ctx, subject) => {
        const plain = await ctx.nginx();
        const pp = await ctx.nginx({ proxyProtocol: true });
        return [
          () => wrkThrough(ctx, subject, plain.port, { headers: HEADERS }),
          () => wrkThrough(ctx, subject, pp.port, { headers: HEADERS, args: ['--proxy-protocol=v2'] }),
        ];
      },
    }),
  ];
}
