import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { freePorts, metricsPoints, readingOf, scrapeMetrics } from '../../bench/harness/index.ts'

const TEXT = `# HELP medrec_mempool_pending Executable transactions in the pool.
# TYPE medrec_mempool_pending gauge
medrec_mempool_pending 12

# TYPE medrec_p2p_peers gauge
medrec_p2p_peers 3
# TYPE medrec_chain_head_number gauge
medrec_chain_head_number 41
# TYPE medrec_chain_block_import_duration_seconds histogram
medrec_chain_block_import_duration_seconds_bucket{le="0.01"} 1
medrec_chain_block_import_duration_seconds_bucket{le="+Inf"} 4
medrec_chain_block_import_duration_seconds_sum 0.2
medrec_chain_block_import_duration_seconds_count 4
# TYPE medrec_process_event_loop_lag_max_seconds gauge
medrec_process_event_loop_lag_max_seconds 0.015
# TYPE medrec_node_info gauge
medrec_node_info{engine="poa",chain_id="7357",version="a \\"b\\" c"} 1
`
const head = (n: number) => `# TYPE medrec_chain_head_number gauge\nmedrec_chain_head_number ${n}\n`

t.test('readings to points: import time from the histogram deltas, lag in ms', async (t) => {
  const r1 = readingOf(TEXT, 2000)
  t.same([r1.pending, r1.peers, r1.head, r1.importSum, r1.importCount, r1.lagMax], [12, 3, 41, 0.2, 4, 0.015])
  const r2 = readingOf(TEXT.replace('_sum 0.2', '_sum 0.5').replace('_count 4', '_count 10').replace('le="+Inf"} 4', 'le="+Inf"} 10').replace('head_number 41', 'head_number 42'), 3000)
  const r3 = readingOf('# TYPE medrec_p2p_peers gauge\nmedrec_p2p_peers 2\n', 4000)
  const pts = metricsPoints([r1, r2, r3], 1000)
  t.same(pts.map((p) => [p.t, p.mempoolPending, p.peers, p.head, p.importMs === null ? null : Math.round(p.importMs), p.eventLoopLagMs]), [
    [1, 12, 3, 41, null, 15],
    [2, 12, 3, 42, 50, 15],
    [3, null, 2, null, null, null],
  ], '(0.5 − 0.2) s over 6 imports = 50 ms; a reading without a metric gives null')
})

t.test('scrapeMetrics: once per tick, a final reading at stop; a dead endpoint or a malformed answer leaves gaps', async (t) => {
  let n = 0
  let stopping = false
  let askedAtStop = 0
  const server = createServer((req, res) => {
    if (stopping && req.url === '/metrics') askedAtStop++
    res.end(req.url === '/bad' ? 'medrec_chain_head_number 1\n' : head(++n))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => server.close())
  const [dead] = await freePorts(1)
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const s = scrapeMetrics([`${base}/metrics`, `http://127.0.0.1:${dead}/metrics`, `${base}/bad`], 100)
  // Ticks every 100 ms: three of them, however busy the machine, then stop takes a final one.
  const started = performance.now()
  while (s.readings[0]!.length < 3 && performance.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20))
  const ticks = s.readings[0]!.length
  const elapsed = performance.now() - started
  stopping = true
  await s.stop()
  const heads = s.readings[0]!.map((r) => r.head)
  t.ok(ticks >= 3 && elapsed >= 150, `3 ticks took ${Math.round(elapsed)} ms (two 100 ms intervals at least)`)
  // Asked, not kept, and in order with gaps: on a loaded machine an answer can miss the scrape's
  // 500 ms timeout (seen at a load of 16 on 2 cores), and is then a gap, not an error.
  t.ok(askedAtStop >= 1, 'and stop asked for a final reading')
  t.ok(heads.every((h, i) => i === 0 || h! > heads[i - 1]!), `in order: ${heads.join(', ')}`)
  t.equal(s.readings[1]!.length, 0, 'nothing from a port nobody listens on')
  t.equal(s.readings[2]!.length, 0, 'nothing from an answer without a TYPE line')
  const ports = await freePorts(3)
  t.equal(new Set(ports).size, 3, 'freePorts: distinct')
})
