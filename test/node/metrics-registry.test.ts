import t from 'tap'
import { createRegistry, escapeLabelValue, formatValue } from '../../node/metrics/index.ts'
import { watchGatekeeper } from '../../node/metrics/index.ts'
import { setLogSink } from '../../common/logger.ts'
import { parseExposition, sampleValue } from '../helpers/prometheus.ts'

const logs: string[] = []
setLogSink((line) => logs.push(line))

t.test('counters, gauges and histograms render as the text format 0.0.4, byte for byte', async (t) => {
  const r = createRegistry()
  const c = r.counter({ name: 'medrec_test_events_total', help: 'Events.', labelNames: ['kind'] })
  const g = r.gauge({ name: 'medrec_test_level', help: 'A level.' })
  const h = r.histogram({ name: 'medrec_test_seconds', help: 'Durations.', buckets: [0.1, 1] })
  c.inc({ kind: 'a' })
  c.add(2.5, { kind: 'b' })
  c.inc({ kind: 'a' })
  g.set(-3)
  h.observe(0.05)
  h.observe(0.1) // on a bound: counted in that bucket (le is "less or equal")
  h.observe(7)
  t.equal(
    r.render(),
    [
      '# HELP medrec_test_events_total Events.',
      '# TYPE medrec_test_events_total counter',
      'medrec_test_events_total{kind="a"} 2',
      'medrec_test_events_total{kind="b"} 2.5',
      '# HELP medrec_test_level A level.',
      '# TYPE medrec_test_level gauge',
      'medrec_test_level -3',
      '# HELP medrec_test_seconds Durations.',
      '# TYPE medrec_test_seconds histogram',
      'medrec_test_seconds_bucket{le="0.1"} 2',
      'medrec_test_seconds_bucket{le="1"} 2',
      'medrec_test_seconds_bucket{le="+Inf"} 3',
      'medrec_test_seconds_sum 7.15',
      'medrec_test_seconds_count 3',
      '',
    ].join('\n'),
  )
  parseExposition(r.render())
})

t.test('label values and help text are escaped, and read back exactly', async (t) => {
  const r = createRegistry()
  const nasty = 'a "quoted" \\ back\\slash\nnew line } , = \u00fc 漢'
  r.gauge({ name: 'medrec_test_escapes', help: 'Help with \\ and\na line feed.', labelNames: ['v'] }).set(1, { v: nasty })
  const text = r.render()
  t.match(text, '# HELP medrec_test_escapes Help with \\\\ and\\na line feed.\n')
  t.match(text, 'medrec_test_escapes{v="a \\"quoted\\" \\\\ back\\\\slash\\nnew line } , = \u00fc 漢"} 1\n')
  t.equal(text.split('\n').length, 4, 'the line feed did not break a line')
  const f = parseExposition(text).get('medrec_test_escapes')!
  t.equal(f.help, 'Help with \\ and\na line feed.')
  t.same(f.samples[0]!.labels, { v: nasty }, 'the strict parser reads the value back unchanged')
  t.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n')
})

t.test('values: special floats as Go reads them; an unlabelled metric starts at 0, a labelled one when touched', async (t) => {
  t.equal(formatValue(Infinity), '+Inf')
  t.equal(formatValue(-Infinity), '-Inf')
  t.equal(formatValue(NaN), 'NaN')
  t.equal(formatValue(1e21), '1e+21')
  t.equal(formatValue(5e-7), '5e-7')
  const r = createRegistry()
  r.counter({ name: 'medrec_test_plain_total', help: 'x' })
  r.counter({ name: 'medrec_test_labelled_total', help: 'x', labelNames: ['a'] })
  r.histogram({ name: 'medrec_test_h', help: 'x', labelNames: ['a'] })
  r.gauge({ name: 'medrec_test_inf', help: 'x' }).set(Infinity)
  const fams = parseExposition(r.render())
  t.equal(sampleValue(fams, 'medrec_test_plain_total'), 0)
  t.same(fams.get('medrec_test_labelled_total')!.samples, [], 'TYPE and HELP only')
  t.same(fams.get('medrec_test_h')!.samples, [])
  t.equal(sampleValue(fams, 'medrec_test_inf'), Infinity)
})

t.test('labelled histograms keep one cumulative series per label set', async (t) => {
  const r = createRegistry()
  const h = r.histogram({ name: 'medrec_test_size', help: 'x', labelNames: ['m'], buckets: [1, 10, 100] })
  for (const v of [0, 5, 5, 50, 500]) h.observe(v, { m: 'a' })
  h.observe(10, { m: 'b' })
  const fams = parseExposition(r.render())
  const le = (m: string, le: string) => sampleValue(fams, 'medrec_test_size_bucket', { m, le })
  t.same(['1', '10', '100', '+Inf'].map((l) => le('a', l)), [1, 3, 4, 5])
  t.same(['1', '10', '100', '+Inf'].map((l) => le('b', l)), [0, 1, 1, 1])
  t.equal(sampleValue(fams, 'medrec_test_size_sum', { m: 'a' }), 560)
  t.equal(sampleValue(fams, 'medrec_test_size_count', { m: 'b' }), 1)
})

