import { CodedError } from '../../common/errors.ts'

export const ChainErrorCode = {
  GENESIS_MISMATCH: 'GENESIS_MISMATCH',
  CORRUPT_DATABASE: 'CORRUPT_DATABASE',
  UNKNOWN_PARENT: 'UNKNOWN_PARENT',
  CANNOT_SEAL: 'CANNOT_SEAL',
  INVALID_BLOCK: 'INVALID_BLOCK',
} as const
export type ChainErrorCode = (typeof ChainErrorCode)[keyof typeof ChainErrorCode]

export class ChainError extends CodedError<ChainErrorCode> {}
