import { EventEmitter } from 'node:events'
import type { Common } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { Capability, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { type Address, bytesToBigInt, bytesToHex, toChecksumAddress } from '@ethereumjs/util'
import { keccak256 } from '../../common/keccak.ts'
import { createLogger } from '../../common/logger.ts'
import { SECP256K1_HALF_N } from '../../common/secp256k1.ts'
import { createDecodeCommon } from '../../evm/index.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { defaultMempoolOptions, type MempoolOptions } from './options.ts'
import type {
  AccountState,
  AddedTx,
  HeadContext,
  IncludedTx,
  Mempool,
  MempoolContent,
  MempoolEvents,
  MempoolModules,
  MempoolStats,
  PendingTxs,
  PoolTx,
  SenderRecovery,
  TxsBySender,
} from './types.ts'

const log = createLogger('mempool')

/** EIP-3860: 2 * the EIP-170 code size limit (the Common used here carries no tx params). */
const MAX_INITCODE_SIZE = 49_152
/** How many removed transactions' sender keys the pool remembers (~6 MB). */
const RECENT_KEYS = 65_536
/** RLP field counts of signed legacy, EIP-2930 and EIP-1559 transactions. */
const FIELDS: Record<number, number> = { 0: 9, 1: 11, 2: 12 }

interface Entry extends PoolTx {
  hash: Uint8Array
  key: string
  nonce: bigint
  feeCap: bigint
  tipCap: bigint
  /** gasLimit * feeCap + value: what the sender must hold (geth's cost check). */
  cost: bigint
  /** Arrival order: ties in tip go to the earlier transaction, as in geth. */
  seq: number
}

interface SenderTxs {
  address: Address
  /** address.toString(), computed once. */
  key: string
  /** Account nonce at the head, as last read: the first executable nonce. */
  base: bigint
  byNonce: Map<bigint, Entry>
  /**
   * Every nonce from base (or from here, if base is higher) up to this one is in byNonce: where
   * executableEnd resumes its walk, so that it does not re-walk a long run on every insert.
   */
  known: bigint
}

function reject(code: MempoolErrorCode, message: string, context?: Record<string, unknown>): never {
  throw new MempoolError(code, message, context)
}

function fees(tx: TypedTransaction): { feeCap: bigint; tipCap: bigint } {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    return { feeCap: t.maxFeePerGas, tipCap: t.maxPriorityFeePerGas }
  }
  const price = (tx as TypedTransaction & { gasPrice: bigint }).gasPrice
  return { feeCap: price, tipCap: price }
}

/** What the block producer earns per gas: min(tip, feeCap - baseFee); legacy: gasPrice - baseFee. */
function effectiveTip(e: Entry, baseFee: bigint): bigint {
  const room = e.feeCap - baseFee
  return room < e.tipCap ? room : e.tipCap
}

/** ethereumjs appends "(tx type=… hash=… …)" to its messages; the client already has that. */
function detail(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\(tx type=.*$/s, '').replace(/^invalid transaction:\s*/, '')
}

const checksum = (a: Address): string => toChecksumAddress(a.toString())

/**
 * Transactions waiting for a block. Per sender, transactions are kept by nonce: those with
 * contiguous nonces from the account nonce are executable ("pending"), later ones wait
 * ("queued") until the gap fills, as in geth, because clients send from several connections
 * at once and nonces arrive out of order. Each sender is recovered once, off the main thread,
 * and the block builder reuses it.
 */
class TxPool extends EventEmitter<MempoolEvents> implements Mempool {
  private readonly opts: MempoolOptions
  private readonly common: Common
  private readonly txCommon: Common
  private readonly recovery: SenderRecovery
  private readonly getAccount: (address: Address) => Promise<AccountState>
  private readonly byHash = new Map<string, Entry>()
  /**
   * Public keys of transactions that left the pool (mostly: included in a block), by hash. The
   * hash covers the signature, so the same hash is the same sender: a competing block or a
   * reorg's re-added transactions then cost no second recovery (a fork of a 300-transaction
   * block otherwise costs 300 recoveries on every node that saw the other branch).
   */
  private readonly recentKeys = new Map<string, Uint8Array>()
  private readonly senders = new Map<string, SenderTxs>()
  /** Hashes between decoding and insertion, so a duplicate is not recovered twice. */
  private readonly arriving = new Set<string>()
  private blockGasLimit: bigint | undefined
  private seq = 0
  /**
   * Senders that gained an executable transaction (arrival, gap filled, replacement), in
   * order. Live pending() iterators read it from where they last were, so picking up
   * arrivals costs them O(arrivals), not a pass over the pool.
   */
  private readonly fresh: SenderTxs[] = []
  /** Number of entries dropped from the front of `fresh`. */
  private freshBase = 0

