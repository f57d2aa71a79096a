import { bytesToHex } from '@ethereumjs/util'
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { TimeSlice, markLive, trieKeyId, type TrieLevelAdapter } from '../../evm/index.ts'
import type { ChainStore } from './store.ts'

const log = createLogger('chain')

export interface PruneOptions {
  /** Blocks (the head and those below it) whose state is kept. */
  recent: number
  /** Blocks between the starts of two cycles (default `recent`). */
  interval?: number
}

/** What one prune cycle did. */
export interface PruneCycle {
  head: bigint
  /** The lowest block whose state was kept. */
  keptFrom: bigint
  /** State roots marked from (the window's blocks of every branch, plus pinned roots). */
  roots: number
  /** Trie nodes and code entries found live. */
  live: number
  /** Keys of the trie sublevel looked at by the sweep. */
  scanned: number
  deleted: number
  /** Whether the cycle ran to its end (false: the node was closing). */
  complete: boolean
}

/** Keys deleted per LevelDB batch (and per turn of the trie log): short enough that a block commit never waits long. */
const SWEEP_BATCH = 512

/** ethereumjs's code key prefix ('c'). */
const CODE_PREFIX = 0x63

/** Keys this pruner may delete: trie nodes (32-byte hashes) and code ('c' + hash). Anything else is left alone. */
function prunable(key: Uint8Array): boolean {
  return key.length === 32 || (key.length === 33 && key[0] === CODE_PREFIX)
}

/**
 * State pruning by online mark-and-sweep over the trie sublevel, every `interval` blocks:
 *
 *  1. Mark: the state roots of every stored block in the window (head − recent + 1 .. head, every
 *     branch, from the store's 'h' index) and the pinned roots are walked; what they reach is live.
 *  2. Old roots first: the root nodes of blocks that left the window are deleted unless live, so
 *     a read of pruned state fails at its root (a clean EVM_MISSING_STATE), not half way down.
 *  3. Sweep: every other key of the trie sublevel that is not live is deleted, in small batches.
 *
 * Why this scheme rather than reference counts: a node's bytes are shared by many tries and
 * blocks (unchanged subtrees, equal storage of two contracts, the same code deployed twice) and
 * can die and be written again later; counts would need a read-modify-write of a persistent
 * counter per node per block in the block's batch. Mark-and-sweep needs nothing in the block
 * path but one rule: while a cycle runs, every trie write is recorded and counts as live
 * (TrieWriteLog), and deletes and writes go through the log one at a time, so a node written
 * again after it died is never deleted after that write. A new block's nodes are either written
 * by it (recorded) or reached from its parent's root (in the window, so marked): nothing a block
 * committed during the cycle uses can be swept.
 *
 * Crash safety: only keys no window root reaches are deleted, and blocks are committed in one
 * batch, so a kill at any point leaves every state in the window whole; a cycle cut short leaves
 * garbage the next one removes. Cost: the mark walks the live state once per cycle (a key already
 * marked is not walked again), about 100 bytes of memory per live node while it runs; the sweep
 * reads every key once. Disk then holds the live state of the window plus what about two
 * intervals of blocks wrote, whatever the length of the chain.
 *
 * Reorgs: a side branch's blocks in the window keep their state, so a fork switch within the
 * window re-executes on its parent's state; a branch forking below the window cannot be
 * imported (its parent's state is gone: EVM_MISSING_STATE), as in geth.
 */
export class StatePruner {
  private readonly store: ChainStore
  private readonly trie: TrieLevelAdapter
  readonly recent: bigint
  private readonly interval: bigint
  private lastStart: bigint | undefined
  private running: Promise<PruneCycle> | undefined
  private closed = false
  /** Completed cycles. */
  cycles = 0
  last: PruneCycle | undefined
  /** Told after each cycle (tests, metrics). */
  onCycle: ((c: PruneCycle) => void) | undefined
  /** Awaited between the mark and the sweep: a test's seam for writes that land in that gap. */
  afterMark: (() => Promise<void>) | undefined

  constructor(store: ChainStore, trie: TrieLevelAdapter, opts: PruneOptions) {
    this.store = store
    this.trie = trie
    this.recent = BigInt(Math.max(1, opts.recent))
    this.interval = BigInt(Math.max(1, opts.interval ?? opts.recent))
  }

