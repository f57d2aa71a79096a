import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { clientQueues, closedLoopDepth, sendClosedLoop, type SignedTx } from '../../bench/harness/index.ts'

/**
 * The closed loop against a fake JSON-RPC endpoint and a fake head log: a "block" every 50 ms
 * includes whatever was sent before it. Each client must have at most one transaction in
 * flight, and send its next one only after the previous one was included. The run is stopped by
 * its abort signal once every sender has had four transactions included, not after a fixed time:
 * on a loaded machine a fixed 600 ms saw as few as three sends.
 */

const tx = (sender: number, seq: number): SignedTx => ({ raw: `0x${sender}${seq}`, hash: `h-${sender}-${seq}`, sender, node: sender % 2 })

t.test('clientQueues: sender s to client s mod C, order kept', async (t) => {
  const txs = [0, 1].flatMap((seq) => [0, 1, 2, 3, 4].map((s) => tx(s, seq)))
  const q = clientQueues(txs, 2)
  t.same(q.map((c) => c.map((x) => x.hash)), [['h-0-0', 'h-2-0', 'h-4-0', 'h-0-1', 'h-2-1', 'h-4-1'], ['h-1-0', 'h-3-0', 'h-1-1', 'h-3-1']])
  t.equal(closedLoopDepth(10, 2, false), Math.ceil(5 * 1.5) + 4)
  t.ok(closedLoopDepth(10, 2, true) > closedLoopDepth(10, 2, false), 'irregular blocks: more margin')
})

t.test('sendClosedLoop: one in flight per client, the next only after inclusion', async (t) => {
  const sentAt = new Map<string, number>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const m = JSON.parse(body) as { id: number; params: [string] }
      const hash = `h-${m.params[0].slice(2, 3)}-${m.params[0].slice(3)}`
      sentAt.set(hash, performance.now())
      // One transaction is refused: the client records it and goes on.
      const reply = m.params[0] === '0x12' ? { jsonrpc: '2.0', id: m.id, error: { code: -32000, message: 'nonce too low' } } : { jsonrpc: '2.0', id: m.id, result: hash }
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(reply))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const included = new Map<string, number>()
  const stop = new AbortController()
  let stoppedAt = Infinity
  const blocks = setInterval(() => {
    const now = performance.now()
    for (const [h, at] of sentAt) if (!included.has(h) && at < now) included.set(h, now)
    const perSender = [0, 1, 2].map((s) => [...included.keys()].filter((h) => h.startsWith(`h-${s}-`)).length)
    if (!stop.signal.aborted && perSender.every((n) => n >= 4)) {
      stoppedAt = performance.now()
      stop.abort()
    }
  }, 50)
  t.teardown(() => clearInterval(blocks))

  const txs = Array.from({ length: 40 }, (_, seq) => [0, 1, 2].map((s) => tx(s, seq))).flat()
  const t0 = performance.now()
  // stopAt only bounds a broken loop; the abort above ends the run.
  const r = await sendClosedLoop({ txs, urls: [url, url], clients: 3, t0, stopAt: t0 + 60_000, signal: stop.signal, isIncluded: (h) => included.has(h), onSecond: () => {} })
  t.ok(stop.signal.aborted, 'the run ended at the stop, not at stopAt')
  t.ok(r.sends.length >= 12 && r.sends.length < 60, `a few rounds of 50 ms blocks until each sender had four included (${r.sends.length} sends), not all 120`)
  t.equal(r.exhausted, 0)
  const refused = r.sends.filter((s) => !s.ok)
  t.same(refused.map((s) => [s.hash, s.error]), [['h-1-2', 'nonce too low (code -32000)']], 'the refused send is recorded with its error')
  for (const c of [0, 1, 2]) {
    const mine = r.sends.filter((s) => Number(s.hash.split('-')[1]) === c)
    t.same(mine.map((s) => s.hash), mine.map((_, i) => `h-${c}-${i}`), `client ${c} sends its sender's transactions in order`)
    for (let i = 1; i < mine.length; i++) {
      const prev = mine[i - 1]!
      if (!prev.ok) continue
      const inc = included.get(prev.hash)
      if (inc === undefined || mine[i]!.at < inc) t.fail(`client ${c} sent ${mine[i]!.hash} before ${prev.hash} was included`)
    }
  }
  t.ok(r.sends.every((s) => s.at < stoppedAt), 'nothing is started after the stop')
})
