import { CodedError } from '../../common/errors.ts'

export const KeyErrorCode = {
  INVALID_ADDRESS: 'INVALID_ADDRESS',
  /** A mixed-case address whose EIP-55 checksum does not match: most likely a typo. */
  BAD_CHECKSUM: 'BAD_CHECKSUM',
  INVALID_PRIVATE_KEY: 'INVALID_PRIVATE_KEY',
  INVALID_MNEMONIC: 'INVALID_MNEMONIC',
  /** A BIP-32 account index outside 0..2^31-1. */
  INVALID_INDEX: 'INVALID_INDEX',
  /** The keystore MAC does not match: wrong password or a corrupted file. */
  WRONG_PASSWORD: 'WRONG_PASSWORD',
  /** Valid JSON using a version, kdf, prf or cipher this node does not implement. */
  UNSUPPORTED_KEYSTORE: 'UNSUPPORTED_KEYSTORE',
  MALFORMED_KEYSTORE: 'MALFORMED_KEYSTORE',
  ACCOUNT_EXISTS: 'ACCOUNT_EXISTS',
  ACCOUNT_NOT_FOUND: 'ACCOUNT_NOT_FOUND',
  /** The keystore directory exists but cannot be read or written. */
  KEYSTORE_DIR: 'KEYSTORE_DIR',
  PASSWORD_FILE: 'PASSWORD_FILE',
} as const
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode]

export class KeyError extends CodedError<KeyErrorCode> {}
