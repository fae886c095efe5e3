// Cost of transparent mode (issue 16): wrk 'Connection: close' (a backend connection per request,
// each bound to the client's address) through sockrelay-splice without and with --transparent,
// both in every round in alternating order (lib/paired.mjs), in the same network of namespaces
// (lib/transparent-net.mjs), so that only the flag differs. Runs if the build's --help offers
// --transparent and the machine can make namespaces (root).
import { wrkThrough } from './http.mjs';
import { costMetrics, costResult, paired } from '../lib/paired.mjs';
import { transparentNet, transparentNetUnavailable } from '../lib/transparent-net.mjs';

export const name = 'transparent';
export const description =
  "wrk 'Connection: close' through sockrelay-splice in network namespaces, without and with --transparent";

const HEADERS = ['Connection: close'];

export function unavailable({ help }) {
  if (!/--transparent\b/.test(help ?? '')) return 'the build has no --transparent (sockrelay --help)';
  return transparentNetUnavailable();
}

export function cases() {
  return [
    {
      id: 'transparent',
      subjects: (s) => s.name === 'sockrelay-splice',
      metrics: costMetrics('tp', {
        off: 'wrk Connection: close, 50 conns, netns, not transparent',
        on: 'wrk Connection: close, 50 conns, netns, --transparent',
        feature: 'transparent',
      }),
      async run(ctx, subject) {
        const net = await transparentNet(ctx);
        try {
          const through = (args) => wrkThrough(ctx, subject, 0, { headers: HEADERS, args, via: net.via });
          const r = await paired(ctx.round, [
            { key: 'off', run: () => through([]) },
            { key: 'on', run: () => through(['--transparent']) },
          ]);
          return costResult('tp', r, 'with --transparent');
        } finally {
          await net.stop();
        }
      },
    },
  ];
}