  /** The lowest block whose state a node at `head` keeps. */
  keptFrom(head: bigint): bigint {
    return head >= this.recent ? head - this.recent + 1n : 0n
  }

  /** A new head: starts a cycle in the background when one is due (none runs, and `interval` blocks passed). */
  onHead(head: bigint): void {
    if (this.closed || this.running !== undefined || head < this.recent) return
    if (this.lastStart !== undefined && head - this.lastStart < this.interval) return
    void this.run(head).catch((err: unknown) => log.error('State pruning failed; it is tried again at a later head', { head }, errorMessage(err)))
  }

  /** Runs one cycle for `head` now (waits for a running one first). */
  async run(head: bigint): Promise<PruneCycle> {
    while (this.running !== undefined) await this.running.catch(() => {})
    this.lastStart = head
    const cycle = this.cycle(head)
    this.running = cycle
    try {
      return await cycle
    } finally {
      this.running = undefined
    }
  }

  /** Stops a running cycle at its next step and waits for it. */
  async close(): Promise<void> {
    this.closed = true
    await this.running?.catch(() => {})
  }

  private async cycle(head: bigint): Promise<PruneCycle> {
    const keptFrom = this.keptFrom(head)
    const stop = (): boolean => this.closed || this.store.fault !== undefined
    const stats: PruneCycle = { head, keptFrom, roots: 0, live: 0, scanned: 0, deleted: 0, complete: false }
    const started = performance.now()
    log.info('Pruning state', { head, keptFrom })
    // Recording starts before the roots are read: a block committed from here on is covered.
    this.store.trieWrites.begin()
    try {
      const roots = await this.windowRoots(head, keptFrom)
      stats.roots = roots.length
      const live = new Set<string>()
      await markLive(roots, (keys) => this.store.readStateNodes(keys), live, stop)
      stats.live = live.size
      await this.afterMark?.()
      if (stop()) return stats
      const old: Uint8Array[] = []
      for await (const e of this.store.stateRoots(0n, keptFrom)) if (!live.has(trieKeyId(e.root))) old.push(e.root)
      stats.deleted += await this.delete(old, keptFrom)
      const slice = new TimeSlice()
      let batch: Uint8Array[] = []
      for await (const key of this.store.stateKeys()) {
        stats.scanned++
        if (!prunable(key) || live.has(trieKeyId(key))) continue
        batch.push(key)
        if (batch.length >= SWEEP_BATCH) {
          if (stop()) return stats
          stats.deleted += await this.delete(batch)
          batch = []
        }
        if (slice.due()) await slice.yield()
      }
      if (stop()) return stats
      stats.deleted += await this.delete(batch)
      stats.complete = true
      this.cycles++
      this.last = stats
      log.info('Pruned state', { head, keptFrom, roots: stats.roots, live: stats.live, scanned: stats.scanned, deleted: stats.deleted, ms: Math.round(performance.now() - started) })
      this.onCycle?.(stats)
      return stats
    } finally {
      this.store.trieWrites.end()
    }
  }

  private async delete(keys: Uint8Array[], rootsBelow?: bigint): Promise<number> {
    if (keys.length === 0 && rootsBelow === undefined) return 0
    const deleted = await this.store.deleteStateNodes(keys, rootsBelow)
    this.trie.forget(deleted)
    return deleted.length
  }

  /** The state roots of every stored block from `keptFrom` up, and the pinned ones. */
  private async windowRoots(head: bigint, keptFrom: bigint): Promise<Uint8Array[]> {
    const roots = new Map<string, Uint8Array>()
    const numbers = new Set<bigint>()
    for await (const e of this.store.stateRoots(keptFrom)) {
      roots.set(bytesToHex(e.root), e.root)
      numbers.add(e.number)
    }
    // Blocks stored before the 'h' index existed: the canonical chain's roots (side branches of
    // that time are not kept).
    for (let n = keptFrom; n <= head; n++) {
      if (numbers.has(n)) continue
      const hash = await this.store.canonicalHash(n)
      const bundle = hash === undefined ? undefined : await this.store.bundle(hash)
      if (bundle !== undefined) roots.set(bytesToHex(bundle.block.header.stateRoot), bundle.block.header.stateRoot)
    }
    for (const hex of this.store.trieWrites.pinned) roots.set(hex, Uint8Array.from(Buffer.from(hex.replace(/^0x/, ''), 'hex')))
    return [...roots.values()]
  }
}
