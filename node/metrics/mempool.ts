import type { Mempool } from '../mempool/index.ts'
import type { Registry } from './registry.ts'

/**
 * The pool's sizes, read at scrape time, and every submission's fate from the pool's
 * 'submitted' event (JSON-RPC, gossip and the transactions a reorg hands back).
 */
export function watchMempool(registry: Registry, mempool: Mempool): void {
  registry.collected('gauge', { name: 'medrec_mempool_pending', help: 'Executable transactions in the pool (contiguous nonces from the account nonce).' }, () => mempool.stats().pending)
  registry.collected('gauge', { name: 'medrec_mempool_queued', help: 'Transactions in the pool waiting for a nonce gap to fill.' }, () => mempool.stats().queued)
  const added = registry.counter({ name: 'medrec_mempool_transactions_added_total', help: 'Transactions the pool took in (JSON-RPC, gossip, reorgs).' })
  const refused = registry.counter({ name: 'medrec_mempool_transactions_refused_total', help: 'Transactions the pool refused, by reason (the mempool error code in lower case).', labelNames: ['reason'] })

  mempool.on('submitted', (outcome) => {
    if (outcome === 'added') added.inc()
    else refused.inc({ reason: outcome.toLowerCase() })
  })
}
