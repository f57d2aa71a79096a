import type { Address } from '@ethereumjs/util'
import { effectiveTip, type Entry, type SenderTxs } from './entries.ts'
import type { PendingTxs, PoolTx } from './types.ts'

/** What the iterator reads of the pool: its senders, and the log of senders with new executable transactions. */
export interface SenderLog {
  /** Log position after the last entry. */
  readonly freshEnd: number
  /** Senders that gained executable transactions since log position `from`; undefined when the log no longer reaches back that far. */
  freshSince(from: number): { senders: readonly SenderTxs[]; start: number; end: number } | undefined
  allSenders(): IterableIterator<SenderTxs>
  /** `it` handed `entry` to the block under construction. */
  handedOut(it: PriceAndNonceIterator, entry: Entry): void
  /** `entry`, handed out by `it`, will not be in its block after all (the builder skipped its sender). */
  notTaken(it: PriceAndNonceIterator, entry: Entry): void
  /** The block `it` fed was committed or abandoned. */
  released(it: PriceAndNonceIterator): void
}

interface Cursor {
  q: SenderTxs
  entry: Entry
  tip: bigint
}

/**
 * geth's TransactionsByPriceAndNonce: a max-heap holding each sender's next executable
 * transaction, by effective tip then arrival. Taking a sender's transaction puts its next nonce
 * in its place. A sender whose next transaction cannot pay the base fee is left out.
 *
 * Live: it reads the pool as it goes, so one iterator serves a whole block while transactions
 * keep arriving. A replacement of a transaction not yet handed out is offered instead of it;
 * a sender that ran out, or a new sender, is taken up again (from the pool's log of senders
 * with new executable transactions) as soon as it has its next nonce, also after the iterator
 * returned done. Each sender's nonces are handed out once each, in order, never past a gap.
 */
export class PriceAndNonceIterator implements PendingTxs {
  private readonly pool: SenderLog
  private readonly heap: Cursor[] = []
  private readonly baseFee: bigint
  private readonly skipped = new Set<string>()
  /** Senders with a cursor in the heap (by object: the pool replaces a sender's queue once it empties). */
  private readonly inHeap = new Set<SenderTxs>()
  /** Next nonce to hand out, per sender that has had one handed out. */
  private readonly nextNonce = new Map<string, bigint>()
  /** Position in the pool's log of senders with new executable transactions. */
  private logPos: number
  /** The cursor last handed out; advanced on the next call, unless its sender was skipped. */
  private last: Cursor | undefined
  /** Per sender, the entry last handed out: the one a skipSender call is about. */
  private readonly lastOf = new Map<string, Entry>()

  constructor(pool: SenderLog, baseFee: bigint) {
    this.pool = pool
    this.baseFee = baseFee
    this.logPos = pool.freshEnd
    for (const q of pool.allSenders()) this.admit(q, false)
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i)
  }

  [Symbol.iterator](): this {
    return this
  }

  skipSender(sender: Address): void {
    const key = sender.toString()
    this.skipped.add(key)
    // The builder skips a sender when its transaction failed or did not fit: not in this block.
    const e = this.lastOf.get(key)
    if (e !== undefined) this.pool.notTaken(this, e)
  }

  release(): void {
    this.pool.released(this)
  }

  next(): IteratorResult<PoolTx> {
    if (this.last !== undefined) {
      const { q, entry } = this.last
      this.last = undefined
      const following = q.byNonce.get(entry.nonce + 1n)
      if (following !== undefined && following.feeCap >= this.baseFee && !this.skipped.has(q.key)) {
        this.heap[0] = { q, entry: following, tip: effectiveTip(following, this.baseFee) }
        this.down(0)
      } else {
        this.pop()
      }
    }
    this.catchUp()
    for (;;) {
      const top = this.heap[0]
      if (top === undefined) return { done: true, value: undefined }
      const current = top.q.byNonce.get(top.entry.nonce)
      if (this.skipped.has(top.q.key) || current === undefined || current.feeCap < this.baseFee) {
        this.pop() // skipped by the builder, removed, or replaced by one that cannot pay
        continue
      }
      if (current !== top.entry) {
        // Replaced (higher fees) while a block is being built: offer the replacement instead.
        this.heap[0] = { q: top.q, entry: current, tip: effectiveTip(current, this.baseFee) }
        this.down(0)
        continue
      }
      this.last = top
      this.nextNonce.set(top.q.key, top.entry.nonce + 1n)
      this.lastOf.set(top.q.key, top.entry)
      this.pool.handedOut(this, top.entry)
      return { done: false, value: { tx: top.entry.tx, sender: top.entry.sender } }
    }
  }

  /** Takes up senders that gained executable transactions since the last call. */
  private catchUp(): void {
    const end = this.pool.freshEnd
    if (this.logPos === end) return
    const log = this.pool.freshSince(this.logPos)
    if (log === undefined) {
      for (const q of this.pool.allSenders()) this.admit(q, true) // fell behind the log: rescan
    } else {
      for (let i = log.start; i < log.senders.length; i++) this.admit(log.senders[i]!, true)
    }
    this.logPos = end
  }

  /** Puts a sender's next transaction in the heap, unless it is there already, skipped, or has none. */
  private admit(q: SenderTxs, sift: boolean): void {
    if (this.inHeap.has(q) || this.skipped.has(q.key)) return
    const nonce = this.nextNonce.get(q.key) ?? q.base
    const e = q.byNonce.get(nonce < q.base ? q.base : nonce)
    if (e === undefined || e.feeCap < this.baseFee) return
    this.inHeap.add(q)
    this.heap.push({ q, entry: e, tip: effectiveTip(e, this.baseFee) })
    if (sift) this.up(this.heap.length - 1)
  }

  private better(a: Cursor, b: Cursor): boolean {
    return a.tip > b.tip || (a.tip === b.tip && a.entry.seq < b.entry.seq)
  }

  private pop(): void {
    const top = this.heap[0]
    if (top !== undefined) this.inHeap.delete(top.q)
    const last = this.heap.pop()
    if (this.heap.length > 0 && last !== undefined) {
      this.heap[0] = last
      this.down(0)
    }
  }

  private up(i: number): void {
    const a = this.heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.better(a[i]!, a[parent]!)) return
      ;[a[i], a[parent]] = [a[parent]!, a[i]!]
      i = parent
    }
  }

  private down(i: number): void {
    const a = this.heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let best = i
      if (l < a.length && this.better(a[l]!, a[best]!)) best = l
      if (r < a.length && this.better(a[r]!, a[best]!)) best = r
      if (best === i) return
      ;[a[i], a[best]] = [a[best]!, a[i]!]
      i = best
    }
  }
}
