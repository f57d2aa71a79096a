import type { Chain } from '../chain/index.ts'
import type { Sealing } from '../producer/index.ts'
import type { Registry } from 'prom-client'
import { scrapedGauge } from './registry.ts'

export interface ConsensusMetrics {
  /** The node's block production (created after the metrics), read at scrape time. */
  attach(sealing: Sealing): void
}

/** What the node runs (engine, chain id, version) and whether and how fast it seals. */
export function watchConsensus(registry: Registry, chain: Chain, info: { chainId: bigint; version: string }): ConsensusMetrics {
  let sealing: Sealing | undefined
  const labels = { engine: chain.consensus.algorithm, chain_id: info.chainId.toString(), version: info.version }
  scrapedGauge(registry, { name: 'medrec_node_info', help: 'Always 1; the labels say what runs: consensus engine, chain id, medrec version.', labelNames: ['engine', 'chain_id', 'version'] }, () => [{ labels, value: 1 }])
  scrapedGauge(registry, { name: 'medrec_sealing_active', help: '1 while this node seals or mines blocks (eth_mining), else 0.' }, () => (sealing?.running === true ? 1 : 0))
  scrapedGauge(registry, { name: 'medrec_sealing_hashrate', help: 'Hashes per second while mining (eth_hashrate; 0 under proof of authority).' }, () => sealing?.hashrate() ?? 0)
  const voting = chain.consensus.voting
  if (voting !== undefined) {
    scrapedGauge(registry, { name: 'medrec_consensus_signers', help: 'Authorised signers at the head (clique_getSigners).' }, () => voting.signers(chain.snapshot).length)
  }
  return {
    attach(s) {
      sealing = s
    },
  }
}
