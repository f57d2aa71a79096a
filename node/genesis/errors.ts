import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const GenesisErrorCode = {
  /** The document does not describe a valid chain; the message names the JSON path. */
  INVALID_GENESIS: 'GENESIS_INVALID_GENESIS',
  /** The file is missing, unreadable or not JSON. */
  GENESIS_FILE: 'GENESIS_GENESIS_FILE',
  /** An alloc entry sits at a MedRec system contract address while predeploys are on. */
  PREDEPLOY_CONFLICT: 'GENESIS_PREDEPLOY_CONFLICT',
  /** The genesis turns on a fork this node does not know (a newer node is needed) or one it cannot run. */
  UNKNOWN_FORK: 'GENESIS_UNKNOWN_FORK',
} as const
export type GenesisErrorCode = (typeof GenesisErrorCode)[keyof typeof GenesisErrorCode]

export class GenesisError extends CodedError<GenesisErrorCode> {}

/** `err` is a GenesisError (with code `code`, when given). */
export const isGenesisError = codedErrorGuard(GenesisError)
