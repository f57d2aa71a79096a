// Keys held only in the browser: a recovery phrase or a keystore v3 file, decrypted in this tab.
export { decryptKeystore, KeystoreError } from './keystore.ts'
export { keyFromRecoveryPhrase } from './mnemonic.ts'
