import t from 'tap'
import { analyseRun, reorgs, type RunRecord, type SendRecord } from '../../bench/harness/analyse.ts'
import type { BlockInfo, HeadLog, ResourceSample } from '../../bench/harness/collect.ts'

/**
 * A hand-made run with known answers: load starts at performance time 1000, 1 s warm-up, 2 s
 * measured, observation ends 3.5 s in. Two nodes. Block A lands in the warm-up, B and C in the
 * window, D while draining; X is a competing block 3 that only node 1 had (and lost).
 */
const T0 = 1000
const block = (n: number, hash: string, parent: string, txs: string[]): BlockInfo => ({ hash, number: n, parentHash: parent, timestamp: n, miner: '0x00', txs })
const A = block(1, '0xa', '0x0', ['a1', 'a2'])
const B = block(2, '0xb', '0xa', ['b1'])
const C = block(3, '0xc', '0xb', ['c1', 'c2', 'c3'])
const D = block(4, '0xd', '0xc', [])
const X = block(3, '0xx', '0xb', ['c2'])

function heads(): HeadLog {
  // Times relative to the load start. Node 1 had X instead of C, and nothing after it.
  const at = (rel: number) => T0 + rel
  return {
    blocks: new Map([A, B, C, D, X].map((b) => [b.hash, b])),
    blockAt: [
      new Map([['0xa', at(500)], ['0xb', at(1700)], ['0xc', at(2900)], ['0xd', at(3100)]]),
      new Map([['0xa', at(600)], ['0xb', at(1500)], ['0xx', at(2500)]]),
    ],
    txAt: [
      new Map([['a1', at(500)], ['a2', at(500)], ['b1', at(1700)], ['c1', at(2900)], ['c2', at(2900)], ['c3', at(2900)]]),
      new Map([['a1', at(600)], ['a2', at(600)], ['b1', at(1500)], ['c2', at(2500)]]),
    ],
  }
}

const send = (hash: string, node: number, rel: number, ok = true, error?: string): SendRecord => ({ hash, node, at: T0 + rel, ok, late: false, ...(error === undefined ? {} : { error }) })
const sends: SendRecord[] = [
  send('a1', 0, 100),
  send('a2', 1, 200),
  send('b1', 1, 1100),
  send('c1', 0, 1200),
  send('r1', 0, 1300, false, 'nonce too low'),
  send('c2', 1, 2000),
  { ...send('p1', 1, 2500), late: true },
  send('c3', 0, 2800),
]
const sample = (rel: number, cpu: number[], rss: number[], harness: number): ResourceSample => ({ at: T0 + rel, cpu, rssMb: rss, harnessCpu: harness, harnessRssMb: 100 })

function record(over: Partial<RunRecord> = {}): RunRecord {
  return {
    t0: T0,
    end: T0 + 3500,
    warmup: 1,
    duration: 2,
    rate: 2,
    confirmations: 1,
    nodes: 2,
    sends,
    chain: [A, B, C, D],
    heads: heads(),
    // Timer jitter: the second reading comes a little early, the third is the last in range.
    resources: [sample(1000.3, [10, 20], [200, 210], 5), sample(1999.7, [30, 40], [220, 230], 7), sample(3000, [50, 60], [240, 250], 9)],
    ...over,
  }
}

t.test('throughput counts final-chain blocks first seen inside the window', async (t) => {
  const { summary: s, blocks } = analyseRun(record())
  t.same(
    blocks.map((b) => [b.number, b.txs, b.seenMs, b.counted]),
    [[1, 2, 500, false], [2, 1, 1500, true], [3, 3, 2900, true], [4, 0, 3100, false]],
    'seen = the earliest node; counted = inside [1 s, 3 s)',
  )
  t.equal(s.included, 4, 'B + C')
  t.equal(s.includedTps, 2, 'over the 2 s window')
  t.equal(s.blocks, 2)
  t.same([s.blockIntervalMs.count, s.blockIntervalMs.mean], [1, 1400], 'one interval, B → C')
  t.equal(s.windowSeconds, 2)
  t.equal(s.offeredRate, 2)
})

t.test('latency: window sends only, at the target node, else the first node that had it', async (t) => {
  const { summary: s, latencyCdf } = analyseRun(record())
  t.equal(s.submitted, 6, 'b1, c1, r1, c2, p1, c3 were sent in the window')
  t.equal(s.rejected, 1)
  t.equal(s.late, 1)
  t.same(s.rejections, { 'nonce too low': 1 })
  t.equal(s.submittedIncluded, 4, 'p1 never made it and r1 was refused')
  t.equal(s.submittedIncludedShare, 4 / 6)
  // b1: 1500-1100 at node 1; c1: 2900-1200 at node 0; c2: node 1 had it in X at 2500 (first
  // sight counts even though X lost); c3: 2900-2800.
  t.same(s.latencyMs, { count: 4, min: 100, mean: 675, p50: 400, p90: 1700, p95: 1700, p99: 1700, max: 1700 })
  t.same(latencyCdf, [[100, 0.25], [400, 0.5], [500, 0.75], [1700, 1]])
})