  constructor(opts: Partial<MempoolOptions>, modules: MempoolModules) {
    super()
    this.opts = { ...defaultMempoolOptions, ...opts }
    this.common = modules.common
    this.txCommon = createDecodeCommon(modules.common)
    this.recovery = modules.recovery
    this.getAccount = modules.getAccount
  }

  head(ctx: HeadContext): void {
    const shrunk = this.blockGasLimit !== undefined && ctx.gasLimit < this.blockGasLimit
    this.blockGasLimit = ctx.gasLimit
    // Ordering by effective tip is computed per pending(baseFee) call; only a smaller gas
    // limit changes what the pool holds: transactions that no block can take are dropped
    // (their later nonces fall back to queued).
    if (!shrunk) return
    for (const e of [...this.byHash.values()]) if (e.tx.gasLimit > ctx.gasLimit) this.remove(e)
  }

  async addRaw(raw: Uint8Array): Promise<AddedTx> {
    try {
      const added = await this.insertRaw(raw)
      this.emit('submitted', 'added')
      return added
    } catch (err) {
      this.emit('submitted', err instanceof MempoolError ? err.code : MempoolErrorCode.RECOVERY_FAILED)
      throw err
    }
  }

  private async insertRaw(raw: Uint8Array): Promise<AddedTx> {
    if (raw.length > this.opts.maxTxBytes) {
      reject(MempoolErrorCode.OVERSIZED, `oversized data: transaction size ${raw.length}, limit ${this.opts.maxTxBytes}`)
    }
    const tx = this.decode(raw)
    const hash = tx.hash()
    const key = bytesToHex(hash)
    if (this.byHash.has(key) || this.arriving.has(key)) reject(MempoolErrorCode.ALREADY_KNOWN, 'already known')
    this.checkStateless(tx)
    const { feeCap, tipCap } = fees(tx)

    const recentKey = this.recentKeys.get(key)
    if (recentKey !== undefined) tx.cache.senderPubKey = recentKey
    this.arriving.add(key)
    let sender: Address
    let account: AccountState
    try {
      try {
        await this.recovery.recover(tx)
      } catch (err) {
        if (err instanceof MempoolError && err.code === MempoolErrorCode.RECOVERY_FAILED) throw err
        reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
      }
      sender = tx.getSenderAddress() // from the cached public key: no second recovery
      account = await this.getAccount(sender)
    } finally {
      this.arriving.delete(key)
    }

    // From here on everything is synchronous, so concurrent submissions cannot interleave.
    const nonce = tx.nonce
    const senderKey = sender.toString()
    const known = this.senders.get(senderKey)
    if (known !== undefined) this.rebase(known, account.nonce)
    // A block seen by onBlockIncluded may be ahead of this state read: trust the higher nonce.
    const existing = this.senders.get(senderKey)
    const state = existing !== undefined && existing.base > account.nonce ? existing.base : account.nonce
    if (nonce < state) {
      reject(MempoolErrorCode.NONCE_TOO_LOW, `nonce too low: address ${checksum(sender)}, tx: ${nonce} state: ${state}`)
    }
    const cost = tx.gasLimit * feeCap + tx.value
    if (account.balance < cost) {
      reject(MempoolErrorCode.INSUFFICIENT_FUNDS, `insufficient funds for gas * price + value: address ${checksum(sender)} have ${account.balance} want ${cost}`)
    }
    const q: SenderTxs = existing ?? { address: sender, key: senderKey, base: state, byNonce: new Map(), known: state }
    const end = this.executableEnd(q)
    if (nonce > end && nonce - state > BigInt(this.opts.maxQueuedPerSender)) {
      reject(
        MempoolErrorCode.NONCE_GAP_TOO_FAR,
        `nonce too high: address ${checksum(sender)}, tx: ${nonce} state: ${state}; the pool queues at most ${this.opts.maxQueuedPerSender} nonces ahead of the account, send the missing nonces first`,
      )
    }
    const old = q.byNonce.get(nonce)
    if (old !== undefined) {
      // geth: both caps strictly higher, and at least priceBump percent higher.
      const bump = BigInt(100 + this.opts.priceBump)
      if (feeCap <= old.feeCap || tipCap <= old.tipCap || feeCap < (old.feeCap * bump) / 100n || tipCap < (old.tipCap * bump) / 100n) {
        reject(MempoolErrorCode.REPLACEMENT_UNDERPRICED, 'replacement transaction underpriced', { feeCap: old.feeCap, tipCap: old.tipCap, priceBump: this.opts.priceBump })
      }
    } else {
      if (q.byNonce.size >= this.opts.maxPerSender) {
        reject(MempoolErrorCode.SENDER_LIMIT, `account limit exceeded: address ${checksum(sender)} has ${q.byNonce.size} transactions in the pool, limit ${this.opts.maxPerSender}; wait for some to be included`)
      }
      if (this.byHash.size >= this.opts.maxTotal) {
        reject(MempoolErrorCode.POOL_FULL, `txpool is full: ${this.byHash.size} transactions, limit ${this.opts.maxTotal}; retry after the next block`)
      }
    }

    const entry: Entry = { tx, sender, hash, key, nonce, feeCap, tipCap, cost, seq: this.seq++ }
    if (old !== undefined) this.byHash.delete(old.key)
    if (existing === undefined) this.senders.set(senderKey, q)
    q.byNonce.set(nonce, entry)
    this.byHash.set(key, entry)
    if (old !== undefined) {
      if (nonce < end) {
        // Replaced an executable transaction.
        this.noteFresh(q)
        this.emit('pending', hash)
      }
    } else if (nonce === end) {
      this.announce(q, end, this.executableEnd(q))
    }
    log.trace('Accepted transaction', { hash, sender: senderKey, nonce })
    return { tx, sender, hash }
  }

