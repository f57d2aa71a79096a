import t from 'tap'
import { readFileSync } from 'node:fs'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { fromHex } from '../../common/index.ts'
import { decryptWith, encryptForVector } from '../../gatekeeper/ecies.ts'
import type { EncryptedPayload } from '../../gatekeeper/types.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

// The committed vectors of docs/ecies.md: this node must read them, reproduce them from the fixed
// keys, and an implementation that shares no code with gatekeeper/ecies.ts (noble for the curve
// and the KDF, WebCrypto for AES-GCM) must agree with them step by step.

interface Vector {
  description: string
  recipientPrivateKey: string
  recipientPublicKey: string
  ephemeralPrivateKey: string
  plaintext: string
  intermediate: { sharedSecretX: string; aesKey: string }
  envelope: EncryptedPayload
}
interface Invalid {
  description: string
  recipientPrivateKey: string
  envelope: Record<string, unknown>
}
const file = JSON.parse(readFileSync(new URL('../fixtures/ecies-vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[]; invalid: Invalid[] }
const hex = (b: Uint8Array): string => '0x' + Buffer.from(b).toString('hex')

t.ok(file.vectors.length >= 4 && file.invalid.length >= 5, 'the fixture holds the vectors')

t.test('this node decrypts every committed vector', async (t) => {
  for (const v of file.vectors) {
    t.equal(hex(decryptWith(fromHex(v.recipientPrivateKey), v.envelope)), v.plaintext, v.description)
  }
})

t.test('encrypting with the fixed ephemeral key and iv reproduces every vector byte for byte', async (t) => {
  for (const v of file.vectors) {
    const env = encryptForVector(fromHex(v.recipientPublicKey), fromHex(v.plaintext), fromHex(v.ephemeralPrivateKey), fromHex(v.envelope.iv))
    t.same(env, v.envelope, v.description)
    t.same(Object.keys(env), ['v', 'ephemeralPublicKey', 'iv', 'ciphertext', 'tag'], 'field order as specified')
  }
})

t.test('an independent implementation follows the spec to the same bytes', async (t) => {
  const info = new TextEncoder().encode('medrec-gatekeeper-v1')
  for (const v of file.vectors) {
    const sk = fromHex(v.recipientPrivateKey)
    const esk = fromHex(v.ephemeralPrivateKey)
    t.equal(hex(secp256k1.getPublicKey(sk, false)), v.recipientPublicKey, `${v.description}: recipient public key`)
    const eph = secp256k1.getPublicKey(esk, false)
    t.equal(hex(eph), v.envelope.ephemeralPublicKey, `${v.description}: ephemeral public key`)
    // ECDH from both sides: the x coordinate of esk·P equals that of sk·E.
    const shared = secp256k1.getSharedSecret(esk, fromHex(v.recipientPublicKey), true).subarray(1)
    t.equal(hex(shared), v.intermediate.sharedSecretX, `${v.description}: shared secret`)
    t.equal(hex(secp256k1.getSharedSecret(sk, eph, true).subarray(1)), v.intermediate.sharedSecretX, `${v.description}: the recipient derives the same secret`)
    const key = hkdf(sha256, shared, eph, info, 32)
    t.equal(hex(key), v.intermediate.aesKey, `${v.description}: HKDF output`)
    const aes = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt'])
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: fromHex(v.envelope.iv), additionalData: eph, tagLength: 128 }, aes, fromHex(v.plaintext)))
    t.equal(hex(sealed.subarray(0, sealed.length - 16)), v.envelope.ciphertext, `${v.description}: ciphertext`)
    t.equal(hex(sealed.subarray(sealed.length - 16)), v.envelope.tag, `${v.description}: tag`)
  }
})

t.test('every invalid vector is refused with DECRYPT_FAILED', async (t) => {
  for (const v of file.invalid) {
    t.throws(() => decryptWith(fromHex(v.recipientPrivateKey), v.envelope), { code: GatekeeperErrorCode.DECRYPT_FAILED }, v.description)
  }
})

t.test('encryptForVector refuses keys and ivs of the wrong size', async (t) => {
  const v = file.vectors[0]!
  const pub = fromHex(v.recipientPublicKey)
  t.throws(() => encryptForVector(pub, new Uint8Array(1), new Uint8Array(31), new Uint8Array(12)), { code: GatekeeperErrorCode.INTERNAL })
  t.throws(() => encryptForVector(pub, new Uint8Array(1), fromHex(v.ephemeralPrivateKey), new Uint8Array(16)), { code: GatekeeperErrorCode.INTERNAL })
  t.throws(() => encryptForVector(pub, new Uint8Array(1), new Uint8Array(32), new Uint8Array(12)), { code: GatekeeperErrorCode.INTERNAL, message: /scalar/ }, 'zero is not a private key')
})
