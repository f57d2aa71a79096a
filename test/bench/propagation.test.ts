import t from 'tap'
import { createLocalNetwork, freePorts, readBlockEvents, relayDelays, type BlockEvent } from '../../bench/harness/index.ts'
import { rpc, waitFor } from '../../bench/harness/rpc.ts'

/**
 * Propagation from the nodes' structured block events (`GET /blocks` beside /metrics), not from
 * their logs: two PoA authorities, each block sealed at one is relayed by the other, and the
 * events agree with the chain (hash, number, sealer).
 */
t.setTimeout(300_000)

t.test('every block one authority seals, the other relays; the events agree with the chain', async (t) => {
  const net = await createLocalNetwork(2, { period: 1 })
  t.teardown(() => net.close())
  const metricsUrls = (await freePorts(2)).map((p) => `http://127.0.0.1:${p}/metrics`)
  for (const i of [0, 1]) await net.start(i, { args: ['--metrics', '--metrics.port', new URL(metricsUrls[i]!).port] })
  const url = (i: number) => net.members[i]!.node!.url
  const sealedBy = (events: BlockEvent[][], i: number) => events[i]!.filter((e) => e.event === 'sealed')

  // Until each node has sealed a block the other relayed.
  const events = await waitFor(
    async () => {
      const ev = await Promise.all(metricsUrls.map(readBlockEvents))
      const relayedBy = (i: number) => new Set(ev[i]!.filter((e) => e.event === 'relayed').map((e) => e.hash))
      return [0, 1].every((i) => sealedBy(ev, i).some((e) => relayedBy(1 - i).has(e.hash))) ? ev : undefined
    },
    'each node to relay a block the other sealed',
    120_000,
  )
  for (const i of [0, 1]) {
    for (const e of sealedBy(events, i)) {
      const b = await rpc<{ hash: string; number: string } | null>(url(i), 'eth_getBlockByHash', [e.hash, false])
      // A sealed block can lose a race with an in-turn one: then it is on no chain, and that is fine.
      if (b === null) continue
      t.equal(Number(BigInt(b.number)), e.number, `block ${e.hash} has the event's number`)
      t.equal(await rpc<string>(url(i), 'clique_getSigner', [e.hash]), net.members[i]!.address, `and was sealed by node ${i}`)
    }
    t.notOk(events[i]!.some((e) => e.event === 'relayed' && sealedBy(events, i).some((s) => s.hash === e.hash)), `node ${i} never relays a block it sealed itself`)
  }
  const delays = relayDelays(events)
  t.ok(delays.length >= 2, `a delay per block sealed at one node and relayed at the other (${delays.length})`)
  // One machine, one clock: a block is relayed after it was sealed (a little slack for the clock's resolution).
  t.ok(delays.every((d) => d > -1), `relayed after sealed: ${delays.map((d) => d.toFixed(1)).join(', ')}`)

  const blocks = await fetch(metricsUrls[0]!.replace(/\/metrics$/, '/blocks'), { method: 'POST' })
  t.equal(blocks.status, 405, 'GET only')
})
