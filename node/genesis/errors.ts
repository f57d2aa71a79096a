import { CodedError } from '../../common/errors.ts'

export const GenesisErrorCode = {
  INVALID_GENESIS: 'INVALID_GENESIS',
  GENESIS_FILE: 'GENESIS_FILE',
  PREDEPLOY_CONFLICT: 'PREDEPLOY_CONFLICT',
} as const
export type GenesisErrorCode = (typeof GenesisErrorCode)[keyof typeof GenesisErrorCode]

export class GenesisError extends CodedError<GenesisErrorCode> {}
