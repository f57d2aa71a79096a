import t from 'tap'
import { checkpoints, runScaleBench, scaleRows } from '../../bench/suites/scale.ts'

t.test('checkpoints: 1,000 then ×10 up to N, and N', async (t) => {
  t.same(checkpoints(50), [50])
  t.same(checkpoints(1000), [1000])
  t.same(checkpoints(25_000), [1000, 10_000, 25_000])
  t.same(checkpoints(100_000), [1000, 10_000, 100_000])
})

// The suite at a tiny size: real Chain and LevelDB, four authority processes for the gatekeeper's
// set-up, one node process with its gatekeeper for the reads, the watch service in-process. Shape
// and sanity of the figures only, never timings.
t.test('the scale suite onboards 50 patients with two providers each and reports sane figures', async (t) => {
  const r = await runScaleBench({ patients: 50, calls: 3 })
  t.equal(r.providers, 2)
  t.equal(r.checkpoints.length, 1)
  const c = r.checkpoints[0]!
  t.equal(c.patients, 50)
  // Per patient: funding, registration, 2 × (create, pointer, link), 2 accepts; every receipt succeeded (else it throws).
  t.equal(c.transactions, 50 * 10)
  t.ok(c.blocks >= 1 && c.blocks < c.transactions, `${c.blocks} blocks`)
  // Issue 23's contract target: onboarding one patient with one provider ≤ 500k gas, so with two ≤ 1M.
  t.ok(c.gasPerPatient > 300_000 && c.gasPerPatient <= 1_000_000, `gas per patient ${c.gasPerPatient}`)
  t.ok(c.stateBytesPerPatient > 0, `state bytes per patient ${c.stateBytesPerPatient}`)
  t.ok(c.trieEntries > 0 && c.leveldbBytes > 0)
  t.ok(c.cpuMsPerBlock > 0 && c.gasPerBlock > 0)
  t.ok(c.canReadP50Ms > 0 && c.entriesP50Ms > 0, 'both reads answered through the node')
  // Every gatekeeper read was verified against the chain (the suite throws otherwise).
  t.equal(c.gatekeeperReads, 3)
  t.ok(c.gatekeeperP50Ms > 0 && c.gatekeeperP95Ms >= c.gatekeeperP50Ms, `gatekeeper p50 ${c.gatekeeperP50Ms} ≤ p95 ${c.gatekeeperP95Ms}`)
  // The requester's side of a read scans no history: at most the one block that logged the pointer's query.
  t.ok(c.gatekeeperRequests > 0 && c.gatekeeperLogBlocks <= 1, `per read: ${c.gatekeeperRequests} requests, eth_getLogs over ${c.gatekeeperLogBlocks} block(s)`)
  // The watch passed once per block after its first; the patient's changes come every 10th block.
  t.equal(c.watch.quietBlocks + c.watch.changeBlocks, c.blocks - 1, 'one measured watch pass per block but the first')
  t.ok(c.watch.quietBlocks >= 1 && c.watch.quietCpuUs > 0, `quiet blocks: ${JSON.stringify(c.watch)}`)
  const byMethod = Object.values(c.watch.quietByMethod).reduce((a, b) => a + b, 0)
  t.ok('eth_getLogs' in c.watch.quietByMethod && byMethod <= c.watch.quietCpuUs, `the node's part of a pass, by method: ${JSON.stringify(c.watch.quietByMethod)}`)
  // A block with nothing for her costs a handful of requests (head, her Summary, the logs since), not one per relationship.
  t.ok(c.watch.quietRequests >= 1 && c.watch.quietRequests <= 6, `requests per quiet pass ${c.watch.quietRequests}`)
  t.equal(r.join, undefined, 'no joins unless asked')
  t.same(r.extrapolation.map((e) => e.patients), [50, 100_000, 1_000_000, 10_000_000])
  const [, , m1, m10] = r.extrapolation
  t.ok(Math.abs(m10!.stateGB / m1!.stateGB - 10) < 1e-9, 'the model is linear in patients')
  t.ok(r.model.length >= 3, 'the model is stated')
  const rows = scaleRows(r)
  t.ok(rows.some((row) => row.metric.startsWith('model at 10,000,000')))
  t.ok(rows.some((row) => row.metric.includes('gatekeeper verified read p50 / p95')))
  t.ok(rows.some((row) => row.metric.includes('watch per block, nothing for her')))
})
