// Cost of transparent mode (issue 16): wrk 'Connection: close' (a backend connection per request,
// each bound to the client's address) through sockrelay-splice without and with --transparent,
// both in every round in alternating order (lib/paired.mjs), in the same network of namespaces
// (lib/transparent-net.mjs), so that only the flag differs. Runs if the build's --help offers
// --transparent and the machine can make namespaces (root).
import { wrkThrough } from './http.mjs';
import { paired } from '../lib/paired.mjs';
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
      metrics: [
        {
          id: 'tp-off',
          label: 'wrk Connection: close, 50 conns, netns, not transparent',
          unit: 'req/s',
          better: 'higher',
        },
        {
          id: 'tp-on',
          label: 'wrk Connection: close, 50 conns, netns, --transparent',
          unit: 'req/s',
          better: 'higher',
        },
        { id: 'tp-ratio', label: 'transparent ÷ off, req/s (paired per round)', unit: '×', better: 'higher' },
        {
          id: 'tp-cpu-ratio',
          label: 'transparent ÷ off, proxy CPU per request (paired)',
          unit: '×',
          better: 'lower',
        },
      ],
      async run(ctx, subject) {
        const net = await transparentNet(ctx);
        try {
          const through = (args) => wrkThrough(ctx, subject, 0, { headers: HEADERS, args, via: net.via });
          const r = await paired(ctx.round, [
            { key: 'off', run: () => through([]) },
            { key: 'on', run: () => through(['--transparent']) },
          ]);
          return {
            values: {
              'tp-off': r.off.rps,
              'tp-on': r.on.rps,
              'tp-ratio': r.on.rps / r.off.rps,
              'tp-cpu-ratio': r.on.cpuUsPerReq / r.off.cpuUsPerReq,
            },
            details: {
              errors: { off: r.off.errors, on: r.on.errors },
              cpuUsPerReq: { off: r.off.cpuUsPerReq, on: r.on.cpuUsPerReq },
            },
            warnings: [...r.off.warnings, ...r.on.warnings.map((w) => `with --transparent: ${w}`)],
          };
        } finally {
          await net.stop();
        }
      },
    },
  ];
}
