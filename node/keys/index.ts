// Public face of node/keys/: addresses, BIP-39 mnemonics, V3 keystores and keystore directories.
export * from './address.ts'
export * from './errors.ts'
export * from './keystore.ts'
export * from './keystore-dir.ts'
export * from './mnemonic.ts'
