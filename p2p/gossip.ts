import { createHash } from 'node:crypto'
import type { GossipsubOpts, Message } from '@libp2p/gossipsub'
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'
import { GOSSIP_MAX_BYTES } from './options.ts'

/**
 * gossipsub's peer scoring for our two topics. Chosen for a small permissioned network:
 * - P4 (invalid messages, i.e. validator REJECTs) is the main penalty: one reject on the block
 *   topic costs -100, two -400 (the counter is squared), decaying by 1% a second;
 * - P1/P2 (time in mesh, first deliveries) reward useful peers a little;
 * - P3/P3b (mesh delivery rate) are off: on a chain with a block every few seconds and bursts of
 *   transactions an honest peer would often fall below any delivery threshold;
 * - P6 (IP colocation) is off: consortium members may run several nodes behind one address, and
 *   `maxPeers` plus our own scoring bound what one host can do;
 * - P5 (application score) is our own score (see scoring.ts), so what we penalise also pushes
 *   the peer out of gossipsub's mesh;
 * - the other way round, a peer whose score falls below `graylistThreshold` is penalised to a
 *   ban in ours (gossip-bans.ts): one score, whoever saw the invalid messages.
 */
function topicParams(topicWeight: number): TopicScoreParams {
  return {
    topicWeight,
    timeInMeshWeight: 0.03,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 100,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    invalidMessageDeliveriesWeight: -100,
    invalidMessageDeliveriesDecay: 0.99,
  }
}

export function gossipScoreParams(topics: { tx: string; block: string }, appScore: (peer: string) => number): Partial<PeerScoreParams> {
  return {
    topics: { [topics.tx]: topicParams(0.5), [topics.block]: topicParams(1) },
    topicScoreCap: 10,
    appSpecificScore: appScore,
    appSpecificWeight: 1,
    IPColocationFactorWeight: 0,
    behaviourPenaltyWeight: -10,
    // A graylisted peer is now banned (gossip-bans.ts): a few IWANT promises broken under load
    // (P7) cost nothing, repeated ones still graylist.
    behaviourPenaltyThreshold: 6,
    behaviourPenaltyDecay: 0.9,
    decayInterval: 1000,
    decayToZero: 0.01,
    retainScore: 60 * 60_000,
  }
}

export const gossipScoreThresholds: PeerScoreThresholds = {
  gossipThreshold: -500,
  publishThreshold: -1000,
  graylistThreshold: -2000,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5,
}

/**
 * Content-addressed message ids (messages are unsigned, StrictNoSign): the same transaction
 * published by two nodes is one message, and the seen-cache drops its copies.
 */
export function messageId(msg: Message): Uint8Array {
  return createHash('sha256').update(msg.topic).update(msg.data).digest()
}

export function gossipOptions(o: {
  topics: { tx: string; block: string }
  appScore: (peer: string) => number
  heartbeatIntervalMs: number
  maxInboundBytes: number
}): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: messageId,
    allowedTopics: [o.topics.tx, o.topics.block],
    // A message with no one to send it to fails (NO_PEERS) instead of being marked as seen and
    // lost: the caller can send it again once peers have joined the topic.
    allowPublishToZeroTopicPeers: false,
    ignoreDuplicatePublishError: true,
    fallbackToFloodsub: false,
    floodPublish: true,
    emitSelf: false,
    heartbeatInterval: o.heartbeatIntervalMs,
    maxInboundDataLength: Math.min(o.maxInboundBytes, GOSSIP_MAX_BYTES) + 4096,
    scoreParams: gossipScoreParams(o.topics, o.appScore),
    scoreThresholds: gossipScoreThresholds,
  }
}
