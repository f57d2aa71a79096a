import type { BatchDBOp, DB, EncodingOpts } from '@ethereumjs/util'
import { TimeSlice } from './yield.ts'

/** The part of a LevelDB sublevel (bytes keys and values) the trie reads through. */
export interface BytesLevel {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
}

/** A pending LevelDB write: value undefined means delete. */
export interface PendingWrite {
  key: Uint8Array
  value: Uint8Array | undefined
}

/** The current slice of trie work (see maybeYield); one per thread. */
const trieSlice = new TimeSlice()

function keyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === 'string' ? new Uint8Array(Buffer.from(key, 'hex')) : key
}
/** A trie key as a map key (latin1 of its bytes): the clean cache's, the write log's and the pruner's live set. */
export function trieKeyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

/**
 * Trie nodes read from (or flushed to) LevelDB, kept in memory: geth's "clean cache". Two
 * generations bounded by bytes: a hit in the old one moves the entry to the new one, and when
 * the new one is full the old one is dropped. It only ever holds what LevelDB holds (filled on
 * reads and on flushed writes, cleared on flushed deletes), so it can never serve stale bytes.
 * Without it every account lookup walked the trie through LevelDB: the largest single cost of a
 * node under load (mempool nonce/balance checks and block execution).
 */
export class CleanCache {
  private young = new Map<string, Uint8Array>()
  private old = new Map<string, Uint8Array>()
  private youngBytes = 0
  private readonly generationBytes: number
  /** Bumped on every flush: a LevelDB read that spans one may return bytes older than the flush. */
  epoch = 0

  constructor(maxBytes: number) {
    this.generationBytes = Math.max(1, Math.floor(maxBytes / 2))
  }

  get(id: string): Uint8Array | undefined {
    const hit = this.young.get(id)
    if (hit !== undefined) return hit
    const old = this.old.get(id)
    if (old !== undefined) this.set(id, old)
    return old
  }

  set(id: string, value: Uint8Array): void {
    if (!this.young.has(id)) this.youngBytes += value.byteLength + id.length
    this.young.set(id, value)
    if (this.youngBytes > this.generationBytes) {
      this.old = this.young
      this.young = new Map()
      this.youngBytes = 0
    }
  }

  delete(id: string): void {
    this.young.delete(id)
    this.old.delete(id)
  }
}

/** Default clean cache: trie nodes are ~100–550 bytes, so this keeps ~100k+ of them. */
export const DEFAULT_CLEAN_CACHE_BYTES = 64 * 1024 * 1024

/**
 * The trie's view of LevelDB. Trie nodes are stored as bytes whatever encoding a caller asks
 * for, and converted back on read per call (the trie mixes hex-string and byte keys: an adapter
 * that ignored per-call encodings read "invalid RLP" after a reopen).
 *
 * Writes are held in an overlay until the chain store drains them into the same LevelDB batch
 * as the block they belong to, so a crash can never leave a head without its state, nor the
 * reverse: one atomic batch per block.
 */
export class TrieLevelAdapter implements DB<string | Uint8Array, string | Uint8Array> {
  private readonly level: BytesLevel
  private readonly overlay: Map<string, PendingWrite>
  /** Drained writes whose batch is not yet in LevelDB: still readable meanwhile. */
  private readonly flushing: Map<string, PendingWrite>
  private readonly clean: CleanCache

  constructor(level: BytesLevel, opts: { cacheBytes?: number } = {}, shared?: { overlay: Map<string, PendingWrite>; flushing: Map<string, PendingWrite>; clean: CleanCache }) {
    this.level = level
    this.overlay = shared?.overlay ?? new Map()
    this.flushing = shared?.flushing ?? new Map()
    this.clean = shared?.clean ?? new CleanCache(opts.cacheBytes ?? DEFAULT_CLEAN_CACHE_BYTES)
  }

  async get(key: string | Uint8Array, opts?: EncodingOpts): Promise<string | Uint8Array | undefined> {
    await this.maybeYield()
    const k = keyBytes(key)
    const id = trieKeyId(k)
    const pending = this.overlay.get(id) ?? this.flushing.get(id)
    let value = pending !== undefined ? pending.value : this.clean.get(id)
    if (pending === undefined && value === undefined) {
      const epoch = this.clean.epoch
      value = await this.level.get(k)
      if (value !== undefined && epoch === this.clean.epoch) this.clean.set(id, value)
    }
    if (value === undefined) return undefined
    return opts?.valueEncoding === 'string' ? Buffer.from(value).toString('hex') : value
  }

