// Cost of per-source admission (issue 26): every accept asks the source table, so connection churn is
// where it would show. wrk with 'Connection: close' through sockrelay-splice, without limits and with
// limits no wrk connection reaches (wrk's 50 come from one source), so the on runs pay the lookup,
// the count and the token bucket on every connection and refuse none. Both in every round,
// alternating order (lib/paired.mjs). Runs only if the build's --help offers the option.
import { wrkThrough } from './http.mjs';
import { costCase } from '../lib/paired.mjs';

export const name = 'admission';
export const description =
  "wrk 'Connection: close' through sockrelay-splice, without and with per-source limits";
export const needs = ['nginx'];

const HEADERS = ['Connection: close'];
/** Limits that admit all of wrk: a per-source cap over its 50 connections, a rate over its churn. */
export const LIMITS_ON = ['--connections-per-source=1000', '--connection-rate-per-source=1000000/1s'];

export function unavailable({ help }) {
  return /--connections-per-source\b/.test(help ?? '')
    ? null
    : 'the build has no --connections-per-source (sockrelay --help does not list it)';
}

export function cases() {
  return [
    costCase({
      id: 'admission',
      prefix: 'adm',
      labels: {
        off: 'wrk Connection: close, 50 conns, no per-source limits',
        on: 'wrk Connection: close, 50 conns, per-source limits on',
        feature: 'per-source limits',
      },
      flag: 'with per-source limits',
      runs: async (ctx, subject) => {
        const nginx = await ctx.nginx();
        return [
          () => wrkThrough(ctx, subject, nginx.port, { headers: HEADERS }),
          () => wrkThrough(ctx, subject, nginx.port, { headers: HEADERS, args: LIMITS_ON }),
        ];
      },
    }),
  ];
}
