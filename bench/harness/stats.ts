/** The harness's arithmetic: percentiles, distributions, CDFs and per-second series. Pure functions. */

/** Comparison, not subtraction: values may be Infinity. */
const ascending = (a: number, b: number): number => (a < b ? -1 : a > b ? 1 : 0)

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort(ascending)
  return sorted[rankIndex(sorted.length, p)]!
}

function rankIndex(n: number, p: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))
}

export interface Distribution {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  max: number
}

/** Summary of a sample; every figure is NaN (null in JSON) for an empty one. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort(ascending)
  const n = sorted.length
  const at = (p: number) => (n === 0 ? NaN : sorted[rankIndex(n, p)]!)
  return {
    count: n,
    min: n === 0 ? NaN : sorted[0]!,
    mean: n === 0 ? NaN : sorted.reduce((s, v) => s + v, 0) / n,
    p50: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max: n === 0 ? NaN : sorted[n - 1]!,
  }
}

/**
 * Empirical CDF as [value, fraction ≤ value] steps, thinned to at most `maxPoints` (evenly by
 * rank; the first and last sample are always kept) so a chart of 100,000 latencies stays small.
 */
export function cdf(values: readonly number[], maxPoints = 200): Array<[number, number]> {
  const sorted = [...values].sort(ascending)
  const n = sorted.length
  if (n === 0) return []
  const points: Array<[number, number]> = []
  const step = Math.max(1, (n - 1) / Math.max(1, maxPoints - 1))
  for (let r = 0; r < n - 1; r += step) {
    const i = Math.floor(r)
    points.push([sorted[i]!, (i + 1) / n])
  }
  points.push([sorted[n - 1]!, 1])
  return points
}

/**
 * Sums `weight` (default 1) of events into one-second buckets [0, seconds): an event at
 * `atMs` (milliseconds since the start) goes to bucket floor(atMs / 1000). Events outside the
 * range are dropped.
 */
export function perSecond(events: Iterable<{ atMs: number; weight?: number }>, seconds: number): number[] {
  const buckets = new Array<number>(Math.max(0, seconds)).fill(0)
  for (const e of events) {
    const b = Math.floor(e.atMs / 1000)
    if (b >= 0 && b < buckets.length) buckets[b]! += e.weight ?? 1
  }
  return buckets
}

/** Differences between consecutive times (sorted first). */
export function gaps(times: readonly number[]): number[] {
  const sorted = [...times].sort(ascending)
  return sorted.slice(1).map((t, i) => t - sorted[i]!)
}

/** CPU share of one core between two cumulative CPU-time readings (same unit as the wall time). */
export function cpuPercent(cpuBefore: number, cpuAfter: number, wallElapsed: number): number {
  return wallElapsed <= 0 ? 0 : (100 * (cpuAfter - cpuBefore)) / wallElapsed
}

/** One bar of a histogram: values in [from, to). */
export interface Bin {
  from: number
  to: number
  count: number
}

/**
 * Equal-width bins from 0 (or the smallest value, if negative) over every value, the width a
 * 1-2-5 step giving about `bins` bars (`width` overrides it). Non-finite values are left out.
 */
export function histogram(values: readonly number[], bins = 20, width?: number): Bin[] {
  const xs = values.filter((v) => Number.isFinite(v))
  if (xs.length === 0) return []
  const lo = Math.min(0, ...xs)
  const hi = Math.max(...xs)
  const w = width ?? step125((hi - lo) / Math.max(1, bins))
  const start = Math.floor(lo / w) * w
  const n = Math.max(1, Math.floor((hi - start) / w) + 1)
  const out: Bin[] = Array.from({ length: n }, (_, i) => ({ from: start + i * w, to: start + (i + 1) * w, count: 0 }))
  for (const x of xs) out[Math.min(n - 1, Math.floor((x - start) / w))]!.count++
  return out
}

/** The smallest 1, 2 or 5 × 10^k at or above `x` (1 for 0 or less). */
function step125(x: number): number {
  if (!(x > 0)) return 1
  const mag = 10 ** Math.floor(Math.log10(x))
  const r = x / mag
  return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag
}

/**
 * The median of the values falling in each one-second bucket [0, seconds) (events at `atMs`
 * ms since the start); null for a second with none.
 */
export function medianPerSecond(events: Iterable<{ atMs: number; value: number }>, seconds: number): Array<number | null> {
  const buckets: number[][] = Array.from({ length: Math.max(0, seconds) }, () => [])
  for (const e of events) {
    const b = Math.floor(e.atMs / 1000)
    if (b >= 0 && b < buckets.length) buckets[b]!.push(e.value)
  }
  return buckets.map((xs) => (xs.length === 0 ? null : percentile(xs, 50)))
}