  async put(key: string | Uint8Array, value: string | Uint8Array): Promise<void> {
    const k = keyBytes(key)
    this.overlay.set(trieKeyId(k), { key: k, value: typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'hex')) : value })
  }

  async del(key: string | Uint8Array): Promise<void> {
    const k = keyBytes(key)
    this.overlay.set(trieKeyId(k), { key: k, value: undefined })
  }

  async batch(ops: BatchDBOp<string | Uint8Array, string | Uint8Array>[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') await this.put(op.key, op.value as string | Uint8Array)
      else await this.del(op.key)
    }
  }

  /**
   * Gives the event loop a turn every YIELD_EVERY_MS of trie work. ethereumjs's state flush
   * (every changed slot written into its storage trie, each path re-hashed) is one chain of
   * promises that never reaches the loop: 100-250 ms for a 1,000-write block at a loaded node,
   * during which no gossip was read. Every trie node it touches is read through here first.
   */
  private async maybeYield(): Promise<void> {
    if (trieSlice.due()) await trieSlice.yield()
  }

  /** Same LevelDB and the same overlay: copies see writes not yet committed. */
  shallowCopy(): TrieLevelAdapter {
    return new TrieLevelAdapter(this.level, {}, { overlay: this.overlay, flushing: this.flushing, clean: this.clean })
  }

  async open(): Promise<void> {}

  /**
   * Hands over everything written since the last drain, for the block's batch. The writes
   * stay readable until `flushed()` says the batch is in LevelDB.
   */
  drain(): PendingWrite[] {
    for (const [k, w] of this.overlay) this.flushing.set(k, w)
    const writes = [...this.overlay.values()]
    this.overlay.clear()
    return writes
  }

  flushed(): void {
    // What was just written is what the next block and the pool read first.
    this.clean.epoch++
    for (const [id, w] of this.flushing) {
      if (w.value === undefined) this.clean.delete(id)
      else this.clean.set(id, w.value)
    }
    this.flushing.clear()
  }

  /** Forget writes of work that is being thrown away (a block that failed import). */
  discard(): void {
    this.overlay.clear()
  }

  /**
   * Drops keys the pruner just deleted from LevelDB out of the clean cache, and voids reads that
   * spanned the delete (the epoch), so the cache keeps holding only what LevelDB holds.
   */
  forget(keys: Uint8Array[]): void {
    this.clean.epoch++
    for (const k of keys) this.clean.delete(trieKeyId(k))
  }
}

/**
 * The state pruner's record of trie writes (node/chain/prune.ts). While a prune cycle runs, every
 * key written to the trie sublevel is recorded here and counts as live: the cycle marked what
 * the window's roots reached when it began, and a node written since (a new block's, state
 * sync's, or the same bytes written again after they died) must survive its sweep. The sweep's
 * deletes and every trie write run one at a time through `exclusive`, so a delete decided
 * before a write can never land after it.
 */
export class TrieWriteLog {
  private recorded: Set<string> | undefined
  private queue: Promise<unknown> = Promise.resolve()
  /** Extra roots whose nodes are kept (hex): state sync's pivot while its download runs. */
  readonly pinned = new Set<string>()

  /** Starts recording (a cycle begins). */
  begin(): void {
    this.recorded = new Set()
  }

  /** Stops recording (the cycle ended). */
  end(): void {
    this.recorded = undefined
  }

  /** Notes keys about to be written (no-op while no cycle runs). */
  record(keys: Iterable<Uint8Array>): void {
    if (this.recorded === undefined) return
    for (const k of keys) this.recorded.add(trieKeyId(k))
  }

  /** Whether `key` was written since the cycle began. */
  wrote(key: Uint8Array): boolean {
    return this.recorded?.has(trieKeyId(key)) ?? false
  }

  /** Runs `fn` after every earlier trie write or delete that went through here. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }
}

/** The part of a LevelDB sublevel raw trie writes need. */
export interface TrieNodeLevel {
  batch(ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array }>): Promise<void>
}

/** One raw trie entry: a node (key: keccak of its bytes) or contract code (key: 'c' + code hash). */
export interface TrieNode {
  key: Uint8Array
  value: Uint8Array
}

/**
 * Writes trie nodes and code straight into the trie sublevel, outside any block (state sync's
 * downloaded nodes). They count as live for a prune cycle running meanwhile; a download that
 * spans cycles also pins its root (`log.pinned`, hex) so nodes written before a cycle began are
 * kept too. The caller checks each node's hash before it gets here.
 */
export function writeTrieNodes(level: TrieNodeLevel, log: TrieWriteLog, nodes: TrieNode[]): Promise<void> {
  return log.exclusive(async () => {
    log.record(nodes.map((n) => n.key))
    await level.batch(nodes.map((n) => ({ type: 'put', key: n.key, value: n.value })))
  })
}
