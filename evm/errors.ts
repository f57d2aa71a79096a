import { CodedError } from '../common/errors.ts'

export const EvmErrorCode = {
  /** A block's transaction failed validation during import (bad nonce, no funds...). */
  INVALID_BLOCK_TX: 'INVALID_BLOCK_TX',
  /** Execution results disagree with the header (state root, receipts, gas, bloom). */
  ROOT_MISMATCH: 'ROOT_MISMATCH',
  /** A state root is not in the database (pruned or never written). */
  MISSING_STATE: 'MISSING_STATE',
  /** eth_estimateGas found no gas amount under the cap at which the call succeeds. */
  GAS_ESTIMATION_FAILED: 'GAS_ESTIMATION_FAILED',
} as const
export type EvmErrorCode = (typeof EvmErrorCode)[keyof typeof EvmErrorCode]

export class EvmError extends CodedError<EvmErrorCode> {}
