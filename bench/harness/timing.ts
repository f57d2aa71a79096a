/**
 * Times read off the head watchers' log: when a transaction's block had K−1 blocks on top at a
 * node (latency to K confirmations), and how long each final-chain block took to reach every
 * node after the first had it (block propagation). Pure functions over what collect.ts recorded.
 */
import type { BlockInfo, HeadLog } from './collect.ts'

/**
 * K of the latency to K confirmations by default: 6, the block depth wallets and exchanges have
 * long waited for (geth's own miner waits for 7 blocks on top before it logs a block it mined as
 * canonical). Reaching it costs the run K−1 more blocks after the load drains.
 */
export const DEFAULT_CONFIRMATIONS = 6

/** One final-chain block: when it first joined some node's chain, and how much later each node had it. */
export interface PropagationRecord {
  number: number
  hash: string
  /** The node that had it first. */
  firstNode: number
  /** ms since the load started. */
  firstMs: number
  /** Per node: ms after the first node; 0 for the first; null where the node's watcher never saw it. */
  delaysMs: Array<number | null>
}

/**
 * When the block at `index` of `chain` had `k` − 1 blocks on top in node `node`'s chain: the
 * time the final chain's block k − 1 above it joined that node's chain (a descendant joins
 * with its ancestors, so the block itself was there by then). Undefined if the chain does not
 * reach that high or the node never had that block.
 */
export function confirmedAt(heads: HeadLog, chain: readonly BlockInfo[], index: number, k: number, node: number): number | undefined {
  const top = chain[index + Math.max(1, k) - 1]
  return top === undefined ? undefined : heads.blockAt[node]?.get(top.hash)
}

/** Index in `chain` of the block holding each transaction. */
export function txIndex(chain: readonly BlockInfo[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const [i, b] of chain.entries()) for (const tx of b.txs) m.set(tx, i)
  return m
}

/** Per final-chain block (that some node saw), the first sighting and each node's delay after it. */
export function propagation(heads: HeadLog, chain: readonly BlockInfo[], t0: number): PropagationRecord[] {
  const out: PropagationRecord[] = []
  for (const b of chain) {
    const times = heads.blockAt.map((m) => m.get(b.hash))
    let first = -1
    for (const [i, at] of times.entries()) if (at !== undefined && (first < 0 || at < times[first]!)) first = i
    if (first < 0) continue
    const t = times[first]!
    out.push({ number: b.number, hash: b.hash, firstNode: first, firstMs: t - t0, delaysMs: times.map((at) => (at === undefined ? null : at - t)) })
  }
  return out
}

/** The delays of every node but the first, over the given records: what the summary's distribution is of. */
export function propagationDelays(records: readonly PropagationRecord[]): number[] {
  const out: number[] = []
  for (const r of records) for (const [i, d] of r.delaysMs.entries()) if (i !== r.firstNode && d !== null) out.push(d)
  return out
}
