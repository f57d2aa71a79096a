import type { BlockHeader } from '@ethereumjs/block'
import { bytesToHex } from '@ethereumjs/util'
import type { Consensus, Snapshot } from '../../consensus/index.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import type { ChainStore } from './store.ts'

/** Snapshots are saved to LevelDB every this many blocks (geth: 1024), so a restart replays few headers. */
const PERSIST_INTERVAL = 1024n
const MEMORY_SIZE = 512

/**
 * Consensus snapshots by block hash: kept in memory for recent blocks of every branch, saved
 * every 1024 blocks, and otherwise rebuilt by replaying headers from the nearest known one.
 */
export class SnapshotCache {
  private readonly memory = new Map<string, Snapshot>()
  private readonly store: ChainStore
  private readonly consensus: Consensus
  private readonly genesis: Snapshot

  constructor(store: ChainStore, consensus: Consensus, genesis: Snapshot) {
    this.store = store
    this.consensus = consensus
    this.genesis = genesis
  }

  /** The snapshot after `header` (the state that validates its children). */
  async at(header: BlockHeader): Promise<Snapshot> {
    const pending: BlockHeader[] = []
    let h = header
    let base: Snapshot | undefined
    for (;;) {
      if (h.number === 0n) {
        base = this.genesis
        break
      }
      const hash = h.hash()
      base = this.memory.get(bytesToHex(hash))
      if (base !== undefined) break
      const saved = await this.store.snapshot(hash)
      if (saved !== undefined) {
        base = this.consensus.decodeSnapshot(saved)
        break
      }
      pending.push(h)
      const parent = await this.store.bundle(h.parentHash)
      if (parent === undefined) throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `cannot rebuild the consensus snapshot: block ${h.number - 1n} (${bytesToHex(h.parentHash)}) is missing`)
      h = parent.block.header
    }
    let snap = base
    for (let i = pending.length - 1; i >= 0; i--) {
      snap = this.consensus.apply(snap, pending[i]!)
      await this.remember(snap)
    }
    return snap
  }

  /** Records the snapshot of a block just committed; every 1024th is saved to disk. */
  async remember(snap: Snapshot): Promise<void> {
    const key = bytesToHex(snap.hash)
    if (this.memory.size >= MEMORY_SIZE) this.memory.delete(this.memory.keys().next().value as string)
    this.memory.set(key, snap)
    if (snap.number % PERSIST_INTERVAL === 0n) await this.store.putSnapshot(snap.hash, this.consensus.encodeSnapshot(snap))
  }

  /** Saves a snapshot now (the head's, at shutdown). */
  async save(snap: Snapshot): Promise<void> {
    await this.store.putSnapshot(snap.hash, this.consensus.encodeSnapshot(snap))
  }
}
