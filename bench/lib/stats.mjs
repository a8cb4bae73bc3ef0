// Small statistics helpers. Every figure in the report is a median over repeats with its spread.

/** Sorted copy (numbers, ascending). */
export function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Quantile q (0..1) with linear interpolation between order statistics. */
export function quantile(values, q) {
  const s = values instanceof Float64Array && isSortedAsc(values) ? values : sorted(values);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function isSortedAsc(a) {
  for (let i = 1; i < a.length; i++) if (a[i] < a[i - 1]) return false;
  return true;
}

export const median = (values) => quantile(values, 0.5);

/** {median, min, max, q1, q3, n} of a list of repeats, rounded to `digits` significant decimals. */
export function summary(values, digits = 4) {
  const s = sorted(values);
  const r = (x) => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : null);
  return { median: r(quantile(s, 0.5)), min: r(s[0]), max: r(s[s.length - 1]), q1: r(quantile(s, 0.25)), q3: r(quantile(s, 0.75)), n: s.length };
}

/** Ratio of two summaries' medians (a/b), rounded. */
export function ratio(a, b, digits = 3) {
  const x = a?.median / b?.median;
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : null;
}
