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
