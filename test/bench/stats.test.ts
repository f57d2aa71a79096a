import t from 'tap'
import { cdf, cpuPercent, distribution, gaps, histogram, medianPerSecond, percentile, perSecond } from '../../bench/harness/stats.ts'

t.test('percentile is nearest-rank and leaves its input alone', async (t) => {
  const xs = [10, 3, 7, 1, 9, 2, 8, 4, 6, 5]
  t.equal(percentile(xs, 50), 5)
  t.equal(percentile(xs, 90), 9)
  t.equal(percentile(xs, 99), 10)
  t.equal(percentile(xs, 100), 10)
  t.equal(percentile(xs, 0), 1, 'p0 is the minimum')
  t.equal(percentile([42], 99), 42)
  t.same(xs, [10, 3, 7, 1, 9, 2, 8, 4, 6, 5], 'not sorted in place')
  t.ok(Number.isNaN(percentile([], 50)), 'no values: NaN')
  t.equal(percentile([1, Infinity, 2], 99), Infinity, 'Infinity sorts last')
})

t.test('distribution', async (t) => {
  t.same(distribution([400, 1700, 900, 100]), { count: 4, min: 100, mean: 775, p50: 400, p90: 1700, p95: 1700, p99: 1700, max: 1700 })
  const empty = distribution([])
  t.equal(empty.count, 0)
  for (const k of ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'max'] as const) t.ok(Number.isNaN(empty[k]), `empty ${k} is NaN`)
  t.equal(JSON.parse(JSON.stringify(empty)).p50, null, 'and null in JSON')
})

t.test('cdf: steps at each value, thinned by rank to at most maxPoints', async (t) => {
  t.same(cdf([3, 1, 2]), [[1, 1 / 3], [2, 2 / 3], [3, 1]])
  t.same(cdf([]), [])
  t.same(cdf([5]), [[5, 1]])
  const many = Array.from({ length: 1000 }, (_, i) => 999 - i)
  const pts = cdf(many, 200)
  t.ok(pts.length <= 200 && pts.length >= 190, `${pts.length} points`)
  t.same(pts[0], [0, 0.001], 'the smallest value is kept')
  t.same(pts.at(-1), [999, 1], 'the largest value is kept at 1')
  t.ok(pts.every((p, i) => i === 0 || (p[0] >= pts[i - 1]![0] && p[1] > pts[i - 1]![1])), 'monotone')
  // Each point's fraction is its rank: value v has v+1 of 1000 values at or below it.
  t.ok(pts.every(([v, f]) => Math.abs(f - (v + 1) / 1000) < 1e-12), 'fractions are ranks')
})

t.test('perSecond buckets by floor(ms / 1000) and drops what is outside', async (t) => {
  t.same(perSecond([{ atMs: -1 }, { atMs: 0 }, { atMs: 999.9 }, { atMs: 1000 }, { atMs: 2500 }, { atMs: 3000 }], 3), [2, 1, 1])
  t.same(perSecond([{ atMs: 100, weight: 5 }, { atMs: 200, weight: 7 }, { atMs: 1100, weight: 0 }], 2), [12, 0])
  t.same(perSecond([], 2), [0, 0])
  t.same(perSecond([{ atMs: 1 }], 0), [])
})

t.test('gaps and cpuPercent', async (t) => {
  t.same(gaps([3000, 1000, 1500]), [500, 1500], 'sorted first')
  t.same(gaps([1]), [])
  t.equal(cpuPercent(1000, 1500, 1000), 50)
  t.equal(cpuPercent(0, 2500, 1000), 250, 'threads can exceed one core')
  t.equal(cpuPercent(0, 10, 0), 0, 'no time elapsed: 0, not Infinity')
})

t.test('histogram: 1-2-5 bin widths from 0, every value in one bin', async (t) => {
  t.same(histogram([]), [])
  const h = histogram([1000, 1020, 1990, 2000, 4100], 10)
  t.equal(h[1]!.to - h[1]!.from, 500, '4100 / 10 rounds up to a 500 step')
  t.equal(h[0]!.from, 0)
  t.same(h.map((b) => b.count), [0, 0, 2, 1, 1, 0, 0, 0, 1], '[1000, 1500) holds 1000 and 1020; 2000 opens the next bin but one')
  t.equal(h.reduce((a, b) => a + b.count, 0), 5, 'every value counted once')
  t.same(histogram([5, 5, 5], 20, 10), [{ from: 0, to: 10, count: 3 }], 'a given width')
  t.same(histogram([NaN, Infinity, 3], 1, 10), [{ from: 0, to: 10, count: 1 }], 'non-finite values left out')
})

t.test('medianPerSecond: nearest-rank median of each second, null when empty', async (t) => {
  t.same(medianPerSecond([{ atMs: 100, value: 5 }, { atMs: 900, value: 1 }, { atMs: 950, value: 9 }, { atMs: 2500, value: 7 }, { atMs: 9000, value: 1 }, { atMs: -1, value: 1 }], 3), [5, null, 7])
})
