import { EventEmitter } from 'node:events'
import type { Common } from '@ethereumjs/common'
import type { TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, toChecksumAddress } from '@ethereumjs/util'
import { keccak256 } from '../../common/keccak.ts'
import { createLogger } from '../../common/logger.ts'
import { commonFork, createDecodeCommon, isChainFork } from '../../evm/index.ts'
import { checkStateless, decodeRaw, fees, reject, txFromFields } from './admission.ts'
import type { Entry, SenderTxs } from './entries.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { PriceAndNonceIterator, type SenderLog } from './iterator.ts'
import { defaultMempoolOptions, type MempoolOptions } from './options.ts'
import type {
  AccountState,
  AddedTx,
  HeadContext,
  IntakeContext,
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

/** How many removed transactions' sender keys the pool remembers (~6 MB). */
const RECENT_KEYS = 65_536
/** State reads of one admission that a new head may overtake before it gives up (the node imports blocks faster than it reads). */
const MAX_ACCOUNT_READS = 8

const checksum = (a: Address): string => toChecksumAddress(a.toString())

/**
 * Transactions waiting for a block. Per sender, transactions are kept by nonce: those with
 * contiguous nonces from the account nonce are executable ("pending"), later ones wait
 * ("queued") until the gap fills, as in geth, because clients send from several connections
 * at once and nonces arrive out of order. Each sender is recovered once, off the main thread,
 * and the block builder reuses it.
 */
class TxPool extends EventEmitter<MempoolEvents> implements Mempool, SenderLog {
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
  /** The next block's base fee (admission refuses a fee cap no base fee will ever meet). */
  private baseFee: bigint | undefined
  private seq = 0
  /** What the recovery workers check a raw transaction against; replaced (not changed) on a new head. */
  private intake: IntakeContext
  /**
   * Raw transactions are admitted in the recovery workers, which rebuild the chain's Common from
   * its id and fork: so only for a chain's Common (evm's createChainCommon), whose fork that names.
   */
  private readonly inWorker: boolean
  /**
   * Senders that gained an executable transaction (arrival, gap filled, replacement), in
   * order. Live pending() iterators read it from where they last were, so picking up
   * arrivals costs them O(arrivals), not a pass over the pool.
   */
  private readonly fresh: SenderTxs[] = []
  /** Number of entries dropped from the front of `fresh`. */
  private freshBase = 0
  /**
   * Bumped whenever the head changes: an account read that a new head overtook may predate the
   * block that spent a nonce, so admission reads again (else a transaction whose nonce that block
   * spent could enter as pending after the block already settled its sender, and stay forever).
   */
  private headGen = 0
  /** The iterator feeding the block under construction (the latest pending() call), and what it handed out. */
  private builder: PriceAndNonceIterator | undefined
  private readonly sealing = new Set<Entry>()

  constructor(opts: Partial<MempoolOptions>, modules: MempoolModules) {
    super()
    this.opts = { ...defaultMempoolOptions, ...opts }
    this.common = modules.common
    this.txCommon = createDecodeCommon(modules.common)
    this.recovery = modules.recovery
    this.getAccount = modules.getAccount
    this.intake = this.intakeContext()
    this.inWorker = modules.recovery.admit !== undefined && isChainFork(modules.common.hardfork())
  }

  private intakeContext(): IntakeContext {
    const { minGasPrice, allowUnprotected } = this.opts
    return { chainId: this.common.chainId(), fork: commonFork(this.common), allowUnprotected, minGasPrice, blockGasLimit: this.blockGasLimit, baseFee: this.baseFee }
  }

  head(ctx: HeadContext): void {
    const shrunk = this.blockGasLimit !== undefined && ctx.gasLimit < this.blockGasLimit
    this.blockGasLimit = ctx.gasLimit
    this.baseFee = ctx.baseFee
    this.intake = this.intakeContext()
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
    const { tx, sender, account } = this.inWorker ? await this.admitInWorker(raw) : await this.admitHere(raw)
    return this.insert(tx, sender, account)
  }

  /**
   * Decoding, the stateless checks and recovery in a recovery worker; here only the hash (for
   * "already known") and the transaction built from the worker's fields. A transaction's bytes
   * that are in the pool decode, so "already known" before decoding answers as geth does after.
   */
  private async admitInWorker(raw: Uint8Array): Promise<{ tx: TypedTransaction; sender: Address; account: AccountState }> {
    const hash = keccak256(raw)
    const key = bytesToHex(hash)
    if (this.byHash.has(key) || this.arriving.has(key)) reject(MempoolErrorCode.ALREADY_KNOWN, 'already known')
    this.arriving.add(key)
    try {
      const r = await this.recovery.admit!({ raw, ctx: this.intake, pubkey: this.recentKeys.get(key) })
      if (!r.ok) throw new MempoolError(r.code, r.message, r.context)
      const tx = txFromFields(r, raw, this.txCommon, hash)
      tx.cache.senderPubKey = r.pubkey
      // The address from the recovered key with the node's WebAssembly keccak: ethereumjs's
      // getSenderAddress hashes it in JavaScript (~9 µs against ~3 µs per transaction).
      const sender = new Address(keccak256(r.pubkey).subarray(12))
      return { tx, sender, account: await this.accountAtHead(sender) }
    } finally {
      this.arriving.delete(key)
    }
  }

  /** The same admission on this thread, for a recovery that only recovers. */
  private async admitHere(raw: Uint8Array): Promise<{ tx: TypedTransaction; sender: Address; account: AccountState }> {
    const tx = decodeRaw(raw, { common: this.common, txCommon: this.txCommon, allowUnprotected: this.opts.allowUnprotected })
    const hash = tx.hash()
    const key = bytesToHex(hash)
    if (this.byHash.has(key) || this.arriving.has(key)) reject(MempoolErrorCode.ALREADY_KNOWN, 'already known')
    checkStateless(tx, { blockGasLimit: this.blockGasLimit, minGasPrice: this.opts.minGasPrice, baseFee: this.baseFee })

    const recentKey = this.recentKeys.get(key)
    if (recentKey !== undefined) tx.cache.senderPubKey = recentKey
    this.arriving.add(key)
    try {
      try {
        await this.recovery.recover(tx)
      } catch (err) {
        if (err instanceof MempoolError && err.code === MempoolErrorCode.RECOVERY_FAILED) throw err
        reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
      }
      const sender = tx.getSenderAddress() // from the cached public key: no second recovery
      return { tx, sender, account: await this.accountAtHead(sender) }
    } finally {
      this.arriving.delete(key)
    }
  }

  /** The pool's own checks against the sender's account and the pool, then the insertion. */
  private insert(tx: TypedTransaction, sender: Address, account: AccountState): AddedTx {
    const hash = tx.hash()
    const key = bytesToHex(hash)
    const { feeCap, tipCap } = fees(tx)
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
    if (old !== undefined && this.sealing.has(old)) {
      // geth accepts it, then drops it when the block lands: meanwhile it reads as pending though
      // it can never mine, and the original (which will) reads as unknown. Say so now instead.
      reject(
        MempoolErrorCode.NONCE_TOO_LOW,
        `nonce too low: address ${checksum(sender)}, tx: ${nonce}: nonce ${nonce} is being sealed into the next block by ${bytesToHex(old.hash)}, which will mine; watch its receipt (if that block lands without it, resubmit)`,
        { sealing: bytesToHex(old.hash) },
      )
    }
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

  /** The sender's account at the head as the pool knows it: read again when a new head overtook the read. */
  private async accountAtHead(address: Address): Promise<AccountState> {
    for (let reads = 1; ; reads++) {
      const gen = this.headGen
      const account = await this.getAccount(address)
      if (gen === this.headGen) return account
      if (reads === MAX_ACCOUNT_READS) {
        reject(MempoolErrorCode.RECOVERY_FAILED, `the chain head moved during each of ${reads} reads of ${checksum(address)}'s account (the node is importing blocks fast); resubmitting is safe`)
      }
    }
  }

  handedOut(it: PriceAndNonceIterator, entry: Entry): void {
    if (it === this.builder) this.sealing.add(entry)
  }

  notTaken(it: PriceAndNonceIterator, entry: Entry): void {
    if (it === this.builder) this.sealing.delete(entry)
  }

  released(it: PriceAndNonceIterator): void {
    if (it !== this.builder) return
    this.builder = undefined
    this.sealing.clear()
  }

  /** A new head: the block under construction landed, or can no longer (it was built on the old head). */
  private headMoved(): void {
    this.headGen++
    this.sealing.clear()
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

  private noteFresh(q: SenderTxs): void {
    this.fresh.push(q)
    if (this.fresh.length > this.opts.freshLog) {
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
    this.headMoved()
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
    this.headMoved()
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
    this.sealing.clear()
    const it = new PriceAndNonceIterator(this, baseFee)
    this.builder = it
    return it
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

export function createMempool(opts: Partial<MempoolOptions>, modules: MempoolModules): Mempool {
  return new TxPool(opts, modules)
}
