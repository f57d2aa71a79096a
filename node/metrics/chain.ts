import type { BlockBundle, Chain, ImportResult } from '../chain/index.ts'
import type { Registry } from './registry.ts'

/** Import time: most blocks import in milliseconds, a full dev block in seconds. */
const IMPORT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const DEPTH_BUCKETS = [1, 2, 3, 4, 6, 8, 16, 32, 64, 128]
const TX_BUCKETS = [0, 1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000]
/** Up to the dev chain's 300M gas limit. */
const GAS_BUCKETS = [0, 100_000, 1_000_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000, 100_000_000, 300_000_000]
const STATUSES: ImportResult['status'][] = ['head', 'side', 'reorg', 'known']

export interface ChainMetrics {
  /** A block this node sealed and committed (the producer's onSealed). */
  blockProduced(bundle: BlockBundle): void
}

/**
 * The chain's metrics: the head read at scrape time, blocks that join the canonical chain
 * from the 'head' and 'reorg' events, and imports (gossip and sync) from the 'imported' event,
 * whose time runs from the call to the result, so it includes waiting for the chain lock while
 * a block is being built.
 */
export function watchChain(registry: Registry, chain: Chain): ChainMetrics {
  const head = () => chain.head.block.header
  registry.collected('gauge', { name: 'medrec_chain_head_number', help: 'Number of the canonical head block.' }, () => Number(head().number))
  registry.collected('gauge', { name: 'medrec_chain_head_total_difficulty', help: 'Total difficulty of the canonical head (sum of difficulties from genesis).' }, () => Number(chain.head.totalDifficulty))
  registry.collected('gauge', { name: 'medrec_chain_head_timestamp_seconds', help: 'Timestamp of the canonical head block, Unix seconds.' }, () => Number(head().timestamp))
  const imported = registry.counter({ name: 'medrec_chain_blocks_imported_total', help: 'Blocks from peers imported, by what they did: head (extended it), reorg, side (side chain), known.', labelNames: ['status'] })
  for (const status of STATUSES) imported.add(0, { status })
  const failed = registry.counter({ name: 'medrec_chain_block_import_failures_total', help: 'Blocks from peers that did not import, by error code (e.g. UNKNOWN_PARENT, INVALID_BLOCK).', labelNames: ['code'] })
  const produced = registry.counter({ name: 'medrec_chain_blocks_produced_total', help: 'Blocks this node sealed and committed.' })
  const reorgs = registry.counter({ name: 'medrec_chain_reorgs_total', help: 'Reorganisations of the canonical chain.' })
  const depth = registry.histogram({ name: 'medrec_chain_reorg_depth_blocks', help: 'Canonical blocks dropped by each reorganisation.', buckets: DEPTH_BUCKETS })
  const importTime = registry.histogram({ name: 'medrec_chain_block_import_duration_seconds', help: 'Time to import a block from a peer (verify, execute, store), chain lock wait included.', buckets: IMPORT_BUCKETS })
  const txs = registry.histogram({ name: 'medrec_chain_block_transactions', help: 'Transactions per block joining the canonical chain.', buckets: TX_BUCKETS })
  const gas = registry.histogram({ name: 'medrec_chain_block_gas_used', help: 'Gas used per block joining the canonical chain.', buckets: GAS_BUCKETS })
  const txTotal = registry.counter({ name: 'medrec_chain_transactions_total', help: 'Transactions in blocks that joined the canonical chain (rate: throughput).' })
  const gasTotal = registry.counter({ name: 'medrec_chain_gas_used_total', help: 'Gas used by blocks that joined the canonical chain.' })

  const joined = (b: BlockBundle) => {
    const n = b.block.transactions.length
    const g = Number(b.block.header.gasUsed)
    txs.observe(n)
    gas.observe(g)
    txTotal.add(n)
    gasTotal.add(g)
  }
  chain.on('head', joined)
  chain.on('reorg', ({ removed, added }) => {
    reorgs.inc()
    depth.observe(removed.length)
    // The new head itself was reported by its 'head' event (emitted first).
    for (const b of added.slice(0, -1)) joined(b)
  })

  chain.on('imported', (ev) => {
    if (ev.status === 'failed') return failed.inc({ code: ev.code ?? 'UNKNOWN' })
    imported.inc({ status: ev.status })
    if (ev.status !== 'known') importTime.observe(ev.seconds)
  })

  return { blockProduced: () => produced.inc() }
}
