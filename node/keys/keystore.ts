import { createCipheriv, createDecipheriv, pbkdf2, randomBytes, randomUUID, scrypt as nodeScrypt, timingSafeEqual } from 'node:crypto'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { privateKeyToAddress } from './address.ts'
import { KeyError, KeyErrorCode } from './errors.ts'

export interface ScryptParams {
  dklen: number
  n: number
  r: number
  p: number
  salt: string
}
export interface Pbkdf2Params {
  dklen: number
  c: number
  prf: 'hmac-sha256'
  salt: string
}
export type KeystoreCrypto = {
  cipher: 'aes-128-ctr'
  ciphertext: string
  cipherparams: { iv: string }
  mac: string
} & ({ kdf: 'scrypt'; kdfparams: ScryptParams } | { kdf: 'pbkdf2'; kdfparams: Pbkdf2Params })

/** Web3 Secret Storage Definition, version 3 (what geth, ethers and MetaMask write). Hex without 0x. */
export interface KeystoreV3 {
  version: 3
  id: string
  /** Lowercase hex, no 0x (geth's form). */
  address: string
  crypto: KeystoreCrypto
}

/** geth's standard and light (--lightkdf) scrypt parameters. */
const STANDARD = { n: 262144, r: 8, p: 1 }
const LIGHT = { n: 4096, r: 8, p: 6 }
const te = new TextEncoder()
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

function mac(derived: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext]))
}

/**
 * scrypt on OpenSSL (native, off the main thread: ~1.5 s for geth's standard parameters, noble
 * takes ~3.5 s). OpenSSL also requires N < 2^(16r), which geth does not: such files (the
 * spec's own test vector has r=1, N=2^18) fall back to noble. `maxmem` allows what N, r, p need.
 */
async function scrypt(password: string, salt: Uint8Array, n: number, r: number, p: number, dkLen: number): Promise<Uint8Array> {
  const pw = te.encode(password)
  const maxmem = 128 * r * (n + p) + 1024 * 1024
  if (16 * r >= 53 || n < 2 ** (16 * r)) {
    return new Promise((resolve, reject) =>
      nodeScrypt(pw, salt, dkLen, { N: n, r, p, maxmem }, (err, key) => (err === null ? resolve(new Uint8Array(key)) : reject(err))),
    )
  }
  return scryptAsync(pw, salt, { N: n, r, p, dkLen, maxmem })
}

function pbkdf2Sha256(password: string, salt: Uint8Array, c: number, dkLen: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) =>
    pbkdf2(te.encode(password), salt, c, dkLen, 'sha256', (err, key) => (err === null ? resolve(new Uint8Array(key)) : reject(err))),
  )
}

/** Password bytes are the UTF-8 of the string as given, as in geth. */
export async function encryptKeystore(privateKey: Uint8Array, password: string, opts: { light?: boolean } = {}): Promise<KeystoreV3> {
  const address = privateKeyToAddress(privateKey) // also validates the key
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const { n, r, p } = opts.light === true ? LIGHT : STANDARD
  const derived = await scrypt(password, salt, n, r, p, 32)
  const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
  return {
    version: 3,
    id: randomUUID(),
    address: hex(address),
    crypto: {
      cipher: 'aes-128-ctr',
      ciphertext: hex(ciphertext),
      cipherparams: { iv: hex(iv) },
      kdf: 'scrypt',
      kdfparams: { dklen: 32, n, r, p, salt: hex(salt) },
      mac: hex(mac(derived, ciphertext)),
    },
  }
}

function malformed(path: string, expected: string): never {
  throw new KeyError(KeyErrorCode.MALFORMED_KEYSTORE, `malformed keystore: ${path} must be ${expected}`, { field: path })
}
function get(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined
}
function str(obj: unknown, key: string, path: string): string {
  const v = get(obj, key)
  if (typeof v !== 'string') malformed(path, 'a string')
  return v
}
function bytes(obj: unknown, key: string, path: string, len?: number): Uint8Array {
  const v = get(obj, key)
  if (typeof v !== 'string' || !/^(0x)?([0-9a-fA-F]{2})*$/.test(v)) malformed(path, 'hex bytes')
  const b = new Uint8Array(Buffer.from(v.replace(/^0x/, ''), 'hex'))
  if (len !== undefined && b.length !== len) malformed(path, `${len} bytes, got ${b.length}`)
  return b
}
function posInt(obj: unknown, key: string, path: string): number {
  const v = get(obj, key)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) malformed(path, 'a positive integer')
  return v
}

function parseJson(json: unknown): unknown {
  if (typeof json !== 'string') return json
  try {
    return JSON.parse(json) as unknown
  } catch {
    // JSON.parse quotes the input in its message: never echo what may be a private key.
    throw new KeyError(KeyErrorCode.MALFORMED_KEYSTORE, 'malformed keystore: not JSON (is this a key file?)')
  }
}

