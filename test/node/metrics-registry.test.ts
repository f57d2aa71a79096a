import t from 'tap'
import { Counter } from 'prom-client'
import { createRegistry, scrapedGauge, watchGatekeeper } from '../../node/metrics/index.ts'
import { setLogSink } from '../../common/logger.ts'
import { parseExposition, sampleValue } from '../../bench/harness/prometheus.ts'

const logs: string[] = []
setLogSink((line) => logs.push(line))

t.test('each node has its own registry: two nodes in one process do not mix or clash', async (t) => {
  const a = createRegistry()
  const b = createRegistry()
  const spec = { name: 'medrec_test_events_total', help: 'Events.' }
  new Counter({ ...spec, registers: [a] }).inc(2)
  new Counter({ ...spec, registers: [b] }).inc(5)
  t.equal(sampleValue(parseExposition(await a.metrics()), 'medrec_test_events_total'), 2)
  t.equal(sampleValue(parseExposition(await b.metrics()), 'medrec_test_events_total'), 5)
})

t.test('gauges read at scrape time: read again at each scrape; a failing reader costs only its own samples', async (t) => {
  const r = createRegistry()
  let n = 1
  scrapedGauge(r, { name: 'medrec_test_read', help: 'x' }, () => n)
  scrapedGauge(r, { name: 'medrec_test_read_labelled', help: 'x', labelNames: ['k'] }, () =>
    n === 1
      ? [
          { labels: { k: 'a' }, value: n },
          { labels: { k: 'b' }, value: 2 * n },
        ]
      : [{ labels: { k: 'b' }, value: 2 * n }],
  )
  scrapedGauge(r, { name: 'medrec_test_broken', help: 'x' }, () => {
    if (n > 1) throw new Error('collector bug')
    return 7
  })
  scrapedGauge(r, { name: 'medrec_test_broken_labelled', help: 'x', labelNames: ['k'] }, () => {
    if (n > 1) throw new Error('labelled collector bug')
    return [{ labels: { k: 'a' }, value: 1 }]
  })
  new Counter({ name: 'medrec_test_after_total', help: 'x', registers: [r] }).inc(9)
  let fams = parseExposition(await r.metrics())
  t.equal(sampleValue(fams, 'medrec_test_read'), 1)
  t.equal(sampleValue(fams, 'medrec_test_read_labelled', { k: 'a' }), 1)
  t.equal(sampleValue(fams, 'medrec_test_broken'), 7)
  n = 5
  fams = parseExposition(await r.metrics())
  t.equal(sampleValue(fams, 'medrec_test_read'), 5, 'read again')
  t.equal(sampleValue(fams, 'medrec_test_read_labelled', { k: 'b' }), 10)
  t.equal(sampleValue(fams, 'medrec_test_read_labelled', { k: 'a' }), undefined, 'a label set the reader no longer returns is gone')
  t.ok(Number.isNaN(sampleValue(fams, 'medrec_test_broken')), 'a failed unlabelled gauge says "no value" (NaN), not its stale 7')
  t.same(fams.get('medrec_test_broken_labelled')!.samples, [], 'a failed labelled gauge has no samples, but the family is there')
  t.equal(sampleValue(fams, 'medrec_test_after_total'), 9, 'later families still render')
  t.ok(logs.some((l) => l.includes('Metric not collected') && l.includes('metric=medrec_test_broken') && l.includes('collector bug')), 'the failure is logged')
})

t.test('the gatekeeper observer counts by method and outcome and times by method', async (t) => {
  const r = createRegistry()
  const served = watchGatekeeper(r)
  served({ method: 'records', outcome: 'ok', seconds: 0.02 })
  served({ method: 'records', outcome: 'GATEKEEPER_FORBIDDEN', seconds: 0.004 })
  served({ method: 'unknown', outcome: 'GATEKEEPER_BAD_REQUEST', seconds: 0.0001 })
  const fams = parseExposition(await r.metrics())
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'records', outcome: 'ok' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'records', outcome: 'GATEKEEPER_FORBIDDEN' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_count', { method: 'records' }), 2)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_bucket', { method: 'records', le: '0.005' }), 1)
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_bucket', { method: 'unknown', le: '0.001' }), 1)
})
