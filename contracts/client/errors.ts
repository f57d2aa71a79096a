import type { Hex } from 'viem'
import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const ClientErrorCode = {
  /** The call or transaction reverted; `revert` holds the decoded custom error. */
  REVERTED: 'CLIENT_REVERTED',
  /** The node forgot the transaction and its nonce was never used before the timeout. */
  DROPPED: 'CLIENT_DROPPED',
  /** Another transaction of the same sender took this one's nonce (this hash has no receipt). */
  REPLACED: 'CLIENT_REPLACED',
  /** Still pending (known to the node, nonce unused) when the timeout ran out. */
  TIMEOUT: 'CLIENT_TIMEOUT',
  /** The node answered with a JSON-RPC error, could not be reached, or answered nonsense. */
  RPC: 'CLIENT_RPC',
  /** A structured query (or bounty query) is malformed, not structured, or could carry personal data. */
  INVALID_QUERY: 'CLIENT_INVALID_QUERY',
  /** An argument the client checks before sending (address, field index, expiry, page...) is invalid. */
  INVALID_ARGUMENT: 'CLIENT_INVALID_ARGUMENT',
  /** The chain does not hold what a read or a flow needs (unknown identity, no Summary, missing event). */
  NOT_FOUND: 'CLIENT_NOT_FOUND',
} as const
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode]

/** A revert decoded with the contract suite's ABIs: `NotPatient(0x…)` is `{ errorName: 'NotPatient', args: ['0x…'] }`. */
export interface DecodedRevert {
  errorName: string
  args: readonly unknown[]
  /** Human form, e.g. `NotPatient(0xf39F…2266)`; `unknown revert 0x…` when no ABI knows the selector. */
  text: string
  data: Hex
}

export interface ClientErrorDetails {
  /** The transaction, when one was sent. */
  hash?: Hex
  nonce?: bigint
  /** Set for REVERTED. */
  revert?: DecodedRevert
  /** Set for RPC errors that carried a JSON-RPC error code. */
  rpcCode?: number
  [key: string]: unknown
}

/** The one error class of the MedRec client: switch on `code` (ClientErrorCode). */
export class ClientError extends CodedError<ClientErrorCode> {
  declare readonly context: ClientErrorDetails | undefined

  constructor(code: ClientErrorCode, message: string, context?: ClientErrorDetails, cause?: unknown) {
    super(code, message, context, cause)
  }

  /** The decoded revert of a REVERTED error. */
  get revert(): DecodedRevert | undefined {
    return this.context?.revert
  }

  /** The transaction hash, when the error concerns a sent transaction. */
  get hash(): Hex | undefined {
    return this.context?.hash
  }
}

/** `err` is a ClientError (with code `code`, when given). */
export const isClientError = codedErrorGuard(ClientError)
