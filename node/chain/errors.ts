import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const ChainErrorCode = {
  GENESIS_MISMATCH: 'CHAIN_GENESIS_MISMATCH',
  CORRUPT_DATABASE: 'CHAIN_CORRUPT_DATABASE',
  UNKNOWN_PARENT: 'CHAIN_UNKNOWN_PARENT',
  CANNOT_SEAL: 'CHAIN_CANNOT_SEAL',
  INVALID_BLOCK: 'CHAIN_INVALID_BLOCK',
  /** A LevelDB write failed: the handle is never used again and the node stops (storage-fault.ts). */
  STORAGE_FAULT: 'CHAIN_STORAGE_FAULT',
  /** Free space on the data dir's filesystem is below --datadir.minfreedisk: writes wait (disk-watch.ts). */
  LOW_DISK: 'CHAIN_LOW_DISK',
} as const
export type ChainErrorCode = (typeof ChainErrorCode)[keyof typeof ChainErrorCode]

export class ChainError extends CodedError<ChainErrorCode> {}

/** `err` is a ChainError (with code `code`, when given). */
export const isChainError = codedErrorGuard(ChainError)
