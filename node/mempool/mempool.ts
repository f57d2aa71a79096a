import { EventEmitter } from 'node:events'
import type { Common } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { Capability, createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToBigInt, bytesToHex } from '@ethereumjs/util'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { defaultMempoolOptions, type MempoolOptions } from './options.ts'
import type { SenderRecovery } from './sender-recovery.ts'

export interface AccountState {
  nonce: bigint
  balance: bigint
}

export interface MempoolModules {
  common: Common
  recovery: SenderRecovery
  /** Account at the current head. */
  getAccount(address: Address): Promise<AccountState>
}

export interface PoolTx {
  tx: TypedTransaction
  sender: Address
}

interface Entry extends PoolTx {
  hash: string
  nonce: bigint
  feeCap: bigint
  tipCap: bigint
}

interface SenderQueue {
  /** Account nonce at the head, as last read. */
  base: bigint
  byNonce: Map<bigint, Entry>
}

export interface MempoolEvents {
  /** A transaction became executable (its nonce gap is filled). */
  pending: [hash: Uint8Array]
}

const hexOf = (b: Uint8Array) => bytesToHex(b)

function fees(tx: TypedTransaction): { feeCap: bigint; tipCap: bigint } {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    return { feeCap: t.maxFeePerGas, tipCap: t.maxPriorityFeePerGas }
  }
  const p = (tx as TypedTransaction & { gasPrice: bigint }).gasPrice
  return { feeCap: p, tipCap: p }
}

function effectiveTip(e: Entry, baseFee: bigint): bigint {
  const room = e.feeCap - baseFee
  return room < e.tipCap ? room : e.tipCap
}

/** The chain id a raw transaction claims, read from its RLP (for the error message). */
function claimedChainId(raw: Uint8Array): bigint | undefined {
  try {
    if (raw[0]! <= 0x7f) return bytesToBigInt((RLP.decode(raw.subarray(1)) as Uint8Array[])[0]!)
    const v = bytesToBigInt((RLP.decode(raw) as Uint8Array[])[6]!)
    return v >= 35n ? (v - 35n) / 2n : undefined
  } catch {
    return undefined
  }
}

/**
 * Transactions waiting for a block. Per sender, transactions are kept by nonce; those with
 * contiguous nonces from the account nonce are executable ("pending"), later ones wait
 * ("queued") until the gap fills, as in geth: clients send from several connections at once
 * and nonces arrive out of order.
 */
export class Mempool extends EventEmitter<MempoolEvents> {
  private readonly opts: MempoolOptions
  private readonly common: Common
  private readonly recovery: SenderRecovery
  private readonly getAccount: MempoolModules['getAccount']
  private readonly byHash = new Map<string, Entry>()
  private readonly senders = new Map<string, SenderQueue>()
  private blockGasLimit = 30_000_000n
  private baseFee = 0n

  constructor(opts: Partial<MempoolOptions>, modules: MempoolModules) {
    super()
    this.opts = { ...defaultMempoolOptions, ...opts }
    this.common = modules.common
    this.recovery = modules.recovery
    this.getAccount = modules.getAccount
  }

  /** The node calls this whenever the head changes. */
  head(ctx: { baseFee: bigint; gasLimit: bigint }): void {
    this.baseFee = ctx.baseFee
    this.blockGasLimit = ctx.gasLimit
  }

  private reject(code: MempoolErrorCode, message: string): never {
    throw new MempoolError(code, message)
  }

