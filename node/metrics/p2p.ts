import type { P2PObserver } from '../../p2p/index.ts'
import type { Network } from '../sync/index.ts'
import { Counter, type Registry } from 'prom-client'
import { scrapedGauge } from './registry.ts'

export interface P2PMetrics {
  /** For startNetwork: p2p reports gossip verdicts and penalties to it. */
  observer: P2PObserver
  /** The running network (none on a lone node), read at scrape time. */
  attach(network: Network | undefined): void
}

/** Peers and sync state read at scrape time; gossip verdicts, penalties and bans as p2p reports them. */
export function watchP2P(registry: Registry): P2PMetrics {
  let network: Network | undefined
  scrapedGauge(registry, { name: 'medrec_p2p_peers', help: 'Connected chain peers (0 without networking).' }, () => network?.p2p.peerCount() ?? 0)
  scrapedGauge(registry, { name: 'medrec_p2p_syncing', help: '1 while catching up with a heavier peer, else 0.' }, () => (network?.syncing() === false || network === undefined ? 0 : 1))
  const gossip = new Counter({ name: 'medrec_p2p_gossip_messages_total', help: 'Gossiped messages received, by topic (tx, block) and verdict (accept, ignore, reject).', labelNames: ['topic', 'verdict'], registers: [registry] })
  const penalties = new Counter({ name: 'medrec_p2p_penalties_total', help: 'Penalties given to peers, by reason.', labelNames: ['reason'], registers: [registry] })
  const bans = new Counter({ name: 'medrec_p2p_bans_total', help: 'Peers banned after their score fell to the threshold.', registers: [registry] })
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
