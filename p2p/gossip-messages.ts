import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { errorMessage } from '../common/errors.ts'
import { createLogger } from '../common/logger.ts'
import { publishStopped, type P2PCore } from './core.ts'
import { P2PError } from './errors.ts'
import { decodeTxBatch } from './tx-batch.ts'
import type { GossipResult, PeerIdStr } from './types.ts'

// Gossip messages: publishing on our topics, and judging what peers relay before gossipsub
// forwards it (rate and size limits, then the node's validators).

const log = createLogger('p2p')

const RESULT: Record<GossipResult, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

export async function publish(core: P2PCore, topic: string, bytes: Uint8Array, limit: number): Promise<number> {
  const pubsub = core.node().services.pubsub
  if (bytes.length > limit) throw new P2PError('P2P_MESSAGE_TOO_LARGE', `message of ${bytes.length} bytes exceeds ${limit} for ${topic}`, { topic, size: bytes.length, limit })
  try {
    const res = await pubsub.publish(topic, bytes)
    return res.recipients.length
  } catch (err) {
    if (core.stopped) throw publishStopped(topic, err)
    if (/NoPeersSubscribedToTopic|InsufficientPeers/.test(errorMessage(err))) throw new P2PError('P2P_NO_PEERS', `publish on ${topic}: no peer has joined the topic yet`, { topic }, err)
    throw new P2PError('P2P_PUBLISH_FAILED', `publish on ${topic} failed: ${errorMessage(err)}`, { topic }, err)
  }
}

export async function validate(core: P2PCore, kind: 'tx' | 'block', from: PeerId, msg: Message): Promise<TopicValidatorResult> {
  const verdict = await judge(core, kind, from.toString(), msg)
  core.modules.observer?.gossip?.(kind, verdict)
  return RESULT[verdict]
}

async function judge(core: P2PCore, kind: 'tx' | 'block', peer: PeerIdStr, msg: Message): Promise<GossipResult> {
  const s = core.peers.get(peer)
  // Nothing from peers we are dropping (a banned one until its connection is closed) or whose
  // chain we do not know yet (the handshake completes within a round trip of connecting).
  if (!s || s.status === null || core.scores.isBanned(peer)) return 'ignore'
  if (!s.gossipBucket.take()) {
    core.penalize(peer, 'rate-limit')
    return 'ignore'
  }
  const limit = kind === 'tx' ? core.gossipTxLimit : core.gossipBlockLimit
  if (msg.data.length > limit) {
    core.penalize(peer, 'oversized')
    return 'reject'
  }
  let result: GossipResult
  try {
    result = kind === 'tx' ? await judgeTxBatch(core, peer, msg.data) : await core.modules.validateBlock(msg.data, peer)
  } catch (err) {
    log.warn('Gossip validator threw; ignoring the message', { kind, peer }, err)
    return 'ignore'
  }
  if (result === 'reject') core.penalize(peer, 'gossip-reject')
  return RESULT[result] === undefined ? 'ignore' : result
}

/**
 * A batch is forwarded when one of its transactions is new and none is invalid nor unfunded:
 * an invalid or unfunded transaction in it is the relaying peer's fault as if it came alone (it
 * validated the batch, and an honest peer forwards neither kind).
 */
async function judgeTxBatch(core: P2PCore, peer: PeerIdStr, data: Uint8Array): Promise<GossipResult> {
  let txs: Uint8Array[]
  try {
    txs = decodeTxBatch(data)
  } catch {
    return 'reject'
  }
  if (txs.some((tx) => tx.length > core.opts.maxTxBytes)) {
    core.penalize(peer, 'oversized')
    return 'reject'
  }
  const verdicts = await Promise.all(txs.map((tx) => core.modules.validateTx(tx, peer)))
  if (verdicts.includes('reject')) return 'reject'
  // A peer of the previous version: what it sent goes on to ours over /medrec/txs/1 too.
  for (const [i, tx] of txs.entries()) if (verdicts[i] === 'accept') core.txRelay.relay(tx, peer)
  const unfunded = verdicts.filter((v) => v === 'unfunded').length
  if (unfunded === 0) return verdicts.includes('accept') ? 'accept' : 'ignore'
  // Each one costs a little (a flooder of transactions nobody can pay for is banned, a relay of
  // a few stale ones recovers). The batch is not forwarded: a REJECT would cost the peer in
  // gossipsub's score too, and forwarding would spread the flood. What was new in it goes out
  // again as our own (above), so honest transactions sharing a batch with a flood still travel.
  core.penalize(peer, 'unfunded-tx', unfunded)
  return 'ignore'
}