t.test('collected metrics are read at each scrape; a failing collector costs only its own samples', async (t) => {
  const r = createRegistry()
  let n = 1
  r.collected('gauge', { name: 'medrec_test_read', help: 'x' }, () => n)
  r.collected('counter', { name: 'medrec_test_read_total', help: 'x', labelNames: ['k'] }, () => [
    { labels: { k: 'a' }, value: n },
    { labels: { k: 'b' }, value: 2 * n },
  ])
  r.collected('gauge', { name: 'medrec_test_broken', help: 'x' }, () => {
    throw new Error('collector bug')
  })
  r.collected('gauge', { name: 'medrec_test_bad_labels', help: 'x', labelNames: ['k'] }, () => [{ labels: { wrong: 'a' } as never, value: 1 }])
  r.gauge({ name: 'medrec_test_after', help: 'x' }).set(9)
  let fams = parseExposition(r.render())
  t.equal(sampleValue(fams, 'medrec_test_read'), 1)
  n = 5
  fams = parseExposition(r.render())
  t.equal(sampleValue(fams, 'medrec_test_read'), 5, 'read again')
  t.equal(sampleValue(fams, 'medrec_test_read_total', { k: 'b' }), 10)
  t.same(fams.get('medrec_test_broken')!.samples, [], 'no samples, but the family is there')
  t.same(fams.get('medrec_test_bad_labels')!.samples, [])
  t.equal(sampleValue(fams, 'medrec_test_after'), 9, 'later families still render')
  t.ok(logs.some((l) => l.includes('Metric not collected') && l.includes('metric=medrec_test_broken') && l.includes('collector bug')), 'the failure is logged')
})

t.test('misuse is a coded MetricsError, not a malformed scrape', async (t) => {
  const r = createRegistry()
  const bad = (fn: () => unknown, code: string, message: RegExp, what: string) => t.throws(fn, { name: 'MetricsError', code, message }, what)
  bad(() => r.counter({ name: 'test_total', help: 'x' }), 'INVALID_NAME', /must start with medrec_/, 'prefix')
  bad(() => r.counter({ name: 'medrec_bad-name_total', help: 'x' }), 'INVALID_NAME', /letters, digits/, 'characters')
  bad(() => r.counter({ name: 'medrec_events', help: 'x' }), 'INVALID_NAME', /must end in _total/, 'counter suffix')
  bad(() => r.gauge({ name: 'medrec_level_total', help: 'x' }), 'INVALID_NAME', /only counters end in _total/, 'gauge suffix')
  bad(() => r.gauge({ name: 'medrec_g', help: 'x', labelNames: ['__reserved'] }), 'INVALID_NAME', /not start with __/, 'reserved label')
  bad(() => r.gauge({ name: 'medrec_g', help: 'x', labelNames: ['a-b'] }), 'INVALID_NAME', /label name/, 'label characters')
  bad(() => r.gauge({ name: 'medrec_g', help: 'x', labelNames: ['a', 'a'] }), 'INVALID_NAME', /twice/, 'label twice')
  bad(() => r.histogram({ name: 'medrec_h', help: 'x', labelNames: ['le'] }), 'INVALID_NAME', /"le"/, 'le on a histogram')
  bad(() => r.histogram({ name: 'medrec_h', help: 'x', buckets: [1, 1] }), 'INVALID_VALUE', /strictly increasing/, 'buckets')
  bad(() => r.histogram({ name: 'medrec_h', help: 'x', buckets: [1, Infinity] }), 'INVALID_VALUE', /finite/, 'explicit +Inf')
  r.histogram({ name: 'medrec_h', help: 'x' })
  bad(() => r.gauge({ name: 'medrec_h_count', help: 'x' }), 'DUPLICATE_METRIC', /medrec_h_count/, 'a histogram owns its _count')
  bad(() => r.histogram({ name: 'medrec_h', help: 'x' }), 'DUPLICATE_METRIC', /twice/, 'same name twice')
  const c = r.counter({ name: 'medrec_c_total', help: 'x', labelNames: ['a'] })
  bad(() => c.add(-1, { a: 'x' }), 'INVALID_VALUE', /cannot decrease/, 'counters only go up')
  bad(() => c.add(NaN, { a: 'x' }), 'INVALID_VALUE', /not a number/, 'NaN')
  bad(() => c.inc(), 'INVALID_LABELS', /takes labels \{a\}, got \{\}/, 'missing label')
  bad(() => c.inc({ a: 'x', b: 'y' } as never), 'INVALID_LABELS', /got \{a,b\}/, 'extra label')
  bad(() => r.gauge({ name: 'medrec_plain', help: 'x' }).set(1, { a: 'x' } as never), 'INVALID_LABELS', /takes labels \{\}/, 'label on an unlabelled gauge')
  parseExposition(r.render())
  t.equal(sampleValue(parseExposition(r.render()), 'medrec_h_count'), 0, 'the failed calls changed nothing')
})

t.test('the gatekeeper observer counts by method and outcome and times by method', async (t) => {
  const r = createRegistry()
  const served = watchGatekeeper(r)
  served({ method: 'records', outcome: 'ok', seconds: 0.02 })
  served({ method: 'records', outcome: 'FORBIDDEN', seconds: 0.004 })
  served({ method: 'unknown', outcome: 'BAD_REQUEST', seconds: 0.0001 })
  const fams = parseExposition(r.render())
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'records', outcome: 'ok' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'records', outcome: 'FORBIDDEN' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_count', { method: 'records' }), 2)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_bucket', { method: 'records', le: '0.005' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_bucket', { method: 'unknown', le: '0.001' }), 1)
})

t.test('the strict parser itself refuses what a scraper would misread', async (t) => {
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
  for (const [text, message] of bad) t.throws(() => parseExposition(text), { message }, JSON.stringify(text))
})
