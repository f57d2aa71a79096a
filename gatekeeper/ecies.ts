import { createCipheriv, createDecipheriv, createECDH, hkdfSync, randomBytes, type ECDH } from 'node:crypto'
import { fromHex, toData } from '../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import type { EncryptedPayload } from './types.ts'

/**
 * ECIES to a requester's Ethereum key, so a reply is readable only by the account that signed
 * the request whatever the transport. The envelope is specified, with test vectors, in
 * docs/ecies.md (vectors: test/fixtures/ecies-vectors.json): secp256k1 ECDH with a fresh
 * ephemeral key (the shared secret is the x coordinate), HKDF-SHA256 (salt: the ephemeral public
 * key, info `medrec-gatekeeper-v1`) to a 32-byte key, AES-256-GCM with a random 12-byte iv and
 * the ephemeral public key as additional data, sent as JSON hex fields with `v: 1`. It is not
 * byte-compatible with eciesjs or devp2p's ECIES (different KDF inputs, nonce size, AAD and
 * layout); any library with those three standard primitives reads it. node:crypto does the
 * curve work: several times faster than a pure-JS ECDH.
 */

/** The envelope version this module writes and reads; a change to any step below needs a new one. */
export const ECIES_VERSION = 1
const INFO = Buffer.from('medrec-gatekeeper-v1')
const KEY_FIELDS = ['v', 'ephemeralPublicKey', 'iv', 'ciphertext', 'tag'] as const
const HEX = /^0x(?:[0-9a-fA-F]{2})*$/

function deriveKey(shared: Uint8Array, ephemeralPublicKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, ephemeralPublicKey, INFO, 32))
}

function checkRecipient(publicKey65: Uint8Array): void {
  if (publicKey65.length !== 65 || publicKey65[0] !== 0x04) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `encryptTo needs a 65-byte uncompressed secp256k1 public key (0x04…), got ${publicKey65.length} bytes`)
  }
}

/** The AES key for `publicKey65` under the ephemeral key pair held by `ecdh`. */
function recipientKey(ecdh: ECDH, ephemeral: Buffer, publicKey65: Uint8Array): Buffer {
  try {
    return deriveKey(ecdh.computeSecret(publicKey65), ephemeral)
  } catch (err) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, 'encryptTo: the public key is not a point of secp256k1', undefined, err)
  }
}

/** Encrypts `plaintext` to a 65-byte uncompressed secp256k1 public key (0x04 ‖ x ‖ y). */
export function encryptTo(publicKey65: Uint8Array, plaintext: Uint8Array): EncryptedPayload {
  checkRecipient(publicKey65)
  const ecdh = createECDH('secp256k1')
  const ephemeral = ecdh.generateKeys()
  return seal(recipientKey(ecdh, ephemeral, publicKey65), ephemeral, plaintext)
}

/** AES-256-GCM under `key` with a fresh random iv (unless given) and the ephemeral public key as additional data. */
function seal(key: Buffer, ephemeral: Buffer, plaintext: Uint8Array, iv: Uint8Array = randomBytes(12)): EncryptedPayload {
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  cipher.setAAD(ephemeral)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return { v: ECIES_VERSION, ephemeralPublicKey: toData(ephemeral), iv: toData(iv), ciphertext: toData(ciphertext), tag: toData(cipher.getAuthTag()) }
}

/**
 * encryptTo with a chosen ephemeral private key and iv, for the test vectors of docs/ecies.md
 * only: a reused (ephemeral key, iv) pair under GCM leaks the XOR of the plaintexts and lets
 * anyone forge tags, so replies always go through encryptTo or createEncryptor.
 */
export function encryptForVector(publicKey65: Uint8Array, plaintext: Uint8Array, ephemeralPrivateKey32: Uint8Array, iv12: Uint8Array): EncryptedPayload {
  checkRecipient(publicKey65)
  if (ephemeralPrivateKey32.length !== 32 || iv12.length !== 12) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `encryptForVector needs a 32-byte ephemeral private key and a 12-byte iv, got ${ephemeralPrivateKey32.length} and ${iv12.length} bytes`)
  }
  const ecdh = createECDH('secp256k1')
  try {
    ecdh.setPrivateKey(ephemeralPrivateKey32)
  } catch (err) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, 'encryptForVector: the ephemeral private key is not a secp256k1 scalar', undefined, err)
  }
  const ephemeral = ecdh.getPublicKey()
  return seal(recipientKey(ecdh, ephemeral, publicKey65), ephemeral, plaintext, iv12)
}

