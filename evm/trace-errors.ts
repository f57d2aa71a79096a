import { CodedError, codedErrorGuard } from '../common/errors.ts'

export const TraceErrorCode = {
  /** A trace ran past its time budget (--rpc.evmtimeout, or the caller's shorter `timeout`) and was stopped. */
  TIMEOUT: 'EVM_TRACE_TIMEOUT',
  /** A struct-log trace grew past the node's size cap. */
  TOO_LARGE: 'EVM_TRACE_TOO_LARGE',
  /** Too many traces are waiting for the one that runs. */
  BUSY: 'EVM_TRACE_BUSY',
  /** debug_traceCall's message cannot run (less gas than its intrinsic cost). */
  INVALID_CALL: 'EVM_TRACE_INVALID_CALL',
} as const
export type TraceErrorCode = (typeof TraceErrorCode)[keyof typeof TraceErrorCode]

export class TraceError extends CodedError<TraceErrorCode> {}

/** `err` is a TraceError (with code `code`, when given). */
export const isTraceError = codedErrorGuard(TraceError)
