// Cost of metrics (issue 6): wrk keep-alive through sockrelay-splice, once without metrics and once
// with --metrics-listen and --metrics-textfile while a scraper GETs /metrics every second. Both run
// in every round, in alternating order (lib/paired.mjs); the ratios on ÷ off are taken per round:
// of req/s, and of the CPU time the proxy process spent per request (the steadier of the two on a
// machine that runs other jobs: req/s moves with them, CPU per request much less).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { wrkThrough } from './http.mjs';
import { costMetrics, costResult, paired } from '../lib/paired.mjs';
import { startScraper } from '../lib/scraper.mjs';
import { HOST, freePort } from '../lib/net.mjs';

export const name = 'metrics';
export const description =
  'wrk keep-alive through sockrelay-splice, metrics off vs on (HTTP endpoint scraped every 1 s, textfile)';
export const needs = ['nginx'];

let runs = 0;

export function cases() {
  return [
    {
      id: 'metrics',
      subjects: (s) => s.name === 'sockrelay-splice',
      metrics: costMetrics('metrics', {
        off: 'wrk keep-alive, 50 conns, metrics off',
        on: 'wrk keep-alive, 50 conns, metrics on, scraped 1/s',
        feature: 'metrics on',
      }),
      async run(ctx, subject) {
        const nginx = await ctx.nginx();
        const r = await paired(ctx.round, [
          { key: 'off', run: () => wrkThrough(ctx, subject, nginx.port) },
          { key: 'on', run: () => withMetrics(ctx, subject, nginx.port) },
        ]);
        const cost = costResult('metrics', r, 'with metrics');
        const s = r.on.during;
        if (s.failed > 0 || s.scrapes === 0)
          cost.warnings.push(`${s.failed} of ${s.scrapes + s.failed} scrapes failed: ${s.lastError}`);
        if (!r.on.textfile) cost.warnings.push('no metrics textfile after the run');
        return { ...cost, details: { ...cost.details, scrapes: s, textfile: r.on.textfile } };
      },
    },
  ];
}

async function withMetrics(ctx, subject, backendPort) {
  const port = await freePort();
  const textfile = path.join(ctx.tmp, `metrics-${++runs}.prom`);
  const args = [`--metrics-listen=${HOST}:${port}`, `--metrics-textfile=${textfile}`];
  const r = await wrkThrough(ctx, subject, backendPort, { args, during: () => startScraper(port) });
  // The textfile is written every 15 s and when the proxy exits (after wrkThrough stopped it).
  return { ...r, textfile: existsSync(textfile) };
}