/**
 * encryptTo for a server answering many requests: the ephemeral key is kept for `rotateMs`
 * (default 60 s) and the AES key derived for each recipient under it is remembered, so a reply
 * costs one AES-GCM pass instead of two curve operations. Same envelope, readable by
 * `decryptWith`. Safe because every message has its own random 96-bit iv (AES-GCM's limit of
 * 2^32 messages per key is far beyond a window), and a new ephemeral key bounds what one
 * leaked ephemeral key exposes to that window's replies.
 */
export function createEncryptor(opts: { rotateMs?: number; maxRecipients?: number; now?: () => number } = {}) {
  const rotateMs = opts.rotateMs ?? 60_000
  const maxRecipients = opts.maxRecipients ?? 4096
  const now = opts.now ?? Date.now
  let ecdh = createECDH('secp256k1')
  let ephemeral = ecdh.generateKeys()
  let bornAt = now()
  let keys = new Map<string, Buffer>()
  return (publicKey65: Uint8Array, plaintext: Uint8Array): EncryptedPayload => {
    checkRecipient(publicKey65)
    if (now() - bornAt >= rotateMs) {
      ecdh = createECDH('secp256k1')
      ephemeral = ecdh.generateKeys()
      bornAt = now()
      keys = new Map()
    }
    const id = Buffer.from(publicKey65).toString('hex')
    let key = keys.get(id)
    if (key === undefined) {
      key = recipientKey(ecdh, ephemeral, publicKey65)
      if (keys.size >= maxRecipients) keys.delete(keys.keys().next().value as string)
      keys.set(id, key)
    }
    return seal(key, ephemeral, plaintext)
  }
}

function fail(reason: string, err?: unknown): never {
  throw new GatekeeperError(GatekeeperErrorCode.DECRYPT_FAILED, `cannot decrypt the gatekeeper's reply: ${reason}`, undefined, err)
}

function hexField(o: Record<string, unknown>, key: string, length?: number): Uint8Array {
  const v = o[key]
  if (typeof v !== 'string' || !HEX.test(v)) fail(`${key} must be 0x-prefixed hex`)
  const bytes = fromHex(v)
  if (length !== undefined && bytes.length !== length) fail(`${key} must be ${length} bytes, got ${bytes.length}`)
  return bytes
}

/** Decrypts an `EncryptedPayload` with a 32-byte private key. Throws DECRYPT_FAILED on any malformed or tampered input. */
export function decryptWith(privateKey32: Uint8Array, payload: unknown): Uint8Array {
  if (privateKey32.length !== 32) fail(`the private key must be 32 bytes, got ${privateKey32.length}`)
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) fail('the payload is not an object')
  const o = payload as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.length !== KEY_FIELDS.length || !KEY_FIELDS.every((k) => Object.hasOwn(o, k))) fail(`the payload must have exactly the keys ${KEY_FIELDS.join(', ')}`)
  if (o.v !== ECIES_VERSION) fail(`unknown envelope version ${JSON.stringify(o.v)}; this node reads v ${ECIES_VERSION}`)
  const ephemeral = hexField(o, 'ephemeralPublicKey', 65)
  const iv = hexField(o, 'iv', 12)
  const tag = hexField(o, 'tag', 16)
  const ciphertext = hexField(o, 'ciphertext')
  const ecdh = createECDH('secp256k1')
  let shared: Buffer
  try {
    ecdh.setPrivateKey(privateKey32)
    shared = ecdh.computeSecret(ephemeral)
  } catch (err) {
    fail('invalid key or ephemeral public key', err)
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(shared, ephemeral), iv, { authTagLength: 16 })
    decipher.setAAD(ephemeral)
    decipher.setAuthTag(tag)
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]))
  } catch (err) {
    fail('authentication failed (the payload was altered, or it was encrypted to another key)', err)
  }
}