t.test('a target node that never had the transaction falls back to the earliest node', async (t) => {
  const h = heads()
  h.txAt[1]!.delete('c2')
  const { latencyCdf } = analyseRun(record({ heads: h }))
  t.same(latencyCdf.map(([ms]) => ms), [100, 400, 900, 1700], 'c2: 2900 at node 0, minus 2000')
})

t.test('forks: blocks seen in the window that the final chain lacks', async (t) => {
  const { summary: s, orphans } = analyseRun(record())
  t.same(s.forks, { seen: 3, orphaned: 1, rate: 1 / 3 }, 'B, C and X were seen in the window; X lost')
  t.same(orphans, [{ number: 3, hash: '0xx' }])
  const h = heads()
  h.blockAt[1]!.set('0xx', T0 + 3300)
  t.same(analyseRun(record({ heads: h })).summary.forks, { seen: 2, orphaned: 0, rate: 0 }, 'an orphan first seen while draining is not in the window')
})

t.test('the per-second series and the resource readings', async (t) => {
  const { series, summary: s } = analyseRun(record())
  t.same(
    series.map((p) => [p.t, p.phase, p.submitted, p.blocks, p.txs]),
    [[0, 'warmup', 2, 1, 2], [1, 'measure', 3, 1, 1], [2, 'measure', 3, 1, 3], [3, 'drain', 0, 1, 0]],
  )
  t.same(series.map((p) => p.cpu), [[10, 20], [30, 40], [50, 60], [null, null]], 'readings land in their second despite jitter; none for the last')
  t.same(series.map((p) => p.harnessCpu), [5, 7, 9, null])
  t.same(s.nodes, [{ cpuMean: 40, rssMaxMb: 240 }, { cpuMean: 50, rssMaxMb: 250 }], 'means and peaks over the measured seconds only')
  t.equal(s.harnessCpuMean, 8)
  t.same(s.total, { sent: 8, accepted: 7, included: 6, neverIncluded: 1 })

  const noProc = analyseRun(record({ resources: [sample(1000, [NaN, NaN], [NaN, NaN], 5)] }))
  t.same(noProc.series[0]!.cpu, [null, null], 'unreadable /proc gives null, not NaN')
  t.same(noProc.summary.nodes, [{ cpuMean: null, rssMaxMb: null }, { cpuMean: null, rssMaxMb: null }])
})

t.test('nothing happened: no division by zero', async (t) => {
  const a = analyseRun(record({ sends: [], chain: [], heads: { blocks: new Map(), blockAt: [new Map(), new Map()], txAt: [new Map(), new Map()] }, resources: [] }))
  t.equal(a.summary.included, 0)
  t.equal(a.summary.includedTps, 0)
  t.ok(Number.isNaN(a.summary.submittedIncludedShare))
  t.same(a.summary.forks, { seen: 0, orphaned: 0, rate: 0 })
  t.equal(a.series.length, 4)
  t.same(a.latencyCdf, [])
})

t.test('latency to K confirmations: the final chain K−1 blocks higher, at the target node, else the first node there', async (t) => {
  const k2 = analyseRun(record({ confirmations: 2 })).summary
  // b1: C is 1 above B; node 1 never had C, node 0 had it at 2900 → 1800. c1: D at node 0, 3100 − 1200.
  // c2: node 1 never had D → node 0's 3100 − 2000. c3: 3100 − 2800.
  t.same([k2.confirmations, k2.confirmedLatencyMs.count, k2.confirmedLatencyMs.min, k2.confirmedLatencyMs.p50, k2.confirmedLatencyMs.p95, k2.confirmedLatencyMs.max], [2, 4, 300, 1100, 1900, 1900])
  const k1 = analyseRun(record({ confirmations: 1 })).summary
  t.same([k1.confirmedLatencyMs.min, k1.confirmedLatencyMs.max, k1.confirmedLatencyMs.mean], [100, 1700, (400 + 1700 + 900 + 100) / 4], 'K = 1: the final block itself (c2 counts from C at 2900, not the orphan X at 2500)')
  t.ok(k1.confirmedLatencyMs.mean >= k1.latencyMs.mean, 'never earlier than inclusion')
  const k3 = analyseRun(record({ confirmations: 3 })).summary
  t.same([k3.confirmedLatencyMs.count, k3.confirmedLatencyMs.max], [1, 2000], 'only b1 has two blocks on top of its block (D); the chain ends before the others get there')
})

