import type { Address } from '@ethereumjs/util'
import type { PoolTx } from './types.ts'

// The pool's records, shared by the pool (mempool.ts) and its iterator (iterator.ts).

/** A transaction in the pool, with what ordering and admission read from it. */
export interface Entry extends PoolTx {
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

/** One sender's transactions by nonce. */
export interface SenderTxs {
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

/** What the block producer earns per gas: min(tip, feeCap - baseFee); legacy: gasPrice - baseFee. */
export function effectiveTip(e: Entry, baseFee: bigint): bigint {
  const room = e.feeCap - baseFee
  return room < e.tipCap ? room : e.tipCap
}
