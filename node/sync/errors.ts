import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const SyncErrorCode = {
  /** A peer could not back its status with headers that verify (probe.ts): it is banned. */
  FALSE_STATUS: 'SYNC_FALSE_STATUS',
  /** A peer's status cannot be checked now (it left, it rate-limits us, a future-dated header): nothing held against it. */
  NOT_NOW: 'SYNC_NOT_NOW',
  /** A peer let a probe request time out: it costs score and the probe is tried again later; probes timing out in a row end in a ban (network.ts). */
  SLOW_PEER: 'SYNC_SLOW_PEER',
  /** A /medrec/state/1 request that is not a run of kind+hash items, or asks for too many. */
  BAD_STATE_REQUEST: 'SYNC_BAD_STATE_REQUEST',
  /** A /medrec/state/1 answer that is not a list of byte strings no longer than the request. */
  BAD_STATE_RESPONSE: 'SYNC_BAD_STATE_RESPONSE',
  /** State sync cannot go on (no peer serves the state, headers that do not verify): the node falls back to full sync. */
  STATE_SYNC_FAILED: 'SYNC_STATE_SYNC_FAILED',
} as const
export type SyncErrorCode = (typeof SyncErrorCode)[keyof typeof SyncErrorCode]

export class SyncError extends CodedError<SyncErrorCode> {}

/** `err` is a SyncError (with code `code`, when given). */
export const isSyncError = codedErrorGuard(SyncError)
