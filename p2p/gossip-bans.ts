import type { GossipSub } from '@libp2p/gossipsub'
import { createLogger } from '../common/logger.ts'
import type { P2PCore } from './core.ts'
import { gossipScoreThresholds } from './gossip.ts'
import type { PeerIdStr } from './types.ts'

// One score for invalid gossip, whoever sees it first.

const log = createLogger('p2p')

/** Parts of gossipsub's class that its `GossipSub` interface does not declare. */
export type ScoredGossipSub = GossipSub & { getScore(peer: PeerIdStr): number }

/**
 * Penalises in our score (`gossip-graylisted`, a ban at the defaults) every peer whose gossipsub
 * score falls below gossipsub's graylist threshold; checked at each gossipsub heartbeat, when
 * gossipsub recomputes its scores. Returns a function that stops watching.
 *
 * Why: gossipsub judges each message before our validator sees it (framing, signature policy,
 * duplicates) and counts every REJECT, ours included, in its own score (P4, squared per topic).
 * Once that score is below `graylistThreshold` gossipsub drops the peer's RPCs unread, so our
 * validator stops seeing its messages: five invalid blocks mute a peer, while our score (-10 a
 * reject) stops at -50, above `disconnectScore`, and the peer kept its connection and its
 * request/response access. Lowering the graylist threshold so that our validator sees
 * everything would still miss what gossipsub rejects on its own; gossipsub's score already
 * holds ours (P5 is our score), so it is the combined one, and falling below its graylist
 * threshold is the one signal that covers both.
 *
 * Once per fall: gossipsub keeps a disconnected peer's negative score (`retainScore`) and P4
 * decays over tens of seconds, so a peer coming back after its ban may still be graylisted
 * (gossipsub keeps ignoring its gossip); it is penalised again only after its gossipsub score
 * has come back above the threshold and fallen again.
 */
export function watchGossipScores(core: P2PCore, pubsub: ScoredGossipSub): () => void {
  const threshold = gossipScoreThresholds.graylistThreshold
  /** Peers penalised for their current fall below the threshold. */
  const fallen = new Set<PeerIdStr>()
  const check = () => {
    if (core.stopped) return
    // A peer whose retained stats expired scores 0: this set stays bounded.
    for (const peer of fallen) if (pubsub.getScore(peer) >= threshold) fallen.delete(peer)
    for (const id of pubsub.getPeers()) {
      const peer = id.toString()
      if (fallen.has(peer)) continue
      const gossipScore = pubsub.getScore(peer)
      if (!(gossipScore < threshold)) continue
      fallen.add(peer)
      log.info('gossipsub graylisted a peer (invalid gossip): penalised in our score', { peer, gossipScore: Math.round(gossipScore), threshold })
      core.penalize(peer, 'gossip-graylisted')
    }
  }
  pubsub.addEventListener('gossipsub:heartbeat', check)
  return () => pubsub.removeEventListener('gossipsub:heartbeat', check)
}
