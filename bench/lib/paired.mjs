// A/B measurements of one subject (a feature off and on): both variants run in every round, A first
// in odd rounds and B first in even ones, and their ratio is taken within the round, so that drift
// of a busy machine lands on both sides of each pair instead of on one variant.

/** variants: [{ key, run: () => Promise }]; resolves { [key]: result }. */
export async function paired(round, [a, b]) {
  const order = round % 2 === 1 ? [a, b] : [b, a];
  const out = {};
  for (const v of order) out[v.key] = await v.run();
  return out;
}

/**
 * The four rows of a feature's cost, measured as a pair of wrk runs (off, on): req/s each way, and
 * the per-round ratios on ÷ off of req/s and of the proxy's CPU time per request.
 */
export function costMetrics(prefix, { off, on, feature }) {
  return [
    { id: `${prefix}-off`, label: off, unit: 'req/s', better: 'higher' },
    { id: `${prefix}-on`, label: on, unit: 'req/s', better: 'higher' },
    {
      id: `${prefix}-ratio`,
      label: `${feature} ÷ off, req/s (paired per round)`,
      unit: '×',
      better: 'higher',
    },
    {
      id: `${prefix}-cpu-ratio`,
      label: `${feature} ÷ off, proxy CPU per request (paired)`,
      unit: '×',
      better: 'lower',
    },
  ];
}

/** Those rows' values from one round's pair of wrkThrough results; `flag` names the on run's warnings. */
export function costResult(prefix, { off, on }, flag) {
  return {
    values: {
      [`${prefix}-off`]: off.rps,
      [`${prefix}-on`]: on.rps,
      [`${prefix}-ratio`]: on.rps / off.rps,
      [`${prefix}-cpu-ratio`]: on.cpuUsPerReq / off.cpuUsPerReq,
    },
    details: {
      errors: { off: off.errors, on: on.errors },
      cpuUsPerReq: { off: off.cpuUsPerReq, on: on.cpuUsPerReq },
    },
    warnings: [...off.warnings, ...on.warnings.map((w) => `${flag}: ${w}`)],
  };
}

/**
 * The case of a feature's cost on sockrelay-splice: `runs(ctx, subject)` resolves [off, on], two
 * functions that each run wrk once (wrkThrough); paired per round, the rows of costMetrics.
 */
export function costCase({ id, prefix, labels, flag, runs }) {
  return {
    id,
    subjects: (s) => s.name === 'sockrelay-splice',
    metrics: costMetrics(prefix, labels),
    async run(ctx, subject) {
      const [off, on] = await runs(ctx, subject);
      const r = await paired(ctx.round, [
        { key: 'off', run: off },
        { key: 'on', run: on },
      ]);
      return costResult(prefix, r, flag);
    },
  };
}
