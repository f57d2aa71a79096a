import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const KeyErrorCode = {
  INVALID_ADDRESS: 'KEYS_INVALID_ADDRESS',
  /** A mixed-case address whose EIP-55 checksum does not match: most likely a typo. */
  BAD_CHECKSUM: 'KEYS_BAD_CHECKSUM',
  INVALID_PRIVATE_KEY: 'KEYS_INVALID_PRIVATE_KEY',
  INVALID_MNEMONIC: 'KEYS_INVALID_MNEMONIC',
  /** A BIP-32 account index outside 0..2^31-1. */
  INVALID_INDEX: 'KEYS_INVALID_INDEX',
  /** The keystore MAC does not match: wrong password or a corrupted file. */
  WRONG_PASSWORD: 'KEYS_WRONG_PASSWORD',
  /** Valid JSON using a version, kdf, prf or cipher this node does not implement. */
  UNSUPPORTED_KEYSTORE: 'KEYS_UNSUPPORTED_KEYSTORE',
  MALFORMED_KEYSTORE: 'KEYS_MALFORMED_KEYSTORE',
  ACCOUNT_EXISTS: 'KEYS_ACCOUNT_EXISTS',
  ACCOUNT_NOT_FOUND: 'KEYS_ACCOUNT_NOT_FOUND',
  /** The keystore directory exists but cannot be read or written. */
  KEYSTORE_DIR: 'KEYS_KEYSTORE_DIR',
  PASSWORD_FILE: 'KEYS_PASSWORD_FILE',
} as const
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode]

export class KeyError extends CodedError<KeyErrorCode> {}

/** `err` is a KeyError (with code `code`, when given). */
export const isKeyError = codedErrorGuard(KeyError)
