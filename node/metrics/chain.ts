import type { BlockBundle, Chain, ImportResult } from '../chain/index.ts'
import { Counter, Histogram, type Registry } from 'prom-client'
import { scrapedGauge } from './registry.ts'

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
  const registers = [registry]
  scrapedGauge(registry, { name: 'medrec_chain_head_number', help: 'Number of the canonical head block.' }, () => Number(head().number))
  scrapedGauge(registry, { name: 'medrec_chain_head_total_difficulty', help: 'Total difficulty of the canonical head (sum of difficulties from genesis).' }, () => Number(chain.head.totalDifficulty))
  scrapedGauge(registry, { name: 'medrec_chain_head_timestamp_seconds', help: 'Timestamp of the canonical head block, Unix seconds.' }, () => Number(head().timestamp))
  const imported = new Counter({ name: 'medrec_chain_blocks_imported_total', help: 'Blocks from peers imported, by what they did: head (extended it), reorg, side (side chain), known.', labelNames: ['status'], registers })
  for (const status of STATUSES) imported.inc({ status }, 0)
  const failed = new Counter({ name: 'medrec_chain_block_import_failures_total', help: 'Blocks from peers that did not import, by error code (e.g. UNKNOWN_PARENT, INVALID_BLOCK).', labelNames: ['code'], registers })
  const produced = new Counter({ name: 'medrec_chain_blocks_produced_total', help: 'Blocks this node sealed and committed.', registers })
  const reorgs = new Counter({ name: 'medrec_chain_reorgs_total', help: 'Reorganisations of the canonical chain.', registers })
  const depth = new Histogram({ name: 'medrec_chain_reorg_depth_blocks', help: 'Canonical blocks dropped by each reorganisation.', buckets: DEPTH_BUCKETS, registers })
  const importTime = new Histogram({ name: 'medrec_chain_block_import_duration_seconds', help: 'Time to import a block from a peer (verify, execute, store), chain lock wait included.', buckets: IMPORT_BUCKETS, registers })
  const txs = new Histogram({ name: 'medrec_chain_block_transactions', help: 'Transactions per block joining the canonical chain.', buckets: TX_BUCKETS, registers })
  const gas = new Histogram({ name: 'medrec_chain_block_gas_used', help: 'Gas used per block joining the canonical chain.', buckets: GAS_BUCKETS, registers })
  const txTotal = new Counter({ name: 'medrec_chain_transactions_total', help: 'Transactions in blocks that joined the canonical chain (rate: throughput).', registers })
  const gasTotal = new Counter({ name: 'medrec_chain_gas_used_total', help: 'Gas used by blocks that joined the canonical chain.', registers })

  const joined = (b: BlockBundle) => {
    const n = b.block.transactions.length
    const g = Number(b.block.header.gasUsed)
    txs.observe(n)
    gas.observe(g)
    txTotal.inc(n)
    gasTotal.inc(g)
  }
  chain.on('head', joined)
  chain.on('reorg', ({ removed, added }) => {
    reorgs.inc()
    depth.observe(removed.length)
    // The new head itself was reported by its 'head' event (emitted first).
    for (const b of added.slice(0, -1)) joined(b)
  })

  chain.on('imported', (ev) => {
    if (ev.status === 'failed') return void failed.inc({ code: ev.code ?? 'UNKNOWN' })
    imported.inc({ status: ev.status })
    if (ev.status !== 'known') importTime.observe(ev.seconds)
  })

  return { blockProduced: () => produced.inc() }
}