t.test('block propagation: per final-chain block, each node after the first', async (t) => {
  const { propagation, summary } = analyseRun(record())
  t.same(
    propagation.map((p) => [p.number, p.firstNode, p.firstMs, p.delaysMs]),
    [[1, 0, 500, [0, 100]], [2, 1, 1500, [200, 0]], [3, 0, 2900, [0, null]], [4, 0, 3100, [0, null]]],
    'node 1 never had C or D',
  )
  t.same([summary.propagationMs.count, summary.propagationMs.p50], [1, 200], 'the summary: blocks first seen in the window (B; C reached no other node)')
})

t.test('latency per second, block-interval histogram, closed-loop rate, requests passed through', async (t) => {
  const a = analyseRun(record())
  t.same(a.series.map((p) => p.latencyP50Ms), [null, 400, 500, null], 'median of the latencies of the transactions included in each second (b1; c1, c2, c3)')
  const bars = a.blockIntervalHistogram.filter((b) => b.count > 0)
  t.same(bars, [{ from: 1400, to: 1500, count: 1 }], 'the one interval B → C, 1400 ms, in a 100 ms bin')
  t.equal(a.summary.offeredRate, 2, 'open loop: the configured rate')
  t.equal(analyseRun(record({ rate: null })).summary.offeredRate, 3, 'closed loop: the 6 sends of the 2 s window')
  t.equal(a.summary.requests, null)
  const requests = { name: 'fetch', rate: 5, sent: 10, errors: 1, errorKinds: { boom: 1 }, latencyMs: analyseRun(record()).summary.latencyMs }
  t.same(analyseRun(record({ requests })).summary.requests, requests)
})

t.test('reorg depth: a head that does not descend from the previous one drops the old branch down to the common ancestor', async (t) => {
  const mk = (hash: string, number: number, parentHash: string): BlockInfo => ({ hash, number, parentHash, timestamp: 0, miner: '0x', txs: [] })
  const blocks = new Map(
    [mk('g', 10, 'x'), mk('a1', 11, 'g'), mk('a2', 12, 'a1'), mk('a3', 13, 'a2'), mk('b1', 11, 'g'), mk('b2', 12, 'b1'), mk('b3', 13, 'b2'), mk('b4', 14, 'b3')].map((b) => [b.hash, b]),
  )
  const heads = {
    blocks,
    blockAt: [new Map(), new Map()],
    txAt: [new Map(), new Map()],
    headsSeen: [
      // Node 0: a1, a2, then b3 (drops a2 and a1: depth 2), then b4 (extends).
      [{ hash: 'a1', at: 1000 }, { hash: 'a2', at: 2000 }, { hash: 'b3', at: 3000 }, { hash: 'b4', at: 4000 }],
      // Node 1: a1, then b2 (depth 1) before the window, then a3 (drops b2, b1: depth 2) inside it.
      [{ hash: 'a1', at: 1000 }, { hash: 'b2', at: 1500 }, { hash: 'a3', at: 3500 }],
    ],
  }
  const depths = (...a: Parameters<typeof reorgs>) => reorgs(...a).map((x) => x.depth)
  t.same(depths(heads, 0, 0, 10_000).sort(), [1, 2, 2], 'every switch, with its depth')
  t.same(depths(heads, 0, 2500, 10_000).sort(), [2, 2], 'only the switches inside the window')
  t.same(depths({ ...heads, headsSeen: undefined }, 0, 0, 10_000), [], 'an older log without heads has none')
})

t.test('orphans, reorgs and off-chain requests per second', async (t) => {
  const a = analyseRun(record())
  t.same(a.series.map((p) => p.orphaned), [0, 0, 1, 0], 'X, first seen at 2.5 s, is not in the final chain')
  t.same(a.series.map((p) => p.reorgs), [0, 0, 0, 0], 'no node switched branches (no head sequence recorded)')
  t.equal(a.series[0]!.requests, undefined, 'no request series without requests')
  // Node 1 had X as head, then C's successor D: a reorg of depth 1 at 3.2 s.
  const h = { ...heads(), headsSeen: [[], [{ hash: '0xx', at: T0 + 2500 }, { hash: '0xd', at: T0 + 3200 }]] }
  const withReorg = analyseRun(record({ heads: h }))
  t.same(withReorg.series.map((p) => p.reorgs), [0, 0, 0, 1])
  t.same([withReorg.summary.reorgs!.count, withReorg.summary.reorgs!.maxDepth], [0, 0], 'outside the window (1–3 s): not in the summary')
  const requestRecords = [
    { at: T0 + 1100, ms: 40, ok: true },
    { at: T0 + 1300, ms: 60, ok: true },
    { at: T0 + 1500, ms: 10, ok: false, error: 'refused' },
    { at: T0 + 2100, ms: 980, ok: true },
  ]
  const withRequests = analyseRun(record({ requestRecords }))
  t.same(withRequests.series.map((p) => p.requests), [0, 3, 1, 0], 'made per second')
  t.same(withRequests.series.map((p) => p.requestP50Ms), [null, 40, null, 980], 'nearest-rank median latency of those answered in each second')
})
