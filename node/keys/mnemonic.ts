import { HDKey } from '@scure/bip32'
import { generateMnemonic as bip39Generate, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { privateKeyToAddress } from './address.ts'
import { KeyError, KeyErrorCode } from './errors.ts'

/** The standard development mnemonic (anvil, hardhat): its keys are public. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

/** A new 12-word English BIP-39 mnemonic (128 bits of entropy). */
export function generateMnemonic(): string {
  return bip39Generate(wordlist, 128)
}

export function isValidMnemonic(m: string): boolean {
  return validateMnemonic(normalise(m), wordlist)
}

function normalise(m: string): string {
  return m.trim().toLowerCase().split(/\s+/).join(' ')
}

/** The key at m/44'/60'/0'/0/index, the path MetaMask, geth and anvil use. */
export function deriveKey(mnemonic: string, index = 0): { privateKey: Uint8Array; address: Uint8Array } {
  const m = normalise(mnemonic)
  if (!validateMnemonic(m, wordlist)) {
    throw new KeyError(KeyErrorCode.INVALID_MNEMONIC, 'invalid mnemonic: expected 12 or 24 English BIP-39 words with a valid checksum')
  }
  const key = HDKey.fromMasterSeed(mnemonicToSeedSync(m)).derive(`m/44'/60'/0'/0/${index}`)
  const privateKey = key.privateKey!
  return { privateKey, address: privateKeyToAddress(privateKey) }
}
