import type { MempoolErrorCode } from './errors.ts'
import type { IntakeItem, IntakeResult } from './intake.ts'
import type { Common } from '@ethereumjs/common'
import type { TypedTransaction } from '@ethereumjs/tx'
import type { Address } from '@ethereumjs/util'

export interface AccountState {
  nonce: bigint
  balance: bigint
}

/** Recovers transaction senders, once each, and stores the public key in the transaction's cache. */
export interface SenderRecovery {
  /** The sender's 64-byte public key (uncompressed, no 0x04 prefix); rejects with a MempoolError. */
  recover(tx: TypedTransaction): Promise<Uint8Array>
  /** Public keys in input order. Every recoverable transaction gets its cache filled even when
   * another one fails; the promise then rejects with the first failure (context.index). */
  recoverMany(txs: readonly TypedTransaction[]): Promise<Uint8Array[]>
  /**
   * Decodes a raw transaction, runs the checks that need no state and recovers its sender, off
   * the calling thread (intake.ts). Resolves with the fields and key, or with the refusal;
   * rejects (RECOVERY_FAILED) only when no answer came. Without it the pool does that work itself.
   */
  admit?(item: IntakeItem): Promise<IntakeResult>
  /**
   * Resolves once every worker has loaded its modules. Nothing needs to wait for it (until then
   * the calling thread does the work); tests use it to know which thread answers.
   */
  ready?(): Promise<void>
  /** Terminates the workers; pending requests reject with RECOVERY_FAILED. */
  close(): Promise<void>
}

export type { IntakeContext, IntakeItem, IntakeResult } from './intake.ts'

export interface MempoolModules {
  common: Common
  recovery: SenderRecovery
  /** The account at the current head. */
  getAccount(address: Address): Promise<AccountState>
}

export interface PoolTx {
  tx: TypedTransaction
  sender: Address
}

export interface AddedTx extends PoolTx {
  hash: Uint8Array
}

export interface IncludedTx {
  hash: Uint8Array
  sender: Address
  nonce: bigint
}

export interface HeadContext {
  /** Base fee of the next block. */
  baseFee: bigint
  gasLimit: bigint
}

/**
 * Executable transactions for one block, best effective tip first, each sender in nonce order.
 * The builder calls `skipSender` when a sender's transaction fails: its later nonces cannot run.
 * The iterator reads the pool live: after it returned done, a later `next()` hands out what
 * became executable since (the producer waits for the pool's 'pending' event, then asks again).
 * No transaction is handed out twice. One iterator at a time feeds a block: a new one replaces the last.
 */
export interface PendingTxs extends IterableIterator<PoolTx> {
  skipSender(sender: Address): void
  /**
   * The block these transactions went into was committed or abandoned. Until then (or the next
   * head, or the next pending() call) what was handed out counts as being sealed: the pool
   * refuses replacements of it, since the block under construction already spent its nonce.
   */
  release(): void
}

export interface MempoolStats {
  /** Executable: contiguous nonces from the account nonce. */
  pending: number
  /** Waiting for a nonce gap to fill. */
  queued: number
}

/** txpool_content shape: checksummed address → decimal nonce → transaction. */
export type TxsBySender = Record<string, Record<string, PoolTx>>

export interface MempoolContent {
  pending: TxsBySender
  queued: TxsBySender
}

export interface MempoolEvents {
  /** A transaction became executable (newPendingTransactions). */
  pending: [hash: Uint8Array]
  /** Every submission's fate (JSON-RPC, gossip, a reorg's returns): 'added' or the refusal's code. */
  submitted: [outcome: 'added' | MempoolErrorCode]
}

export type PendingListener = (hash: Uint8Array) => void

export interface Mempool {
  /** Decodes, validates, recovers the sender of (once) and inserts a raw signed transaction. */
  addRaw(raw: Uint8Array): Promise<AddedTx>
  /** The node calls this whenever the head changes. */
  head(ctx: HeadContext): void
  /** After a block: drops what it included and what it made stale, promotes what it unblocked. */
  onBlockIncluded(txs: readonly IncludedTx[]): Promise<void>
  /**
   * A reorg dropped blocks with these transactions (call after the new head is set, before
   * re-adding them): senders' bases move back down to the new head's account nonces.
   */
  onBlocksRemoved(txs: readonly IncludedTx[]): Promise<void>
  pending(baseFee: bigint): PendingTxs
  get(hash: Uint8Array): PoolTx | undefined
  /** The sender's public key of a transaction in the pool or recently removed from it (e.g. included). */
  senderKey(hash: Uint8Array): Uint8Array | undefined
  /** Account nonce plus the sender's executable run (eth_getTransactionCount "pending"). */
  pendingNonce(address: Address): Promise<bigint>
  content(): MempoolContent
  stats(): MempoolStats
  on<E extends keyof MempoolEvents>(event: E, listener: (...args: MempoolEvents[E]) => void): this
  once<E extends keyof MempoolEvents>(event: E, listener: (...args: MempoolEvents[E]) => void): this
  off<E extends keyof MempoolEvents>(event: E, listener: (...args: MempoolEvents[E]) => void): this
}
