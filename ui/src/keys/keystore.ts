import { ctr } from '@noble/ciphers/aes.js'
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'

/**
 * A Web3 Secret Storage v3 file decrypted in the browser (scrypt or pbkdf2-hmac-sha256,
 * aes-128-ctr), as geth and node/keys write them. The MAC is checked before decrypting, so a
 * wrong password never yields a key. The file and password never leave the tab.
 */
export class KeystoreError extends Error {
  override name = 'KeystoreError'
}

const te = new TextEncoder()

function field(obj: unknown, key: string, path: string): unknown {
  if (obj === null || typeof obj !== 'object') throw new KeystoreError(`this is not a keystore v3 file: ${path} is missing`)
  return (obj as Record<string, unknown>)[key]
}
function hexField(obj: unknown, key: string, path: string, len?: number): Uint8Array {
  const v = field(obj, key, path)
  if (typeof v !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(v)) throw new KeystoreError(`this is not a keystore v3 file: ${path} must be hex`)
  const b = hexToBytes(v.replace(/^0x/, ''))
  if (len !== undefined && b.length !== len) throw new KeystoreError(`this is not a keystore v3 file: ${path} must be ${len} bytes`)
  return b
}
function intField(obj: unknown, key: string, path: string): number {
  const v = field(obj, key, path)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new KeystoreError(`this is not a keystore v3 file: ${path} must be a positive integer`)
  return v
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let d = 0
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!
  return d === 0
}

/** Returns the private key as 0x hex. `onProgress` (0..1) reports scrypt's progress (seconds for geth's standard parameters). */
export async function decryptKeystore(text: string, password: string, onProgress?: (fraction: number) => void): Promise<`0x${string}`> {
  let obj: unknown
  try {
    obj = JSON.parse(text)
  } catch {
    // JSON.parse quotes its input in the message: never echo what may be a key.
    throw new KeystoreError('this file is not JSON: choose a keystore v3 file (UTC--…--<address>)')
  }
  if (field(obj, 'version', 'version') !== 3) throw new KeystoreError('only keystore version 3 files are supported')
  const c = field(obj, 'crypto', 'crypto') ?? field(obj, 'Crypto', 'crypto')
  if (field(c, 'cipher', 'crypto.cipher') !== 'aes-128-ctr') throw new KeystoreError('only aes-128-ctr keystores are supported')
  const ciphertext = hexField(c, 'ciphertext', 'crypto.ciphertext', 32)
  const iv = hexField(field(c, 'cipherparams', 'crypto.cipherparams'), 'iv', 'crypto.cipherparams.iv', 16)
  const mac = hexField(c, 'mac', 'crypto.mac', 32)
  const kdf = field(c, 'kdf', 'crypto.kdf')
  const params = field(c, 'kdfparams', 'crypto.kdfparams')
  const salt = hexField(params, 'salt', 'crypto.kdfparams.salt')
  const dkLen = intField(params, 'dklen', 'crypto.kdfparams.dklen')
  if (dkLen < 32) throw new KeystoreError('this is not a keystore v3 file: crypto.kdfparams.dklen must be at least 32')
  let derived: Uint8Array
  if (kdf === 'scrypt') {
    const N = intField(params, 'n', 'crypto.kdfparams.n')
    const r = intField(params, 'r', 'crypto.kdfparams.r')
    const p = intField(params, 'p', 'crypto.kdfparams.p')
    const maxmem = 128 * r * (N + p) + 1024 * 1024
    derived = await scryptAsync(te.encode(password), salt, { N, r, p, dkLen, maxmem, asyncTick: 10, ...(onProgress === undefined ? {} : { onProgress }) })
  } else if (kdf === 'pbkdf2') {
    if (field(params, 'prf', 'crypto.kdfparams.prf') !== 'hmac-sha256') throw new KeystoreError('only pbkdf2 with hmac-sha256 is supported')
    derived = await pbkdf2Async(sha256, te.encode(password), salt, { c: intField(params, 'c', 'crypto.kdfparams.c'), dkLen })
  } else {
    throw new KeystoreError(`unsupported keystore kdf ${JSON.stringify(kdf)}: only scrypt and pbkdf2 are supported`)
  }
  const got = keccak_256(new Uint8Array([...derived.subarray(16, 32), ...ciphertext]))
  if (!equal(got, mac)) throw new KeystoreError('wrong password for this keystore file (its MAC does not match)')
  const key = ctr(derived.subarray(0, 16), iv).decrypt(ciphertext)
  return `0x${bytesToHex(key)}`
}
