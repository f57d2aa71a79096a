import t from 'tap'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { parseExposition, sampleSum, sampleValue } from '../../bench/harness/prometheus.ts'

/** The one Prometheus text-format reader (bench harness and tests), against what prom-client writes. */

t.test("prom-client's exposition reads back exactly: counters, gauges, labelled histograms, escapes, special floats", async (t) => {
  const r = new Registry()
  const registers = [r]
  const c = new Counter({ name: 'medrec_test_events_total', help: 'Events.', labelNames: ['kind'], registers })
  const h = new Histogram({ name: 'medrec_test_size', help: 'x', labelNames: ['m'], buckets: [1, 10, 100], registers })
  const nasty = 'a "quoted" \\ back\\slash\nnew line } , = \u00fc 漢'
  new Gauge({ name: 'medrec_test_escapes', help: 'Help with \\ and\na line feed.', labelNames: ['v'], registers }).set({ v: nasty }, 1)
  const special = new Gauge({ name: 'medrec_test_special', help: 'x', labelNames: ['v'], registers })
  special.set({ v: 'inf' }, Infinity)
  special.set({ v: '-inf' }, -Infinity)
  special.set({ v: 'nan' }, NaN)
  new Counter({ name: 'medrec_test_plain_total', help: 'x', registers })
  c.inc({ kind: 'a' })
  c.inc({ kind: 'b' }, 2.5)
  c.inc({ kind: 'a' })
  for (const v of [0, 5, 5, 50, 500]) h.observe({ m: 'a' }, v)
  h.observe({ m: 'b' }, 10) // on a bound: counted in that bucket (le is "less or equal")

  const fams = parseExposition(await r.metrics())
  t.equal(sampleValue(fams, 'medrec_test_events_total', { kind: 'a' }), 2)
  t.equal(sampleSum(fams, 'medrec_test_events_total'), 4.5, 'all label sets')
  t.equal(sampleValue(fams, 'medrec_test_plain_total'), 0, 'an unlabelled metric shows 0 from the start')
  const le = (m: string, le: string) => sampleValue(fams, 'medrec_test_size_bucket', { m, le })
  t.same(['1', '10', '100', '+Inf'].map((l) => le('a', l)), [1, 3, 4, 5], 'cumulative buckets per label set')
  t.same(['1', '10', '100', '+Inf'].map((l) => le('b', l)), [0, 1, 1, 1])
  t.equal(sampleValue(fams, 'medrec_test_size_sum', { m: 'a' }), 560)
  t.equal(sampleValue(fams, 'medrec_test_size_count', { m: 'b' }), 1)
  const f = fams.get('medrec_test_escapes')!
  t.equal(f.help, 'Help with \\ and\na line feed.', 'help unescaped')
  t.same(f.samples[0]!.labels, { v: nasty }, 'label value read back unchanged')
  t.equal(sampleValue(fams, 'medrec_test_special', { v: 'inf' }), Infinity)
  t.equal(sampleValue(fams, 'medrec_test_special', { v: '-inf' }), -Infinity)
  t.ok(Number.isNaN(sampleValue(fams, 'medrec_test_special', { v: 'nan' })), 'NaN in any case ("Nan" from prom-client)')
  t.equal(sampleValue(fams, 'medrec_test_missing'), undefined)
})

t.test('the strict parser refuses what a scraper would misread', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['medrec_x 1\n', /no TYPE line/],
    ['# TYPE medrec_x gauge\nmedrec_x 1', /line feed/],
    ['# TYPE medrec_x gauge\nmedrec_x{a="b} 1\n', /unterminated/],
    ['# TYPE medrec_x gauge\nmedrec_x{a="\\t"} 1\n', /bad escape/],
    ['# TYPE medrec_x gauge\nmedrec_x one\n', /bad value/],
    ['# TYPE medrec_x gauge\nmedrec_x 1\nmedrec_x 2\n', /duplicate series/],
    ['# TYPE medrec_x gauge\n# TYPE medrec_y gauge\nmedrec_x 1\n', /no TYPE line/],
    ['# TYPE medrec_x gauge\nmedrec_x 1\n# TYPE medrec_y gauge\nmedrec_y 1\n# HELP medrec_x again\n', /split by another family/],
    ['# TYPE medrec_c_total counter\nmedrec_c_total -1\n', /counter/],
    ['# TYPE medrec_h histogram\nmedrec_h_bucket{le="1"} 2\nmedrec_h_bucket{le="+Inf"} 1\nmedrec_h_sum 1\nmedrec_h_count 1\n', /cumulative/],
    ['# TYPE medrec_h histogram\nmedrec_h_bucket{le="1"} 1\nmedrec_h_sum 1\nmedrec_h_count 1\n', /\+Inf/],
    ['# TYPE medrec_h histogram\nmedrec_h_bucket{le="+Inf"} 2\nmedrec_h_sum 1\nmedrec_h_count 1\n', /!= _count/],
  ]
  for (const [text, message] of bad) t.throws(() => parseExposition(text), { name: 'BenchError', code: 'BENCH_BAD_METRICS', message }, JSON.stringify(text))
  t.equal(sampleValue(parseExposition('# TYPE medrec_x gauge\nmedrec_x 1\n\n# TYPE medrec_y gauge\nmedrec_y 2\n'), 'medrec_y'), 2, 'blank lines between families are fine')
})
