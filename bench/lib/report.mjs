// Turns samples into medians and ratios, and medians into a markdown table.
import { median, fmt } from './stats.mjs';

const DEFAULT_REF = 'socket-proxyd';
const isSockrelay = (name) => name.startsWith('sockrelay');
const SHORT = { 'socket-proxyd': 'proxyd', 'node-naive': 'naive', 'socat-listen': 'socat' };

/**
 * metrics: [{ id, label, unit, better, ratioTo? }]; samples: { metricId: { subject: [n] } };
 * byRound: { metricId: { subject: { round: [n] } } }, for the per-round (paired) ratios.
 */
export function summarise(metrics, subjects, samples, byRound = {}) {
  return metrics.map((m) => {
    const ref = m.ratioTo ?? DEFAULT_REF;
    const medians = {};
    for (const s of subjects) medians[s] = median(samples[m.id]?.[s] ?? []);
    const ratios = {};
    for (const s of subjects.filter(isSockrelay)) {
      const a = medians[s];
      const b = medians[ref];
      ratios[s] = a !== null && b ? a / b : null;
    }
    // Each round's ratio of the two subjects' medians in that round: noise that hits a whole
    // round hits both, so the spread of these says how far the ratio itself can be trusted.
    const roundRatios = {};
    for (const s of subjects.filter(isSockrelay)) {
      const mine = byRound[m.id]?.[s] ?? {};
      const theirs = byRound[m.id]?.[ref] ?? {};
      const rs = Object.keys(mine)
        .filter((round) => theirs[round])
        .map((round) => median(mine[round]) / median(theirs[round]))
        .filter((x) => Number.isFinite(x));
      if (rs.length) roundRatios[s] = { median: median(rs), range: range(rs), n: rs.length };
    }
    // Rows that ask for it show the range of their samples next to the median.
    const spreads = {};
    if (m.spread) for (const s of subjects) spreads[s] = range(samples[m.id]?.[s] ?? []);
    return { ...m, ratioTo: ref, medians, ratios, roundRatios, spreads, samples: samples[m.id] ?? {} };
  });
}

function range(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? [Math.min(...v), Math.max(...v)] : null;
}

export function table(rows, subjects) {
  const head = ['workload', 'unit', ...subjects];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const cells = subjects.map((s) => {
      const v = r.medians[s];
      if (v === null) return '–';
      const spread = r.spreads?.[s];
      if (spread) return `${fmt(v)} (${fmt(spread[0])}–${fmt(spread[1])})`;
      const ref = SHORT[r.ratioTo] ?? r.ratioTo;
      const paired = r.roundRatios?.[s];
      // With two rounds or more: the median of the per-round ratios and their range.
      if (paired && paired.n > 1) {
        const [lo, hi] = paired.range;
        return `${fmt(v)} (${paired.median.toFixed(2)}× ${ref}, ${lo.toFixed(2)}–${hi.toFixed(2)})`;
      }
      const ratio = r.ratios[s];
      return ratio !== undefined && ratio !== null ? `${fmt(v)} (${ratio.toFixed(2)}× ${ref})` : fmt(v);
    });
    lines.push(`| ${r.label} | ${r.unit} ${r.better === 'higher' ? '↑' : '↓'} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
