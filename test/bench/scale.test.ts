import t from 'tap'
import { checkpoints, runScaleBench, scaleRows } from '../../bench/suites/scale.ts'

t.test('checkpoints: 1,000 then ×10 up to N, and N', async (t) => {
  t.same(checkpoints(50), [50])
  t.same(checkpoints(1000), [1000])
  t.same(checkpoints(25_000), [1000, 10_000, 25_000])
  t.same(checkpoints(100_000), [1000, 10_000, 100_000])
})

// The suite at a tiny size: real Chain, LevelDB and one node process for the eth_calls. Shape and
// sanity of the figures only, never timings.
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
  t.equal(r.join, undefined, 'no joins unless asked')
  t.same(r.extrapolation.map((e) => e.patients), [50, 100_000, 1_000_000, 10_000_000])
  const [, , m1, m10] = r.extrapolation
  t.ok(Math.abs(m10!.stateGB / m1!.stateGB - 10) < 1e-9, 'the model is linear in patients')
  t.ok(r.model.length >= 3, 'the model is stated')
  t.ok(scaleRows(r).some((row) => row.metric.startsWith('model at 10,000,000')))
})
