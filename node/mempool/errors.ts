import { CodedError, codedErrorGuard } from '../../common/errors.ts'

/**
 * Why the pool refused a transaction (or could not recover its sender). The RPC layer sends
 * the message to the client with code -32000, so messages match geth's where geth has one.
 */
export const MempoolErrorCode = {
  /** Undecodable RLP, wrong field count, unsupported transaction type. */
  MALFORMED: 'MEMPOOL_MALFORMED',
  /** Signed for another chain, or pre-EIP-155 (replayable on any chain). */
  WRONG_CHAIN_ID: 'MEMPOOL_WRONG_CHAIN_ID',
  /** Bad v/yParity, r or s out of range, high s (EIP-2), or no public key recovers. */
  BAD_SIGNATURE: 'MEMPOOL_BAD_SIGNATURE',
  NONCE_TOO_LOW: 'MEMPOOL_NONCE_TOO_LOW',
  /** A future nonce further ahead of the account than the pool queues. */
  NONCE_GAP_TOO_FAR: 'MEMPOOL_NONCE_GAP_TOO_FAR',
  INSUFFICIENT_FUNDS: 'MEMPOOL_INSUFFICIENT_FUNDS',
  /** Tip below the pool minimum, tip above the fee cap, or a fee cap below any base fee the chain can reach (never minable). */
  UNDERPRICED: 'MEMPOOL_UNDERPRICED',
  REPLACEMENT_UNDERPRICED: 'MEMPOOL_REPLACEMENT_UNDERPRICED',
  /** Encoding above maxTxBytes, or initcode above the EIP-3860 limit. */
  OVERSIZED: 'MEMPOOL_OVERSIZED',
  GAS_LIMIT_EXCEEDED: 'MEMPOOL_GAS_LIMIT_EXCEEDED',
  INTRINSIC_GAS: 'MEMPOOL_INTRINSIC_GAS',
  ALREADY_KNOWN: 'MEMPOOL_ALREADY_KNOWN',
  POOL_FULL: 'MEMPOOL_POOL_FULL',
  SENDER_LIMIT: 'MEMPOOL_SENDER_LIMIT',
  /**
   * A recovery worker died (or the pool was closed) before answering, or the head kept moving
   * under the admission's account reads; resubmitting is safe.
   */
  RECOVERY_FAILED: 'MEMPOOL_RECOVERY_FAILED',
} as const
export type MempoolErrorCode = (typeof MempoolErrorCode)[keyof typeof MempoolErrorCode]

export class MempoolError extends CodedError<MempoolErrorCode> {}

/** `err` is a MempoolError (with code `code`, when given). */
export const isMempoolError = codedErrorGuard(MempoolError)
