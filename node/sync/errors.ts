import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const SyncErrorCode = {
  /** A peer could not back its status with headers that verify (probe.ts): it is banned. */
  FALSE_STATUS: 'SYNC_FALSE_STATUS',
  /** A peer's status cannot be checked now (it left, it rate-limits us, a future-dated header): nothing held against it. */
  NOT_NOW: 'SYNC_NOT_NOW',
} as const
export type SyncErrorCode = (typeof SyncErrorCode)[keyof typeof SyncErrorCode]

export class SyncError extends CodedError<SyncErrorCode> {}

/** `err` is a SyncError (with code `code`, when given). */
export const isSyncError = codedErrorGuard(SyncError)
