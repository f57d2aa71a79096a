import { CodedError } from '../../common/errors.ts'

/** Why the pool refused a transaction; messages match geth's where geth has one. */
export const MempoolErrorCode = {
  MALFORMED: 'MALFORMED',
  WRONG_CHAIN_ID: 'WRONG_CHAIN_ID',
  UNPROTECTED: 'UNPROTECTED',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  NONCE_TOO_LOW: 'NONCE_TOO_LOW',
  NONCE_GAP_TOO_FAR: 'NONCE_GAP_TOO_FAR',
  INSUFFICIENT_FUNDS: 'INSUFFICIENT_FUNDS',
  UNDERPRICED: 'UNDERPRICED',
  TIP_ABOVE_FEE_CAP: 'TIP_ABOVE_FEE_CAP',
  REPLACEMENT_UNDERPRICED: 'REPLACEMENT_UNDERPRICED',
  OVERSIZED: 'OVERSIZED',
  GAS_LIMIT_EXCEEDED: 'GAS_LIMIT_EXCEEDED',
  INTRINSIC_GAS: 'INTRINSIC_GAS',
  ALREADY_KNOWN: 'ALREADY_KNOWN',
  POOL_FULL: 'POOL_FULL',
  SENDER_LIMIT: 'SENDER_LIMIT',
  RECOVERY_FAILED: 'RECOVERY_FAILED',
} as const
export type MempoolErrorCode = (typeof MempoolErrorCode)[keyof typeof MempoolErrorCode]

export class MempoolError extends CodedError<MempoolErrorCode> {}
