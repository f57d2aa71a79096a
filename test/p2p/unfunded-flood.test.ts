import t, { type Test } from 'tap'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createChainCommon } from '../../evm/index.ts'
import type { P2PInit } from '../../p2p/index.ts'
import { createTestNetwork, keyOf, type TestNetwork } from '../helpers/network.ts'
import { rpc, rpcRaw, waitFor } from '../helpers/node-process.ts'
import { startNode, type TestNode } from './helpers.ts'

/**
 * Flooding with transactions nobody can pay for costs the relaying peer (issue 19): a real node
 * (its mempool refuses them: insufficient funds) takes 2 points per such transaction from the peer
 * that gossiped it, so a burst of 50 bans it, while a peer that relays a few is only marked down;
 * such transactions are not forwarded, and an honest transaction that shared a batch with a flood
 * still reaches the node's other peers. The peers are libp2p hosts of the project's p2p module,
 * in this test process.
 */
t.setTimeout(120_000)

const CHAIN_ID = 4242n
const common = createChainCommon({ chainId: CHAIN_ID, period: 1, epoch: 30000n })
const hex = (b: Uint8Array) => `0x${Buffer.from(b).toString('hex')}`

/** A transfer signed by `key`: 21,000 gas at 10 gwei, worth nothing to a sender with no balance. */
function transfer(key: Uint8Array, nonce: bigint): Uint8Array {
  return createFeeMarket1559Tx({ nonce, gasLimit: 21_000n, to: keccak_256(key).subarray(0, 20), value: 1n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: CHAIN_ID }, { common })
    .sign(key)
    .serialize()
}
const unfunded = (label: string, i: number) => transfer(keyOf(`unfunded-${label}-${i}`), 0n)
const txHash = (raw: Uint8Array) => hex(keccak_256(raw))

interface Peer {
  id: string
  score: number
}

/** Publishes `txs` at once (one batch) from `from`, again while no peer has joined the topic yet. */
async function publishBatch(from: TestNode, txs: Uint8Array[]): Promise<void> {
  for (let tries = 0; ; tries++) {
    const sent = await Promise.all(txs.map((tx) => from.p2p.publishTx(tx))).catch((err: { code?: string }) => {
      if (err.code !== 'P2P_NO_PEERS' || tries > 100) throw err
      return [0]
    })
    if (sent.every((n) => n > 0)) return
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The victim (member 0, the sealing authority) and three hosts that dial only it. */
async function setUp(t: Test) {
  const net: TestNetwork = await createTestNetwork(2, { authorities: 1, period: 1 })
  t.teardown(() => net.close())
  const victim = (await net.start(0, { bootnodes: [] })).node!
  const genesisHash = Buffer.from((await rpc<{ hash: string }>(victim.url, 'eth_getBlockByNumber', ['0x0', false])).hash.slice(2), 'hex')
  const init: Partial<P2PInit> = { chainId: CHAIN_ID, genesisHash, bootnodes: [net.members[0]!.enode!], discovery: false }
  // At the genesis: never ahead of the victim, so it syncs from none of them.
  const getHead = () => ({ head: { number: 0n, hash: genesisHash }, totalDifficulty: 1n })
  const host = async (n: number) => {
    const node = await startNode(t, n, init, { getHead })
    node.verdict.tx = 'ignore'
    return node
  }
  const [observer, flooder, relay] = [await host(61), await host(62), await host(63)]
  const peers = async () => rpc<Peer[]>(victim.url, 'admin_peers')
  await waitFor(async () => {
    const ids = (await peers()).map((p) => p.id)
    return [observer, flooder, relay].every((h) => ids.includes(h.p2p.peerId))
  }, 'the victim to admit the three hosts')
  // A funded sender (member 1, never started) for the honest transactions.
  const funded = net.members[1]!.key
  const warm = transfer(funded, 0n)
  await publishBatch(flooder, [warm])
  await waitFor(async () => seenFrom(observer, warm, net) > 0, 'the warm-up transaction to reach the observer through the victim')
  return { net, victim, observer, flooder, relay, peers, funded }
}

/** How many times `node` got `tx` from the victim. */
function seenFrom(node: TestNode, tx: Uint8Array, net: TestNetwork): number {
  const victimId = net.members[0]!.enode!.split('/p2p/')[1]
  const want = Buffer.from(tx)
  return node.received.tx.filter((r) => r.from === victimId && want.equals(r.bytes)).length
}

t.test('a burst of 50 unfunded transactions bans its relay; a few only mark it down; honest ones in the flood still travel', async (t) => {
  const { net, victim, observer, flooder, relay, peers, funded } = await setUp(t)
  const score = async (h: TestNode) => (await peers()).find((p) => p.id === h.p2p.peerId)?.score

  // An honest relay passing on a few stale transactions: marked down, not dropped.
  const few = Array.from({ length: 5 }, (_, i) => unfunded('relay', i))
  await publishBatch(relay, few)
  const marked = await waitFor(async () => {
    const s = await score(relay)
    return s !== undefined && s < 0 ? s : undefined
  }, 'the relay to be marked down').catch(() => undefined)
  // -10 for the five, less what it regained (1 point a second) before the poll saw it.
  t.ok(marked !== undefined && marked < 0 && marked > -100, `the relay's score fell to ${marked?.toFixed(1)}, above the ban threshold`)
  const later = transfer(funded, 1n)
  await publishBatch(relay, [later])
  await waitFor(async () => (await rpc(victim.url, 'eth_getTransactionByHash', [txHash(later)])) !== null, 'the relay’s next honest transaction to be taken')
  t.ok((await peers()).some((p) => p.id === relay.p2p.peerId) && relay.p2p.peerCount() > 0, 'the relay is still a peer and its gossip is still taken')

  // A flood: 50 unfunded transactions (50 x -2 = the ban threshold of -100) and one honest one, in one batch.
  const flood = Array.from({ length: 50 }, (_, i) => unfunded('flood', i))
  const honest = transfer(funded, 2n)
  await publishBatch(flooder, [...flood.slice(0, 25), honest, ...flood.slice(25)])
  const dropped = await waitFor(async () => !(await peers()).some((p) => p.id === flooder.p2p.peerId) && flooder.p2p.peerCount() === 0, 'the flooder to be dropped').catch(() => false)
  t.ok(dropped, 'the flooder is dropped')
  const redial = await rpcRaw(victim.url, 'admin_addPeer', [flooder.p2p.listenAddrs()[0]!])
  t.match(redial.error?.message ?? '', /banned/, 'and banned: the victim refuses to dial it')
  t.match(victim.output(), new RegExp(`Banned peer[^\\n]*peer=${flooder.p2p.peerId}[^\\n]*unfunded-tx`), 'for its unfunded transactions')

  // The honest transaction went on as the victim's own gossip; the flood and the relay's stale ones did not.
  await waitFor(async () => seenFrom(observer, honest, net) > 0, 'the honest transaction to reach the observer')
  t.pass('the honest transaction of the flood batch reached the victim’s other peer')
  t.not(await rpc(victim.url, 'eth_getTransactionByHash', [txHash(honest)]), null, 'and the victim took it')
  const leaked = [...flood, ...few].filter((tx) => seenFrom(observer, tx, net) > 0).length
  t.equal(leaked, 0, 'no unfunded transaction was forwarded')
  t.ok((await peers()).some((p) => p.id === relay.p2p.peerId), 'the relay is still a peer')
})
