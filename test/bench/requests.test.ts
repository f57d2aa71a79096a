import t from 'tap'
import { runRequests, summariseRequests } from '../../bench/harness/index.ts'
import { sleep } from '../../bench/harness/rpc.ts'

t.test('off-chain requests: open loop at their rate through the window, timed, errors counted', async (t) => {
  const calls: number[] = []
  const plan = {
    name: 'fake fetch',
    rate: 40,
    async run(i: number) {
      calls.push(i)
      await sleep(i % 2 === 0 ? 30 : 5)
      if (i % 5 === 4) throw new Error('gatekeeper said no')
    },
  }
  const from = performance.now() + 50
  const records = await runRequests(plan, from, from + 500)
  t.same(calls, Array.from({ length: 20 }, (_, i) => i), '40/s for 0.5 s: requests 0 to 19, in order')
  t.ok(records.every((r, i) => r.at >= from + (i * 1000) / 40 - 1), 'none before its time')
  const s = summariseRequests(plan, records)
  t.same([s.name, s.rate, s.sent, s.errors], ['fake fetch', 40, 20, 4])
  t.same(s.errorKinds, { 'gatekeeper said no': 4 })
  t.equal(s.latencyMs.count, 16, 'latency over the answered ones')
  t.ok(s.latencyMs.min >= 4 && s.latencyMs.max >= 29 && s.latencyMs.p50 <= s.latencyMs.p95 && s.latencyMs.p95 <= s.latencyMs.p99, `latencies measured (${s.latencyMs.min}–${s.latencyMs.max} ms)`)
  t.same(await runRequests({ ...plan, rate: 0 }, from, from + 500), [], 'rate 0: none')
})
