import { CodedError, codedErrorGuard } from '../common/errors.ts'

export const EvmErrorCode = {
  /** A block's transaction failed validation during import (bad nonce, no funds...). */
  INVALID_BLOCK_TX: 'EVM_INVALID_BLOCK_TX',
  /** Execution results disagree with the header (state root, receipts, gas, bloom). */
  ROOT_MISMATCH: 'EVM_ROOT_MISMATCH',
  /** A state root is not in the database (pruned or never written). */
  MISSING_STATE: 'EVM_MISSING_STATE',
  /** eth_estimateGas found no gas amount under the cap at which the call succeeds. */
  GAS_ESTIMATION_FAILED: 'EVM_GAS_ESTIMATION_FAILED',
  /** eth_call / eth_estimateGas ran past --rpc.evmtimeout and was stopped (geth's "execution aborted"). */
  EXECUTION_TIMEOUT: 'EVM_EXECUTION_TIMEOUT',
  /** A call worker stopped a call at its time budget (the pool turns this into a timeout or a retry). */
  CALL_INTERRUPTED: 'EVM_CALL_INTERRUPTED',
  /** Every call worker is busy and the wait queue is full. */
  CALL_QUEUE_FULL: 'EVM_CALL_QUEUE_FULL',
  /** A call worker died or could not start (its reason is in the message). */
  CALL_WORKER_FAILED: 'EVM_CALL_WORKER_FAILED',
  /** The call pool was closed (the node is shutting down). */
  CALL_POOL_CLOSED: 'EVM_CALL_POOL_CLOSED',
  /** A call's arguments or state overrides cannot be applied (geth's refusals, and what this node does not support). */
  INVALID_CALL: 'EVM_INVALID_CALL',
  /** A contract VM's deployment reverted or created no contract (the standalone VM of contract-vm.ts). */
  DEPLOY_FAILED: 'EVM_DEPLOY_FAILED',
} as const
export type EvmErrorCode = (typeof EvmErrorCode)[keyof typeof EvmErrorCode]

export class EvmError extends CodedError<EvmErrorCode> {}

/** `err` is a EvmError (with code `code`, when given). */
export const isEvmError = codedErrorGuard(EvmError)

/**
 * The state at `root` is not in the database, in geth's words ("missing trie node") with the
 * cause and the fix: a full node deletes state older than its window (node/chain/prune.ts).
 */
export function missingStateError(root: Uint8Array, cause?: unknown): EvmError {
  const hex = `0x${Buffer.from(root).toString('hex')}`
  return new EvmError(
    EvmErrorCode.MISSING_STATE,
    `missing trie node ${hex} (path ): state root ${hex} is not in the database: pruned (a --gcmode full node keeps only the last --state.recent blocks' state) or never written; query a recent block, or run a node with --gcmode archive to keep every block's state`,
    undefined,
    cause,
  )
}

/** A trie read hit a node that is gone (ethereumjs's "Missing node in DB"): state pruned under a reader. */
export function isMissingNode(err: unknown): boolean {
  return err instanceof Error && err.message === 'Missing node in DB'
}
