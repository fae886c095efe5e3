// Cost of per-source admission for UDP (issue 26): 16 clients through sockrelay-udp, without limits
// and with limits none of them reaches. Only a new session asks the source table, so a datagram of
// an open session should cost the same either way. Both in every round, alternating order.
import { paired } from '../lib/paired.mjs';
import { LIMITS_ON, unavailable as withoutOption } from './admission.mjs';
import { measure, unavailable as withoutTool } from './udp.mjs';

const CLIENTS = 16;

export const name = 'admission-udp';
export const description = `UDP echo through sockrelay-udp, ${CLIENTS} clients, without and with per-source limits`;
export const proto = 'udp';

export function unavailable(ctx) {
  return withoutTool(ctx) ?? withoutOption(ctx);
}

export function cases() {
  return [
    {
      id: 'admission-udp',
      subjects: (s) => s.name === 'sockrelay-udp',
      metrics: [
        {
          id: 'adm-udp-off',
          label: `UDP request/response, ${CLIENTS} clients, no limits`,
          unit: 'req/s',
          better: 'higher',
        },
        {
          id: 'adm-udp-on',
          label: `UDP request/response, ${CLIENTS} clients, limits on`,
          unit: 'req/s',
          better: 'higher',
        },
        {
          id: 'adm-udp-ratio',
          label: 'per-source limits ÷ off, UDP req/s (paired per round)',
          unit: '×',
          better: 'higher',
        },
      ],
      async run(ctx, subject) {
        const r = await paired(ctx.round, [
          { key: 'off', run: () => measure(ctx, subject, CLIENTS, 'off') },
          { key: 'on', run: () => measure(ctx, subject, CLIENTS, 'on', LIMITS_ON) },
        ]);
        return {
          values: {
            'adm-udp-off': r.off.values['off-rate'],
            'adm-udp-on': r.on.values['on-rate'],
            'adm-udp-ratio': r.on.values['on-rate'] / r.off.values['off-rate'],
          },
          details: { off: r.off.details, on: r.on.details },
          warnings: [...r.off.warnings, ...r.on.warnings.map((w) => `with per-source limits: ${w}`)],
        };
      },
    },
  ];
}
