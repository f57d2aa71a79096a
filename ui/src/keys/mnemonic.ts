import { bytesToHex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { english, validateMnemonic } from './wordlist.ts'

/**
 * The key at m/44'/60'/0'/0/<index> of a 12-word BIP-39 recovery phrase (the path MetaMask, geth
 * and `medrec account` use), derived in the browser. The phrase is never stored or sent.
 */
export function keyFromRecoveryPhrase(phrase: string, index = 0): { account: `0x${string}`; privateKey: `0x${string}` } {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** 31) throw new Error(`the account number must be a whole number from 0, got ${index}`)
  const words = phrase.trim().toLowerCase().split(/\s+/)
  if (words.length !== 12) throw new Error(`a recovery phrase has 12 words; this one has ${words.length}`)
  const normalised = words.join(' ')
  if (!validateMnemonic(normalised, english)) throw new Error('this is not a valid recovery phrase: a word is misspelt or the words are out of order (its checksum does not match)')
  const account = mnemonicToAccount(normalised, { addressIndex: index })
  const key = account.getHdKey().privateKey
  if (key === null) throw new Error('the recovery phrase gave no private key')
  return { account: account.address, privateKey: bytesToHex(key) }
}
