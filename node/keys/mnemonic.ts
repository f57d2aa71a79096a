import { HDKey } from '@scure/bip32'
import { generateMnemonic as bip39Generate, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { privateKeyToAddress } from './address.ts'
import { KeyError, KeyErrorCode } from './errors.ts'

/** The standard development mnemonic (anvil, hardhat): its keys are public. Never use it on a real chain. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

/** BIP-44 Ethereum account branch; keys are its children m/44'/60'/0'/0/index. */
const ACCOUNT_PATH = "m/44'/60'/0'/0"

/** A new 12-word English BIP-39 mnemonic (128 bits of entropy). */
export function generateMnemonic(): string {
  return bip39Generate(wordlist, 128)
}

function normalise(m: string): string {
  return typeof m === 'string' ? m.trim().toLowerCase().split(/\s+/).join(' ') : ''
}

export function isValidMnemonic(m: string): boolean {
  return validateMnemonic(normalise(m), wordlist)
}

// The seed (2048 PBKDF2-SHA512 rounds) dominates derivation; the dev branch is cached because
// dev genesis, tests and `--dev` derive its keys repeatedly. Its keys are public, so caching
// costs nothing; real mnemonics are never kept.
let devBranch: HDKey | undefined

function accountBranch(m: string): HDKey {
  if (m === DEV_MNEMONIC && devBranch !== undefined) return devBranch
  const branch = HDKey.fromMasterSeed(mnemonicToSeedSync(m)).derive(ACCOUNT_PATH)
  if (m === DEV_MNEMONIC) devBranch = branch
  return branch
}

/** The key at m/44'/60'/0'/0/index, the path MetaMask, geth, hardhat and anvil use. */
export function deriveKey(mnemonic: string, index = 0): { privateKey: Uint8Array; address: Uint8Array } {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** 31) {
    throw new KeyError(KeyErrorCode.INVALID_INDEX, `invalid account index ${index}: must be an integer from 0 to 2147483647`)
  }
  const m = normalise(mnemonic)
  if (!validateMnemonic(m, wordlist)) {
    throw new KeyError(KeyErrorCode.INVALID_MNEMONIC, 'invalid mnemonic: expected 12, 15, 18, 21 or 24 English BIP-39 words with a valid checksum; check the words and their order')
  }
  const privateKey = accountBranch(m).deriveChild(index).privateKey
  // Unreachable in practice (probability ~2^-127), but BIP-32 says to skip such an index.
  if (privateKey === null) throw new KeyError(KeyErrorCode.INVALID_INDEX, `account index ${index} yields no valid key: use the next index`)
  return { privateKey, address: privateKeyToAddress(privateKey) }
}
