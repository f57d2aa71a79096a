import { gcm } from '@noble/ciphers/aes.js'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, randomBytes } from '@noble/hashes/utils.js'
import { fromHex, toData } from '../common/hex.ts'
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
 * layout); any library with those three standard primitives reads it. Written on @noble (no
 * node:crypto import, no Buffer) so the browser app decrypts with this very module; a server's
 * createEncryptor caches the per-recipient key, so its replies cost no curve work.
 *
 * AES-GCM alone runs on node:crypto where there is one (the gatekeeper's server), found at run
 * time so the module still bundles for the browser, which keeps @noble's: the same bytes either
 * way (docs/ecies.md's vectors, test/gatekeeper/browser-crypto.test.ts), and @noble's software
 * AES cost a reply of 20 records ~0.3 ms of CPU against ~0.01 ms (measured: docs/benchmarks.md).
 */

/** The envelope version this module writes and reads; a change to any step below needs a new one. */
export const ECIES_VERSION = 1
const INFO = new TextEncoder().encode('medrec-gatekeeper-v1')
const KEY_FIELDS = ['v', 'ephemeralPublicKey', 'iv', 'ciphertext', 'tag'] as const
const HEX = /^0x(?:[0-9a-fA-F]{2})*$/

/** The part of node:crypto used here, typed locally: this module is also type-checked without Node's types. */
interface NodeAesGcm {
  createCipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array, options: { authTagLength: 16 }): { setAAD(aad: Uint8Array): unknown; update(data: Uint8Array): Uint8Array; final(): Uint8Array; getAuthTag(): Uint8Array }
  createDecipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array, options: { authTagLength: 16 }): { setAAD(aad: Uint8Array): unknown; setAuthTag(tag: Uint8Array): unknown; update(data: Uint8Array): Uint8Array; final(): Uint8Array }
}

// process.getBuiltinModule (Node ≥ 22.3) is a plain call, not an import: a bundler leaves it alone and a browser has no `process`.
const nodeAes = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as NodeAesGcm | undefined

/** Which AES-GCM this process encrypts and decrypts with. */
export const ECIES_AES: 'node:crypto' | '@noble/ciphers' = nodeAes === undefined ? '@noble/ciphers' : 'node:crypto'

/** AES-256-GCM: ciphertext ‖ 16-byte tag. */
function gcmSeal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  if (nodeAes === undefined) return gcm(key, iv, aad).encrypt(plaintext)
  const c = nodeAes.createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  c.setAAD(aad)
  return concatBytes(c.update(plaintext), c.final(), c.getAuthTag())
}

/** Opens ciphertext ‖ tag; throws when the tag does not authenticate. */
function gcmOpen(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  if (nodeAes === undefined) return gcm(key, iv, aad).decrypt(sealed)
  const d = nodeAes.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return concatBytes(d.update(sealed.subarray(0, sealed.length - 16)), d.final())
}

function deriveKey(sharedX: Uint8Array, ephemeralPublicKey: Uint8Array): Uint8Array {
  return hkdf(sha256, sharedX, ephemeralPublicKey, INFO, 32)
}

/** The x coordinate of sk·P (what node:crypto's ECDH computeSecret returns). */
function sharedX(privateKey32: Uint8Array, publicKey65: Uint8Array): Uint8Array {
  return secp256k1.getSharedSecret(privateKey32, publicKey65, true).subarray(1)
}

/** A fresh ephemeral key pair. */
function ephemeralPair(privateKey32: Uint8Array = secp256k1.utils.randomSecretKey()): { sk: Uint8Array; pk: Uint8Array } {
  return { sk: privateKey32, pk: secp256k1.getPublicKey(privateKey32, false) }
}

function checkRecipient(publicKey65: Uint8Array): void {
  if (publicKey65.length !== 65 || publicKey65[0] !== 0x04) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `encryptTo needs a 65-byte uncompressed secp256k1 public key (0x04…), got ${publicKey65.length} bytes`)
  }
}

/** The AES key for `publicKey65` under the ephemeral key pair `eph`. */
function recipientKey(eph: { sk: Uint8Array; pk: Uint8Array }, publicKey65: Uint8Array): Uint8Array {
  try {
    return deriveKey(sharedX(eph.sk, publicKey65), eph.pk)
  } catch (err) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, 'encryptTo: the public key is not a point of secp256k1', undefined, err)
  }
}

/** Encrypts `plaintext` to a 65-byte uncompressed secp256k1 public key (0x04 ‖ x ‖ y). */
export function encryptTo(publicKey65: Uint8Array, plaintext: Uint8Array): EncryptedPayload {
  checkRecipient(publicKey65)
  const eph = ephemeralPair()
  return seal(recipientKey(eph, publicKey65), eph.pk, plaintext)
}

/** AES-256-GCM under `key` with a fresh random iv (unless given) and the ephemeral public key as additional data. */
function seal(key: Uint8Array, ephemeral: Uint8Array, plaintext: Uint8Array, iv: Uint8Array = randomBytes(12)): EncryptedPayload {
  const sealed = gcmSeal(key, iv, ephemeral, plaintext) // ciphertext ‖ 16-byte tag
  const cut = sealed.length - 16
  return { v: ECIES_VERSION, ephemeralPublicKey: toData(ephemeral), iv: toData(iv), ciphertext: toData(sealed.subarray(0, cut)), tag: toData(sealed.subarray(cut)) }
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
  let eph: { sk: Uint8Array; pk: Uint8Array }
  try {
    eph = ephemeralPair(ephemeralPrivateKey32)
  } catch (err) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, 'encryptForVector: the ephemeral private key is not a secp256k1 scalar', undefined, err)
  }
  return seal(recipientKey(eph, publicKey65), eph.pk, plaintext, iv12)
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
  let eph = ephemeralPair()
  let bornAt = now()
  let keys = new Map<string, Uint8Array>()
  return (publicKey65: Uint8Array, plaintext: Uint8Array): EncryptedPayload => {
    checkRecipient(publicKey65)
    if (now() - bornAt >= rotateMs) {
      eph = ephemeralPair()
      bornAt = now()
      keys = new Map()
    }
    const id = bytesToHex(publicKey65)
    let key = keys.get(id)
    if (key === undefined) {
      key = recipientKey(eph, publicKey65)
      if (keys.size >= maxRecipients) keys.delete(keys.keys().next().value as string)
      keys.set(id, key)
    }
    return seal(key, eph.pk, plaintext)
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
  let shared: Uint8Array
  try {
    shared = sharedX(privateKey32, ephemeral)
  } catch (err) {
    fail('invalid key or ephemeral public key', err)
  }
  const sealed = new Uint8Array(ciphertext.length + 16)
  sealed.set(ciphertext, 0)
  sealed.set(tag, ciphertext.length)
  try {
    return gcmOpen(deriveKey(shared, ephemeral), iv, ephemeral, sealed)
  } catch (err) {
    fail('authentication failed (the payload was altered, or it was encrypted to another key)', err)
  }
}