  /** Decodes, validates, recovers the sender of and inserts a raw signed transaction. */
  async addRaw(raw: Uint8Array): Promise<PoolTx & { hash: Uint8Array }> {
    if (raw.length > this.opts.maxTxBytes) this.reject(MempoolErrorCode.OVERSIZED, `oversized data: transaction size ${raw.length}, limit ${this.opts.maxTxBytes}`)
    let tx: TypedTransaction
    try {
      tx = createTxFromRLP(raw, { common: this.common })
    } catch (err) {
      const msg = (err as Error).message
      if (/chain ?id|EIP155/i.test(msg)) {
        this.reject(MempoolErrorCode.WRONG_CHAIN_ID, `invalid chain id for signer: have ${claimedChainId(raw) ?? 'unknown'} want ${this.common.chainId()}`)
      }
      if (/maxFeePerGas cannot be less than maxPriorityFeePerGas/.test(msg)) {
        this.reject(MempoolErrorCode.TIP_ABOVE_FEE_CAP, 'max priority fee per gas higher than max fee per gas')
      }
      this.reject(MempoolErrorCode.MALFORMED, `invalid transaction: ${msg.replace(/\s*\(tx type=.*$/s, '')}`)
    }
    if (!tx.isSigned()) this.reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: transaction is not signed')
    if (tx.type === 0 && !tx.supports(Capability.EIP155ReplayProtection) && !this.opts.allowUnprotected) {
      this.reject(MempoolErrorCode.UNPROTECTED, 'only replay-protected (EIP-155) transactions allowed over RPC')
    }
    const hash = tx.hash()
    const key = hexOf(hash)
    if (this.byHash.has(key)) this.reject(MempoolErrorCode.ALREADY_KNOWN, 'already known')
    const intrinsic = tx.getIntrinsicGas()
    if (tx.gasLimit < intrinsic) this.reject(MempoolErrorCode.INTRINSIC_GAS, `intrinsic gas too low: gas ${tx.gasLimit}, minimum needed ${intrinsic}`)
    if (tx.gasLimit > this.blockGasLimit) this.reject(MempoolErrorCode.GAS_LIMIT_EXCEEDED, `exceeds block gas limit: gas ${tx.gasLimit}, block limit ${this.blockGasLimit}`)
    const { feeCap, tipCap } = fees(tx)
    if (tipCap > feeCap) this.reject(MempoolErrorCode.TIP_ABOVE_FEE_CAP, `max priority fee per gas higher than max fee per gas: tip ${tipCap}, fee cap ${feeCap}`)
    if (tipCap < this.opts.minTip) this.reject(MempoolErrorCode.UNDERPRICED, `transaction underpriced: gas tip cap ${tipCap}, minimum needed ${this.opts.minTip}`)

    try {
      await this.recovery.recover(tx)
    } catch (err) {
      if (err instanceof MempoolError) throw err
      this.reject(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
    }
    const sender = tx.getSenderAddress()
    const senderKey = sender.toString()
    const account = await this.getAccount(sender)
    if (tx.nonce < account.nonce) this.reject(MempoolErrorCode.NONCE_TOO_LOW, `nonce too low: address ${sender.toString()}, tx: ${tx.nonce} state: ${account.nonce}`)
    if (tx.nonce >= account.nonce + BigInt(this.opts.maxQueuedPerSender)) {
      this.reject(MempoolErrorCode.NONCE_GAP_TOO_FAR, `nonce too high: address ${sender.toString()}, tx: ${tx.nonce} state: ${account.nonce}; the pool holds at most ${this.opts.maxQueuedPerSender} nonces ahead of the account`)
    }
    const cost = tx.gasLimit * feeCap + tx.value
    if (account.balance < cost) {
      this.reject(MempoolErrorCode.INSUFFICIENT_FUNDS, `insufficient funds for gas * price + value: address ${sender.toString()} have ${account.balance} want ${cost}`)
    }

    // Everything below is synchronous, so concurrent submissions cannot interleave.
    if (this.byHash.has(key)) this.reject(MempoolErrorCode.ALREADY_KNOWN, 'already known')
    let q = this.senders.get(senderKey)
    if (q === undefined) {
      q = { base: account.nonce, byNonce: new Map() }
      this.senders.set(senderKey, q)
    } else if (account.nonce > q.base) {
      this.dropBelow(q, account.nonce)
    }
    const entry: Entry = { tx, sender, hash: key, nonce: tx.nonce, feeCap, tipCap }
    const old = q.byNonce.get(tx.nonce)
    if (old !== undefined) {
      const bump = BigInt(100 + this.opts.priceBump)
      if (feeCap * 100n < old.feeCap * bump || tipCap * 100n < old.tipCap * bump) {
        this.reject(MempoolErrorCode.REPLACEMENT_UNDERPRICED, 'replacement transaction underpriced')
      }
      this.byHash.delete(old.hash)
    } else {
      if (q.byNonce.size >= this.opts.maxPerSender) this.reject(MempoolErrorCode.SENDER_LIMIT, `account limit exceeded: address ${sender.toString()} has ${q.byNonce.size} transactions in the pool`)
      if (this.byHash.size >= this.opts.maxTotal) this.reject(MempoolErrorCode.POOL_FULL, `txpool is full: ${this.byHash.size} transactions`)
    }
    const wasExecutable = this.executableEnd(q)
    q.byNonce.set(tx.nonce, entry)
    this.byHash.set(key, entry)
    const nowExecutable = this.executableEnd(q)
    for (let n = wasExecutable; n < nowExecutable; n++) this.emit('pending', q.byNonce.get(n)!.tx.hash())
    if (old !== undefined && tx.nonce < wasExecutable) this.emit('pending', hash)
    return { tx, sender, hash }
  }

  /** First nonce that is not executable: the end of the contiguous run from the base. */
  private executableEnd(q: SenderQueue): bigint {
    let n = q.base
    while (q.byNonce.has(n)) n++
    return n
  }

  private dropBelow(q: SenderQueue, nonce: bigint): void {
    for (const [n, e] of q.byNonce) {
      if (n < nonce) {
        q.byNonce.delete(n)
        this.byHash.delete(e.hash)
      }
    }
    q.base = nonce
  }

  /**
   * After a block: drops what it included and what its nonces made stale, re-reads the
   * touched accounts, and announces transactions whose gap the block filled.
   */
  async onBlockIncluded(txs: Array<{ hash: Uint8Array; sender: Address; nonce: bigint }>): Promise<void> {
    const touched = new Map<string, Address>()
    for (const t of txs) {
      const e = this.byHash.get(hexOf(t.hash))
      if (e !== undefined) this.byHash.delete(e.hash)
      touched.set(t.sender.toString(), t.sender)
    }
    await Promise.all(
      [...touched].map(async ([key, addr]) => {
        const q = this.senders.get(key)
        if (q === undefined) return
        const before = this.executableEnd(q)
        const account = await this.getAccount(addr)
        this.dropBelow(q, account.nonce)
        if (q.byNonce.size === 0) {
          this.senders.delete(key)
          return
        }
        const after = this.executableEnd(q)
        for (let n = before > q.base ? before : q.base; n < after; n++) this.emit('pending', q.byNonce.get(n)!.tx.hash())
      }),
    )
  }

  /**
   * Executable transactions for block building: highest effective tip first, each sender's in
   * nonce order (geth's TransactionsByPriceAndNonce). A sender whose next transaction cannot
   * pay the base fee is left out for this block.
   */
  *pending(baseFee: bigint): Generator<PoolTx> {
    const heads: Array<{ q: SenderQueue; nonce: bigint; entry: Entry }> = []
    for (const q of this.senders.values()) {
      const e = q.byNonce.get(q.base)
      if (e !== undefined) heads.push({ q, nonce: q.base, entry: e })
    }
    const better = (a: (typeof heads)[number], b: (typeof heads)[number]) => effectiveTip(a.entry, baseFee) > effectiveTip(b.entry, baseFee)
    const heap = new Heap(heads, better)
    for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
      if (top.entry.feeCap < baseFee) {
        heap.pop()
        continue
      }
      yield { tx: top.entry.tx, sender: top.entry.sender }
      const next = top.q.byNonce.get(top.nonce + 1n)
      if (next === undefined) heap.pop()
      else heap.replaceTop({ q: top.q, nonce: top.nonce + 1n, entry: next })
    }
  }

