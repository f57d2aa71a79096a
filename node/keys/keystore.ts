import { createCipheriv, createDecipheriv, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js'
import { scryptAsync } from '@noble/hashes/scrypt.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { privateKeyToAddress } from './address.ts'
import { KeyError, KeyErrorCode } from './errors.ts'

/** Web3 Secret Storage Definition, version 3 (what geth, ethers and MetaMask write). */
export interface KeystoreV3 {
  version: 3
  id: string
  address: string
  crypto: {
    cipher: 'aes-128-ctr'
    ciphertext: string
    cipherparams: { iv: string }
    kdf: 'scrypt' | 'pbkdf2'
    kdfparams: ScryptParams | Pbkdf2Params
    mac: string
  }
}
interface ScryptParams {
  dklen: number
  n: number
  r: number
  p: number
  salt: string
}
interface Pbkdf2Params {
  dklen: number
  c: number
  prf: 'hmac-sha256'
  salt: string
}

/** geth's standard and light (--lightkdf) scrypt parameters. */
const STANDARD = { n: 262144, r: 8, p: 1 }
const LIGHT = { n: 4096, r: 8, p: 6 }
const te = new TextEncoder()
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function mac(derived: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return keccak_256(Buffer.concat([derived.subarray(16, 32), ciphertext]))
}

export async function encryptKeystore(privateKey: Uint8Array, password: string, opts: { light?: boolean } = {}): Promise<KeystoreV3> {
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const { n, r, p } = opts.light === true ? LIGHT : STANDARD
  const derived = await scryptAsync(te.encode(password), salt, { N: n, r, p, dkLen: 32, maxmem: 256 * n * r * 2 })
  const cipher = createCipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  const ciphertext = Buffer.concat([cipher.update(privateKey), cipher.final()])
  return {
    version: 3,
    id: randomUUID(),
    address: hex(privateKeyToAddress(privateKey)),
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

function field<T>(obj: unknown, path: string, check: (v: unknown) => boolean, expected: string): T {
  let cur: unknown = obj
  for (const k of path.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
  if (!check(cur)) throw new KeyError(KeyErrorCode.MALFORMED_KEYSTORE, `malformed keystore: ${path} must be ${expected}`)
  return cur as T
}
const isHex = (v: unknown) => typeof v === 'string' && /^(0x)?([0-9a-fA-F]{2})*$/.test(v)
const isInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** Decrypts a V3 keystore (scrypt or pbkdf2-hmac-sha256, aes-128-ctr). */
export async function decryptKeystore(json: unknown, password: string): Promise<Uint8Array> {
  const obj = typeof json === 'string' ? (() => {
    try {
      return JSON.parse(json) as unknown
    } catch {
      throw new KeyError(KeyErrorCode.MALFORMED_KEYSTORE, 'malformed keystore: not JSON')
    }
  })() : json
  const version = field<number>(obj, 'version', (v) => typeof v === 'number', 'a number')
  if (version !== 3) throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore version ${version}: only version 3 is supported`)
  const c = (obj as { crypto?: unknown; Crypto?: unknown }).crypto ?? (obj as { Crypto?: unknown }).Crypto
  const cipher = field<string>(c, 'cipher', (v) => typeof v === 'string', 'a string')
  if (cipher !== 'aes-128-ctr') throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore cipher ${cipher}: only aes-128-ctr is supported`)
  const ciphertext = bytes(field<string>(c, 'ciphertext', isHex, 'hex'))
  const iv = bytes(field<string>(c, 'cipherparams.iv', isHex, 'hex'))
  const expectedMac = bytes(field<string>(c, 'mac', isHex, 'hex'))
  const kdf = field<string>(c, 'kdf', (v) => typeof v === 'string', 'a string')
  const salt = bytes(field<string>(c, 'kdfparams.salt', isHex, 'hex'))
  const dklen = field<number>(c, 'kdfparams.dklen', isInt, 'a positive integer')
  if (dklen < 32) throw new KeyError(KeyErrorCode.MALFORMED_KEYSTORE, 'malformed keystore: kdfparams.dklen must be at least 32')
  let derived: Uint8Array
  if (kdf === 'scrypt') {
    const n = field<number>(c, 'kdfparams.n', isInt, 'a positive integer')
    const r = field<number>(c, 'kdfparams.r', isInt, 'a positive integer')
    const p = field<number>(c, 'kdfparams.p', isInt, 'a positive integer')
    derived = await scryptAsync(te.encode(password), salt, { N: n, r, p, dkLen: dklen, maxmem: 256 * n * r * 2 })
  } else if (kdf === 'pbkdf2') {
    const prf = field<string>(c, 'kdfparams.prf', (v) => typeof v === 'string', 'a string')
    if (prf !== 'hmac-sha256') throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore prf ${prf}: only hmac-sha256 is supported`)
    const count = field<number>(c, 'kdfparams.c', isInt, 'a positive integer')
    derived = await pbkdf2Async(sha256, te.encode(password), salt, { c: count, dkLen: dklen })
  } else {
    throw new KeyError(KeyErrorCode.UNSUPPORTED_KEYSTORE, `unsupported keystore kdf ${kdf}: use scrypt or pbkdf2`)
  }
  const got = mac(derived, ciphertext)
  if (got.length !== expectedMac.length || !timingSafeEqual(got, expectedMac)) {
    throw new KeyError(KeyErrorCode.WRONG_PASSWORD, 'could not decrypt key with given password')
  }
  const decipher = createDecipheriv('aes-128-ctr', derived.subarray(0, 16), iv)
  return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]))
}