  /** Decodes a raw transaction, classifying failures the way geth reports them. */
  private decode(raw: Uint8Array): TypedTransaction {
    if (raw.length === 0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: empty input')
    const first = raw[0]!
    // EIP-2718: a first byte below 0x80 is a type; a legacy transaction is an RLP list (>= 0xc0).
    if (first >= 0x80 && first < 0xc0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: expected input list for a legacy transaction')
    const type = first >= 0xc0 ? 0 : first
    const count = first >= 0xc0 || first === 1 || first === 2 ? FIELDS[type] : undefined
    if (count === undefined) reject(MempoolErrorCode.MALFORMED, `invalid transaction: transaction type not supported: type ${type}; this chain accepts legacy, EIP-2930 (1) and EIP-1559 (2) transactions`)
    let fields: unknown
    try {
      fields = RLP.decode(type === 0 ? raw : raw.subarray(1))
    } catch (err) {
      reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: ${detail(err)}`)
    }
    if (!Array.isArray(fields) || fields.length !== count) {
      reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: expected ${count} fields for a type ${type} transaction, got ${Array.isArray(fields) ? fields.length : 'a string'}`)
    }
    const f = fields as Array<Uint8Array | unknown[]>
    const int = (i: number): bigint => {
      const v = f[i]
      if (!(v instanceof Uint8Array)) reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: field ${i} must be a byte string`)
      return bytesToBigInt(v)
    }
    const want = this.common.chainId()
    if (type === 0) {
      const v = int(6)
      if (v === 27n || v === 28n) {
        if (!this.opts.allowUnprotected) reject(MempoolErrorCode.WRONG_CHAIN_ID, 'only replay-protected (EIP-155) transactions allowed over RPC')
      } else if (v >= 35n) {
        const have = (v - 35n) / 2n
        if (have !== want) reject(MempoolErrorCode.WRONG_CHAIN_ID, `invalid chain id for signer: have ${have} want ${want}`)
      } else {
        reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
      }
    } else {
      // ethereumjs takes a chain id with leading zeros (its other integers it refuses): the hash
      // below is of the bytes as they came, so they must be the canonical encoding (geth: rlp).
      if (f[0] instanceof Uint8Array && f[0][0] === 0) reject(MempoolErrorCode.MALFORMED, 'invalid transaction: rlp: non-canonical integer (leading zero bytes) for chain id')
      const have = int(0)
      if (have !== want) reject(MempoolErrorCode.WRONG_CHAIN_ID, `invalid chain id for signer: have ${have} want ${want}`)
      if (int(count - 3) > 1n) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
      if (type === 2 && int(2) > int(3)) reject(MempoolErrorCode.UNDERPRICED, 'max priority fee per gas higher than max fee per gas')
    }
    if (int(count - 1) > SECP256K1_HALF_N) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
    // EIP-3860 initcode limit, checked here because ethereumjs refuses to construct such a tx.
    const toField = f[type === 0 ? 3 : type === 1 ? 4 : 5]
    const data = f[type === 0 ? 5 : type === 1 ? 6 : 7]
    if (toField instanceof Uint8Array && toField.length === 0 && data instanceof Uint8Array && this.common.isActivatedEIP(3860)) {
      const limit = MAX_INITCODE_SIZE
      if (data.length > limit) reject(MempoolErrorCode.OVERSIZED, `max initcode size exceeded: code size ${data.length}, limit ${limit}`)
    }
    let tx: TypedTransaction
    try {
      tx = createTxFromRLP(raw, { common: this.txCommon })
    } catch (err) {
      reject(MempoolErrorCode.MALFORMED, `invalid transaction: rlp: ${detail(err)}`)
    }
    // ethereumjs reads an empty r, s or v as "no signature".
    if (!tx.isSigned()) reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
    // The hash is keccak of the encoding, and only canonical encodings get here (minimal RLP, no
    // leading zeros: ethereumjs's checks and the chain id's above), which re-serialize to \`raw\`
    // itself: hash it as it came instead of re-encoding. The frozen transaction caches it.
    tx.cache.hash = keccak256(raw)
    return tx
  }

  /** Checks that need no state, in geth's order, before the (costly) sender recovery. */
  private checkStateless(tx: TypedTransaction): void {
    if (this.blockGasLimit !== undefined && tx.gasLimit > this.blockGasLimit) {
      reject(MempoolErrorCode.GAS_LIMIT_EXCEEDED, 'exceeds block gas limit', { gas: tx.gasLimit, blockGasLimit: this.blockGasLimit })
    }
    const { tipCap } = fees(tx)
    if (tipCap < this.opts.minGasPrice) {
      reject(MempoolErrorCode.UNDERPRICED, `transaction underpriced: gas tip cap ${tipCap}, minimum needed ${this.opts.minGasPrice}`)
    }
    const intrinsic = tx.getIntrinsicGas()
    if (tx.gasLimit < intrinsic) reject(MempoolErrorCode.INTRINSIC_GAS, `intrinsic gas too low: gas ${tx.gasLimit}, minimum needed ${intrinsic}`)
  }

  /** First nonce that is not executable: the end of the contiguous run from the base. */
  private executableEnd(q: SenderTxs): bigint {
    let n = q.known > q.base ? q.known : q.base
    while (q.byNonce.has(n)) n++
    q.known = n
    return n
  }

  private announce(q: SenderTxs, from: bigint, to: bigint): void {
    if (to > from) this.noteFresh(q)
    for (let n = from; n < to; n++) this.emit('pending', q.byNonce.get(n)!.hash)
  }

  /** Longest `fresh` log kept; an iterator that falls further behind rescans the pool. */
  private static readonly FRESH_LOG = 4096

  private noteFresh(q: SenderTxs): void {
    this.fresh.push(q)
    if (this.fresh.length > TxPool.FRESH_LOG) {
      const drop = this.fresh.length >> 1
      this.fresh.splice(0, drop)
      this.freshBase += drop
    }
  }

  /** Senders that gained executable transactions since log position `from`; undefined when the log no longer reaches back that far. */
  freshSince(from: number): { senders: readonly SenderTxs[]; start: number; end: number } | undefined {
    if (from < this.freshBase) return undefined
    return { senders: this.fresh, start: from - this.freshBase, end: this.freshBase + this.fresh.length }
  }

  get freshEnd(): number {
    return this.freshBase + this.fresh.length
  }

  allSenders(): IterableIterator<SenderTxs> {
    return this.senders.values()
  }

  private remove(e: Entry): void {
    this.byHash.delete(e.key)
    const pub = e.tx.cache.senderPubKey
    if (pub !== undefined) {
      this.recentKeys.set(e.key, pub)
      if (this.recentKeys.size > RECENT_KEYS) this.recentKeys.delete(this.recentKeys.keys().next().value as string)
    }
    const key = e.sender.toString()
    const q = this.senders.get(key)
    if (q === undefined || q.byNonce.get(e.nonce) !== e) return
    q.byNonce.delete(e.nonce)
    if (e.nonce < q.known) q.known = e.nonce // the run is cut here
    if (q.byNonce.size === 0) this.senders.delete(key)
  }

  /**
   * Moves a sender's base up to a newer account nonce: drops what that made stale and announces
   * queued transactions that became executable (the nonce jumped over their gap).
   */
  private rebase(q: SenderTxs, nonce: bigint, before = this.executableEnd(q)): void {
    if (nonce <= q.base) return
    for (const e of [...q.byNonce.values()]) if (e.nonce < nonce) this.remove(e)
    q.base = nonce
    if (q.byNonce.size > 0) this.announce(q, before > nonce ? before : nonce, this.executableEnd(q))
  }

  async onBlocksRemoved(txs: readonly IncludedTx[]): Promise<void> {
    const senders = new Map<string, Address>()
    for (const t of txs) senders.set(t.sender.toString(), t.sender)
    const list = [...senders]
    const accounts = await Promise.all(list.map(([, a]) => this.getAccount(a)))
    for (const [i, [k]] of list.entries()) {
      const q = this.senders.get(k)
      const nonce = accounts[i]!.nonce
      // The dropped branch had moved this sender's base up; the new head says where it really is,
      // so its dropped transactions can come back (rebase only ever moves up).
      if (q !== undefined && nonce < q.base) {
        q.base = nonce
        q.known = nonce
      }
    }
  }

  async onBlockIncluded(txs: readonly IncludedTx[]): Promise<void> {
    const touched = new Map<string, { address: Address; next: bigint }>()
    for (const t of txs) {
      const k = t.sender.toString()
      const seen = touched.get(k)
      if (seen === undefined || t.nonce + 1n > seen.next) touched.set(k, { address: t.sender, next: t.nonce + 1n })
    }
    // The block itself proves each sender's nonce moved: follow it at once, before any state
    // read, so a block built right after this head is not offered what the head just included
    // (on a busy node those reads take a while, and the builder spent its slot on stale ones).
    for (const [k, t] of touched) {
      const q = this.senders.get(k)
      if (q !== undefined) this.rebase(q, t.next)
    }
    // Included transactions are below the new bases and gone by now; this catches any other copy.
    for (const t of txs) {
      const e = this.byHash.get(bytesToHex(t.hash))
      if (e !== undefined) this.remove(e)
    }
    // Then the state: read every touched account, then change the pool in one synchronous step.
    const list = [...touched]
    const accounts = await Promise.all(list.map(([, t]) => this.getAccount(t.address)))
    for (const [i, [k]] of list.entries()) {
      const q = this.senders.get(k)
      if (q === undefined) continue
      const account = accounts[i]!
      const before = this.executableEnd(q) // announced already: not again
      // The sender paid for this block: drop what it can no longer afford (geth does too).
      for (const e of [...q.byNonce.values()]) if (e.cost > account.balance) this.remove(e)
      this.rebase(q, account.nonce, before)
    }
  }

  pending(baseFee: bigint): PendingTxs {
    return new PriceAndNonceIterator(this, baseFee)
  }

  get(hash: Uint8Array): PoolTx | undefined {
    const e = this.byHash.get(bytesToHex(hash))
    return e === undefined ? undefined : { tx: e.tx, sender: e.sender }
  }

  senderKey(hash: Uint8Array): Uint8Array | undefined {
    const key = bytesToHex(hash)
    return this.byHash.get(key)?.tx.cache.senderPubKey ?? this.recentKeys.get(key)
  }

  async pendingNonce(address: Address): Promise<bigint> {
    const account = await this.getAccount(address)
    const q = this.senders.get(address.toString())
    if (q === undefined) return account.nonce
    this.rebase(q, account.nonce)
    return this.senders.has(address.toString()) ? this.executableEnd(q) : account.nonce
  }

  stats(): MempoolStats {
    let pending = 0
    for (const q of this.senders.values()) pending += Number(this.executableEnd(q) - q.base)
    return { pending, queued: this.byHash.size - pending }
  }

  content(): MempoolContent {
    const pending: TxsBySender = {}
    const queued: TxsBySender = {}
    for (const q of this.senders.values()) {
      const end = this.executableEnd(q)
      const addr = checksum(q.address)
      for (const e of [...q.byNonce.values()].sort((a, b) => (a.nonce < b.nonce ? -1 : 1))) {
        const target = e.nonce < end ? pending : queued
        ;(target[addr] ??= {})[e.nonce.toString()] = { tx: e.tx, sender: e.sender }
      }
    }
    return { pending, queued }
  }
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
class PriceAndNonceIterator implements PendingTxs {
  private readonly pool: TxPool
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

  constructor(pool: TxPool, baseFee: bigint) {
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
    this.skipped.add(sender.toString())
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

export function createMempool(opts: Partial<MempoolOptions>, modules: MempoolModules): Mempool {
  return new TxPool(opts, modules)
}
