import { CodedError } from '../../common/errors.ts'

/**
 * Why the pool refused a transaction (or could not recover its sender). The RPC layer sends
 * the message to the client with code -32000, so messages match geth's where geth has one.
 */
export const MempoolErrorCode = {
  /** Undecodable RLP, wrong field count, unsupported transaction type. */
  MALFORMED: 'MALFORMED',
  /** Signed for another chain, or pre-EIP-155 (replayable on any chain). */
  WRONG_CHAIN_ID: 'WRONG_CHAIN_ID',
  /** Bad v/yParity, r or s out of range, high s (EIP-2), or no public key recovers. */
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  NONCE_TOO_LOW: 'NONCE_TOO_LOW',
  /** A future nonce further ahead of the account than the pool queues. */
  NONCE_GAP_TOO_FAR: 'NONCE_GAP_TOO_FAR',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  /** Tip below the pool minimum, or tip above the fee cap. */
  UNDERPRICED: 'UNDERPRICED',
  REPLACEMENT_UNDERPRICED: 'REPLACEMENT_UNDERPRICED',
  /** Encoding above maxTxBytes, or initcode above the EIP-3860 limit. */
  OVERSIZED: 'OVERSIZED',
  GAS_LIMIT_EXCEEDED: 'GAS_LIMIT_EXCEEDED',
  INTRINSIC_GAS: 'INTRINSIC_GAS',
  ALREADY_KNOWN: 'ALREADY_KNOWN',
  POOL_FULL: 'POOL_FULL',
  SENDER_LIMIT: 'SENDER_LIMIT',
  /** A recovery worker died (or the pool was closed) before answering; resubmitting is safe. */
  RECOVERY_FAILED: 'RECOVERY_FAILED',
} as const
export type MempoolErrorCode = (typeof MempoolErrorCode)[keyof typeof MempoolErrorCode]

export class MempoolError extends CodedError<MempoolErrorCode> {}
