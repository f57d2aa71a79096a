import { CodedError, codedErrorGuard } from '../common/errors.ts'

export const ContractsErrorCode = {
  /** The installed solc-js is not the pinned version, so bytecode would not be reproducible. */
  COMPILER_VERSION: 'CONTRACTS_COMPILER_VERSION',
  /** solc reported errors (message carries solc's formatted output). */
  COMPILE_FAILED: 'CONTRACTS_COMPILE_FAILED',
  /** solc succeeded but did not emit a contract the build expects. */
  MISSING_OUTPUT: 'CONTRACTS_MISSING_OUTPUT',
  /** An authority passed to the AuthoritySet storage builders is not 20 bytes. */
  INVALID_AUTHORITY: 'CONTRACTS_INVALID_AUTHORITY',
  /** The same authority appears twice: the array and the index mapping would disagree. */
  DUPLICATE_AUTHORITY: 'CONTRACTS_DUPLICATE_AUTHORITY',
  /** A view or set-up step in the standalone MedRec VM (contracts/vm.ts) reverted; the message names the error. */
  VM_CALL_REVERTED: 'CONTRACTS_VM_CALL_REVERTED',
} as const
export type ContractsErrorCode = (typeof ContractsErrorCode)[keyof typeof ContractsErrorCode]

export class ContractsError extends CodedError<ContractsErrorCode> {}

/** `err` is a ContractsError (with code `code`, when given). */
export const isContractsError = codedErrorGuard(ContractsError)
