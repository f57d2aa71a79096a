import type { BatchDBOp, DB, EncodingOpts } from '@ethereumjs/util'

/** The part of a LevelDB sublevel (bytes keys and values) the trie reads through. */
export interface BytesLevel {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
}

/** A pending LevelDB write: value undefined means delete. */
export interface PendingWrite {
  key: Uint8Array
  value: Uint8Array | undefined
}

function keyBytes(key: string | Uint8Array): Uint8Array {
  return typeof key === 'string' ? new Uint8Array(Buffer.from(key, 'hex')) : key
}
function keyId(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

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

  constructor(level: BytesLevel, overlay?: Map<string, PendingWrite>, flushing?: Map<string, PendingWrite>) {
    this.level = level
    this.overlay = overlay ?? new Map()
    this.flushing = flushing ?? new Map()
  }

  async get(key: string | Uint8Array, opts?: EncodingOpts): Promise<string | Uint8Array | undefined> {
    const k = keyBytes(key)
    const id = keyId(k)
    const pending = this.overlay.get(id) ?? this.flushing.get(id)
    const value = pending !== undefined ? pending.value : await this.level.get(k)
    if (value === undefined) return undefined
    return opts?.valueEncoding === 'string' ? Buffer.from(value).toString('hex') : value
  }

  async put(key: string | Uint8Array, value: string | Uint8Array): Promise<void> {
    const k = keyBytes(key)
    this.overlay.set(keyId(k), { key: k, value: typeof value === 'string' ? new Uint8Array(Buffer.from(value, 'hex')) : value })
  }

  async del(key: string | Uint8Array): Promise<void> {
    const k = keyBytes(key)
    this.overlay.set(keyId(k), { key: k, value: undefined })
  }

  async batch(ops: BatchDBOp<string | Uint8Array, string | Uint8Array>[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') await this.put(op.key, op.value as string | Uint8Array)
      else await this.del(op.key)
    }
  }

  /** Same LevelDB and the same overlay: copies see writes not yet committed. */
  shallowCopy(): TrieLevelAdapter {
    return new TrieLevelAdapter(this.level, this.overlay, this.flushing)
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
    this.flushing.clear()
  }

  /** Forget writes of work that is being thrown away (a block that failed import). */
  discard(): void {
    this.overlay.clear()
  }
}
