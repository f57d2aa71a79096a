// BIP-39's English word list and checksum check (through @scure/bip39, which viem already bundles).
export { validateMnemonic } from '@scure/bip39'
export { wordlist as english } from '@scure/bip39/wordlists/english.js'
