import t from 'tap'
import { createHash } from 'node:crypto'
import { createRegistry, watchP2P } from '../../node/metrics/index.ts'
import { seen, startNode, waitConnected, waitFor, warmUp } from '../p2p/helpers.ts'
import { parseExposition, sampleValue } from '../../bench/harness/prometheus.ts'

/**
 * The p2p observer as the node wires it (`P2PModules.observer`): real libp2p hosts, so every
 * verdict and penalty counted is one p2p actually made.
 */
t.test('gossip verdicts, penalties and bans reach the metrics', async (t) => {
  const registry = createRegistry()
  const metrics = watchP2P(registry)
  const value = async (name: string, labels: Record<string, string> = {}) => sampleValue(parseExposition(await registry.metrics()), name, labels) ?? 0
  const counted = async (what: string, name: string, labels: Record<string, string>, n: number) => {
    const until = Date.now() + 5000
    while ((await value(name, labels)) !== n) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const a = await startNode(t, 1)
  // Two rejects take a peer to the ban threshold (-100).
  const b = await startNode(t, 2, { bootnodes: a.p2p.listenAddrs(), penalties: { 'gossip-reject': -60 } }, { observer: metrics.observer })
  await waitConnected([[a, b]])
  const warm = await warmUp(a, b, 'tx')
  t.equal(await value('medrec_p2p_gossip_messages_total', { topic: 'tx', verdict: 'accept' }), b.received.tx.length, `each accepted tx counted (${warm} sent to warm up)`)

  b.verdict.tx = 'ignore'
  const ignored = createHash('sha256').update('ignored').digest()
  await a.p2p.publishTx(ignored)
  await waitFor('b judges it', () => seen(b, 'tx', ignored) === 1)
  t.equal(await value('medrec_p2p_gossip_messages_total', { topic: 'tx', verdict: 'ignore' }), 1)
  t.equal(await value('medrec_p2p_penalties_total', { reason: 'gossip-reject' }), 0, 'ignore is no penalty')

  b.verdict.block = 'reject'
  await a.p2p.publishBlock(createHash('sha256').update('bad block 1').digest())
  await counted('the reject is counted', 'medrec_p2p_gossip_messages_total', { topic: 'block', verdict: 'reject' }, 1)
  t.equal(await value('medrec_p2p_penalties_total', { reason: 'gossip-reject' }), 1, 'one penalty')
  t.equal(await value('medrec_p2p_bans_total'), 0, 'not banned yet')
  await a.p2p.publishBlock(createHash('sha256').update('bad block 2').digest())
  await counted('the second reject is counted', 'medrec_p2p_gossip_messages_total', { topic: 'block', verdict: 'reject' }, 2)
  t.equal(await value('medrec_p2p_penalties_total', { reason: 'gossip-reject' }), 2)
  t.equal(await value('medrec_p2p_bans_total'), 1, 'the second reject banned a')
  t.equal(await value('medrec_p2p_gossip_messages_total', { topic: 'block', verdict: 'accept' }), 0, 'nothing else was counted')
  t.equal(await value('medrec_p2p_peers'), 0, 'no network attached: 0 peers')
})