async function deriveKey(c: unknown, password: string): Promise<Uint8Array> {
  const kdf = str(c, 'kdf', 'crypto.kdf')
  if (kdf !== 'scrypt' && kdf !== 'pbkdf2') {
    throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore kdf "${kdf}": only scrypt and pbkdf2 are supported`, { kdf })
  }
  const params = get(c, 'kdfparams')
  if (params === null || typeof params !== 'object') malformed('crypto.kdfparams', 'an object')
  const salt = bytes(params, 'salt', 'crypto.kdfparams.salt')
  const dklen = posInt(params, 'dklen', 'crypto.kdfparams.dklen')
  // The MAC covers derived[16..32] and the AES key is derived[0..16].
  if (dklen < 32) malformed('crypto.kdfparams.dklen', `at least 32, got ${dklen}`)
  if (kdf === 'scrypt') {
    const n = posInt(params, 'n', 'crypto.kdfparams.n')
    const r = posInt(params, 'r', 'crypto.kdfparams.r')
    const p = posInt(params, 'p', 'crypto.kdfparams.p')
    if (n < 2 || !Number.isInteger(Math.log2(n))) malformed('crypto.kdfparams.n', `a power of two greater than 1, got ${n}`)
    if (r * p >= 2 ** 30) malformed('crypto.kdfparams', `such that r * p < 2^30, got r=${r} p=${p}`)
    try {
      return await scrypt(password, salt, n, r, p, dklen)
    } catch (err) {
      // e.g. N so large the memory it needs cannot be allocated.
      throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore scrypt parameters n=${n} r=${r} p=${p}: ${(err as Error).message}`, { n, r, p }, err)
    }
  }
  const prf = str(params, 'prf', 'crypto.kdfparams.prf')
  if (prf !== 'hmac-sha256') {
    throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore prf "${prf}": only hmac-sha256 is supported`, { prf })
  }
  const count = posInt(params, 'c', 'crypto.kdfparams.c')
  return pbkdf2Sha256(password, salt, count, dklen)
}

/**
 * Decrypts a V3 keystore (object or JSON text): kdf scrypt or pbkdf2-hmac-sha256, cipher
 * aes-128-ctr. The MAC is checked before decrypting, so a wrong password never yields a key.
 */
export async function decryptKeystore(json: unknown, password: string): Promise<Uint8Array> {
  const obj = parseJson(json)
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) malformed('the keystore', 'a JSON object')
  const version = get(obj, 'version')
  if (version === undefined) malformed('version', 'present (3)')
  if (version !== 3) {
    throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore version ${JSON.stringify(version)}: only version 3 is supported`, { version })
  }
  // geth wrote "Crypto" in some early versions and still reads both.
  const c = get(obj, 'crypto') ?? get(obj, 'Crypto')
  if (c === null || typeof c !== 'object') malformed('crypto', 'an object')
  const cipher = str(c, 'cipher', 'crypto.cipher')
  if (cipher !== 'aes-128-ctr') {
    throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore cipher "${cipher}": only aes-128-ctr is supported`, { cipher })
  }
  const ciphertext = bytes(c, 'ciphertext', 'crypto.ciphertext')
  if (ciphertext.length !== 32) malformed('crypto.ciphertext', `32 bytes (an encrypted secp256k1 key), got ${ciphertext.length}`)
  const iv = bytes(get(c, 'cipherparams'), 'iv', 'crypto.cipherparams.iv', 16)
  const expectedMac = bytes(c, 'mac', 'crypto.mac', 32)
  const declared = get(obj, 'address')
  if (declared !== undefined && (typeof declared !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(declared))) {
    malformed('address', '20 bytes of hex')
  }

  const derived = await deriveKey(c, password)
  const got = mac(derived, ciphertext)
  if (!timingSafeEqual(got, expectedMac)) {
    throw new KeyError(KeyErrorCode.WRONG_PASSWORD, 'could not decrypt key with given password')
  }
  const decipher = createDecipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  const key = new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]))
  let address: Uint8Array
  try {
    address = privateKeyToAddress(key)
  } catch {
    malformed('crypto.ciphertext', 'an encrypted secp256k1 key in range, but the MAC-verified plaintext is not one')
  }
  // A file whose address field names another account would unlock the wrong signer.
  if (typeof declared === 'string' && declared.replace(/^0x/, '').toLowerCase() !== hex(address)) {
    throw new KeyError(
      KeyErrorCode.MALFORMED_KEYSTORE,
      `malformed keystore: address field ${declared} does not match the key it holds (0x${hex(address)}); the file was edited or is corrupt`,
      { field: 'address' },
    )
  }
  return key
}
