import t, { type Test } from 'tap'
import { createBlock } from '@ethereumjs/block'
import { Chain } from '../../node/chain/index.ts'
import type { GossipResult, P2PInit } from '../../p2p/index.ts'
import { DEV_KEYS, addressOf, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { logs, sleep, startNode, waitFor, type TestNode } from './helpers.ts'

/**
 * Invalid block gossip gets its sender disconnected and banned, however many of its messages
 * gossipsub lets through to our validator (issue 19): the ban closes the connection, refuses
 * its redials and its requests until the ban ends, then lets it back.
 */

const BAN_MS = 4000

/** A real chain at genesis (PoA, 1 s blocks): its parse and precheck judge gossiped blocks as the node does. */
async function openChain(t: Test): Promise<Chain> {
  const dir = tempDir()
  const chain = await Chain.open(dir.path, testGenesis({ period: 1, authorities: [addressOf(DEV_KEYS[0]!)] }))
  t.teardown(async () => {
    await chain.close()
    dir.remove()
  })
  return chain
}

/** The node's block verdict without the import (node/sync/network.ts): bad bytes or a bad header or seal is a reject. */
function blockValidator(chain: Chain) {
  return async (bytes: Uint8Array): Promise<GossipResult> => {
    try {
      return (await chain.precheck(chain.parseBlock(bytes))) === 'known' ? 'ignore' : 'accept'
    } catch {
      return 'reject'
    }
  }
}

/** The victim (real block validation, short bans) and a peer of the same chain that will misbehave. */
async function pair(t: Test, victimInit: Partial<P2PInit> = {}) {
  const chain = await openChain(t)
  const genesisHead = { head: { number: 0n, hash: chain.genesisHash }, totalDifficulty: chain.head.totalDifficulty }
  const same = { genesisHash: chain.genesisHash, discovery: false }
  const victim = await startNode(t, 41, { ...same, banMs: BAN_MS, ...victimInit }, { getHead: () => genesisHead, validateBlock: blockValidator(chain) })
  const mallory = await startNode(t, 42, { ...same, bootnodes: victim.p2p.listenAddrs() }, { getHead: () => genesisHead })
  await waitFor('the handshake', () => victim.p2p.peers().some((p) => p.id === mallory.p2p.peerId && p.status !== null))
  return { chain, victim, mallory }
}

const listed = (at: TestNode, of: TestNode) => at.p2p.peers().some((p) => p.id === of.p2p.peerId)

/**
 * Publishes `message(i)` from `from`, paced (a burst would all land in gossipsub's one-second
 * allowance before its score is recomputed), until `to` drops it or `max` were sent.
 */
async function flood(from: TestNode, to: TestNode, max: number, message: (i: number) => Uint8Array): Promise<number> {
  let sent = 0
  for (let i = 0; i < max && listed(to, from); i++) {
    await from.p2p.publishBlock(message(i)).then(
      () => sent++,
      () => {},
    )
    await sleep(150)
  }
  return sent
}

/** The ban's effects, seen from both sides. */
async function assertBanned(t: Test, victim: TestNode, mallory: TestNode) {
  await waitFor('the victim to drop the peer', () => !listed(victim, mallory) && mallory.p2p.peerCount() === 0, 10_000)
  t.ok(logs.some((l) => l.includes('Banned peer') && l.includes(`peer=${mallory.p2p.peerId}`)), 'banned, not just disconnected')
  const addr = victim.p2p.listenAddrs()[0]!
  const refusals = () => logs.filter((l) => l.includes('Refused a connection of a banned peer') && l.includes(`peer=${mallory.p2p.peerId}`)).length
  // While the ban lasts (BAN_MS is ample for these calls) the victim's connection gater refuses
  // every connection once noise names the peer; the dialler may see its side open for a moment.
  const before = refusals()
  await mallory.p2p.addPeer(addr).catch(() => undefined)
  await waitFor('the victim to refuse the redial', () => refusals() > before)
  t.pass('its redial is refused')
  await t.rejects(mallory.p2p.requestTo(addr, '/medrec/test-echo/1', new Uint8Array([1])), { code: /^P2P_/ }, 'its app requests are refused')
  await t.rejects(mallory.p2p.requestBlocks(victim.p2p.peerId, 0n, 1), { code: /^P2P_/ }, 'its range requests are refused')
  t.equal(listed(victim, mallory), false, 'still not a peer')
  // Its dialler keeps trying (the victim is its bootnode): once the ban ends it is let back in.
  await waitFor('the peer to be let back after the ban', () => victim.p2p.peers().some((p) => p.id === mallory.p2p.peerId && p.status !== null), BAN_MS + 10_000)
  t.pass('readmitted once the ban ended')
}

t.test('garbage block gossip: the sender is disconnected and banned until the ban ends', async (t) => {
  const { victim, mallory } = await pair(t)
  victim.p2p.handle('/medrec/test-echo/1', async (body) => body)
  const sent = await flood(mallory, victim, 150, (i) => new Uint8Array([0xf9, 0x01, i & 0xff, i >> 8, 0xde, 0xad]))
  t.ok(sent > 0, `${sent} garbage messages sent before the drop`)
  await assertBanned(t, victim, mallory)
})

t.test('well-formed blocks with invalid seals: the sender is disconnected and banned', async (t) => {
  const { chain, victim, mallory } = await pair(t)
  const g = chain.head.block.header
  // Block 1 on our genesis, every field right but the seal: 65 zero bytes recover to nobody.
  const forged = (i: number) =>
    createBlock(
      { header: { parentHash: chain.genesisHash, number: 1n, timestamp: BigInt(i + 1), gasLimit: g.gasLimit, baseFeePerGas: g.calcNextBaseFee(), difficulty: 2n, extraData: new Uint8Array(97) } },
      { common: chain.common, setHardfork: false },
    ).serialize()
  await t.rejects(chain.precheck(chain.parseBlock(forged(0))), { code: /SEAL|SIGNER|AUTH/ }, 'the forged block is invalid: its seal (control)')
  const sent = await flood(mallory, victim, 150, forged)
  t.ok(sent > 0, `${sent} forged blocks sent before the drop`)
  await assertBanned(t, victim, mallory)
})
