import type { Mempool } from '../mempool/index.ts'
import { Counter, type Registry } from 'prom-client'
import { scrapedGauge } from './registry.ts'

/**
 * The pool's sizes, read at scrape time, and every submission's fate from the pool's
 * 'submitted' event (JSON-RPC, gossip and the transactions a reorg hands back).
 */
export function watchMempool(registry: Registry, mempool: Mempool): void {
  scrapedGauge(registry, { name: 'medrec_mempool_pending', help: 'Executable transactions in the pool (contiguous nonces from the account nonce).' }, () => mempool.stats().pending)
  scrapedGauge(registry, { name: 'medrec_mempool_queued', help: 'Transactions in the pool waiting for a nonce gap to fill.' }, () => mempool.stats().queued)
  const added = new Counter({ name: 'medrec_mempool_transactions_added_total', help: 'Transactions the pool took in (JSON-RPC, gossip, reorgs).', registers: [registry] })
  const refused = new Counter({ name: 'medrec_mempool_transactions_refused_total', help: 'Transactions the pool refused, by reason (the mempool error code in lower case).', labelNames: ['reason'], registers: [registry] })

  mempool.on('submitted', (outcome) => {
    if (outcome === 'added') added.inc()
    else refused.inc({ reason: outcome.toLowerCase() })
  })
}