  get(hash: Uint8Array): PoolTx | undefined {
    const e = this.byHash.get(hexOf(hash))
    return e === undefined ? undefined : { tx: e.tx, sender: e.sender }
  }

  /** Account nonce plus the sender's executable transactions (eth_getTransactionCount "pending"). */
  async pendingNonce(address: Address): Promise<bigint> {
    const q = this.senders.get(address.toString())
    const account = await this.getAccount(address)
    if (q === undefined) return account.nonce
    if (account.nonce > q.base) this.dropBelow(q, account.nonce)
    return this.executableEnd(q)
  }

  stats(): { pending: number; queued: number } {
    let pending = 0
    for (const q of this.senders.values()) pending += Number(this.executableEnd(q) - q.base)
    return { pending, queued: this.byHash.size - pending }
  }

  /** Pending and queued transactions by sender and nonce (txpool_content). */
  content(): { pending: Map<string, PoolTx[]>; queued: Map<string, PoolTx[]> } {
    const pending = new Map<string, PoolTx[]>()
    const queued = new Map<string, PoolTx[]>()
    for (const [sender, q] of this.senders) {
      const end = this.executableEnd(q)
      for (const [n, e] of [...q.byNonce].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const target = n < end ? pending : queued
        target.set(sender, [...(target.get(sender) ?? []), { tx: e.tx, sender: e.sender }])
      }
    }
    return { pending, queued }
  }
}

/** A binary max-heap by `better`. */
class Heap<T> {
  private readonly items: T[]
  private readonly better: (a: T, b: T) => boolean

  constructor(items: T[], better: (a: T, b: T) => boolean) {
    this.items = items
    this.better = better
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i)
  }
  peek(): T | undefined {
    return this.items[0]
  }
  pop(): void {
    const last = this.items.pop()
    if (this.items.length > 0 && last !== undefined) {
      this.items[0] = last
      this.down(0)
    }
  }
  replaceTop(item: T): void {
    this.items[0] = item
    this.down(0)
  }
  private down(i: number): void {
    const a = this.items
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
  return new Mempool(opts, modules)
}

