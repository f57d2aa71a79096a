import type { P2PObserver } from '../../p2p/index.ts'
import type { Network } from '../network.ts'
import type { Registry } from './registry.ts'

export interface P2PMetrics {
  /** For startNetwork: p2p reports gossip verdicts and penalties to it. */
  observer: P2PObserver
  /** The running network (none on a lone node), read at scrape time. */
  attach(network: Network | undefined): void
}

/** Peers and sync state read at scrape time; gossip verdicts, penalties and bans as p2p reports them. */
export function watchP2P(registry: Registry): P2PMetrics {
  let network: Network | undefined
  registry.collected('gauge', { name: 'medrec_p2p_peers', help: 'Connected chain peers (0 without networking).' }, () => network?.p2p.peerCount() ?? 0)
  registry.collected('gauge', { name: 'medrec_p2p_syncing', help: '1 while catching up with a heavier peer, else 0.' }, () => (network?.syncing() === false || network === undefined ? 0 : 1))
  const gossip = registry.counter({ name: 'medrec_p2p_gossip_messages_total', help: 'Gossiped messages received, by topic (tx, block) and verdict (accept, ignore, reject).', labelNames: ['topic', 'verdict'] })
  const penalties = registry.counter({ name: 'medrec_p2p_penalties_total', help: 'Penalties given to peers, by reason.', labelNames: ['reason'] })
  const bans = registry.counter({ name: 'medrec_p2p_bans_total', help: 'Peers banned after their score fell to the threshold.' })
  return {
    observer: {
      gossip: (topic, verdict) => gossip.inc({ topic, verdict }),
      penalty(reason, banned) {
        penalties.inc({ reason })
        if (banned) bans.inc()
      },
    },
    attach(n) {
      network = n
    },
  }
}
