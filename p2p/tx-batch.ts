/**
 * Transactions travel on gossip in batches, as eth's `Transactions` message carries many: one
 * gossipsub message per transaction cost every node a noise frame, a yamux frame, a protobuf RPC
 * and gossipsub's bookkeeping per transaction per peer, about a quarter of a node's CPU at a few
 * hundred transactions per second. A batch is sent `delayMs` after its first transaction (or at
 * once when full); every transaction's publish resolves or fails with its batch.
 */
import { P2PError } from './errors.ts'
import { pack, unpackOne } from './wire.ts'

/** Most transactions in one batch message (a receiver refuses more). */
export const MAX_BATCH_TXS = 1024

export function encodeTxBatch(txs: readonly Uint8Array[]): Uint8Array {
  return pack(txs)
}

/** The transactions of a batch message; throws P2PError INVALID_MESSAGE when it is not one. */
export function decodeTxBatch(data: Uint8Array): Uint8Array[] {
  let v: unknown
  try {
    v = unpackOne(data)
  } catch (err) {
    throw new P2PError('P2P_INVALID_MESSAGE', 'transaction batch: undecodable', undefined, err)
  }
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BATCH_TXS || !v.every((x) => x instanceof Uint8Array)) {
    throw new P2PError('P2P_INVALID_MESSAGE', `transaction batch: expected 1 to ${MAX_BATCH_TXS} byte strings`)
  }
  return v as Uint8Array[]
}

interface Waiting {
  resolve(recipients: number): void
  reject(err: unknown): void
}

export class TxBatcher {
  readonly #publish: (data: Uint8Array) => Promise<number>
  readonly #maxBytes: number
  readonly #delayMs: number
  #txs: Uint8Array[] = []
  /** The queued transactions' bytes: one published again before its batch left rides along once. */
  #queued = new Set<string>()
  #bytes = 0
  #waiting: Waiting[] = []
  #timer: NodeJS.Timeout | undefined

  /** `maxBytes` bounds a batch's transaction bytes (a transaction larger than it goes alone). */
  constructor(publish: (data: Uint8Array) => Promise<number>, opts: { maxBytes: number; delayMs: number }) {
    this.#publish = publish
    this.#maxBytes = opts.maxBytes
    this.#delayMs = opts.delayMs
  }

  /** Queues `tx`; resolves with the number of peers its batch went to. */
  add(tx: Uint8Array): Promise<number> {
    const key = Buffer.from(tx.buffer, tx.byteOffset, tx.byteLength).toString('base64')
    if (this.#queued.has(key)) return new Promise<number>((resolve, reject) => this.#waiting.push({ resolve, reject }))
    if (this.#txs.length > 0 && this.#bytes + tx.length > this.#maxBytes) this.flush()
    const p = new Promise<number>((resolve, reject) => this.#waiting.push({ resolve, reject }))
    this.#txs.push(tx)
    this.#queued.add(key)
    this.#bytes += tx.length
    if (this.#bytes >= this.#maxBytes || this.#txs.length >= MAX_BATCH_TXS) this.flush()
    else this.#timer ??= setTimeout(() => this.flush(), this.#delayMs)
    return p
  }

  /** Sends what is queued now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#txs.length === 0) return
    const waiting = this.#waiting
    const data = encodeTxBatch(this.#txs)
    this.#txs = []
    this.#queued.clear()
    this.#bytes = 0
    this.#waiting = []
    this.#publish(data).then(
      (n) => waiting.forEach((w) => w.resolve(n)),
      (err: unknown) => waiting.forEach((w) => w.reject(err)),
    )
  }

  /** Fails what is queued (p2p is stopping). */
  close(err: unknown): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const waiting = this.#waiting
    this.#txs = []
    this.#queued.clear()
    this.#bytes = 0
    this.#waiting = []
    for (const w of waiting) w.reject(err)
  }
}
