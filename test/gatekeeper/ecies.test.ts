import t from 'tap'
import { createDecipheriv, randomBytes } from 'node:crypto'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { fromHex } from '../../common/index.ts'
import { createEncryptor, decryptWith, encryptTo } from '../../gatekeeper/ecies.ts'
import type { EncryptedPayload } from '../../gatekeeper/types.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'

const sk = secp256k1.utils.randomSecretKey()
const pub = secp256k1.getPublicKey(sk, false)

t.test('round trip for empty, small and large payloads; every envelope is fresh', async (t) => {
  for (const size of [0, 1, 31, 1000, 200_000]) {
    const plain = randomBytes(size)
    const env = encryptTo(pub, plain)
    t.same(Object.keys(env).sort(), ['ciphertext', 'ephemeralPublicKey', 'iv', 'tag', 'v'])
    t.equal(fromHex(env.ephemeralPublicKey).length, 65)
    t.equal(fromHex(env.iv).length, 12)
    t.equal(fromHex(env.tag).length, 16)
    t.equal(fromHex(env.ciphertext).length, size, 'GCM: ciphertext as long as the plaintext')
    t.ok(Buffer.from(decryptWith(sk, JSON.parse(JSON.stringify(env)))).equals(plain), `${size} bytes`)
  }
  const a = encryptTo(pub, Buffer.from('same'))
  const b = encryptTo(pub, Buffer.from('same'))
  t.not(a.ephemeralPublicKey, b.ephemeralPublicKey, 'fresh ephemeral key')
  t.not(a.iv, b.iv, 'fresh iv')
  t.not(a.ciphertext, b.ciphertext)
})

t.test('the envelope follows the documented scheme (checked with an independent implementation)', async (t) => {
  const plain = Buffer.from('{"resourceType":"Bundle"}')
  const env = encryptTo(pub, plain)
  const eph = fromHex(env.ephemeralPublicKey)
  const shared = secp256k1.getSharedSecret(sk, eph, true).subarray(1) // x coordinate
  const key = hkdf(sha256, shared, eph, new TextEncoder().encode('medrec-gatekeeper-v1'), 32)
  const d = createDecipheriv('aes-256-gcm', key, fromHex(env.iv), { authTagLength: 16 })
  d.setAAD(eph)
  d.setAuthTag(fromHex(env.tag))
  t.ok(Buffer.concat([d.update(fromHex(env.ciphertext)), d.final()]).equals(plain))
})

t.test('tampering, another key and malformed envelopes fail with DECRYPT_FAILED', async (t) => {
  const env = encryptTo(pub, Buffer.from('top secret record'))
  const flip = (hex: string, at = 2): string => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1)
  const fail = { code: GatekeeperErrorCode.DECRYPT_FAILED }
  t.throws(() => decryptWith(secp256k1.utils.randomSecretKey(), env), { ...fail, message: /authentication failed/ }, 'another key')
  t.throws(() => decryptWith(sk, { ...env, ciphertext: flip(env.ciphertext) }), { ...fail, message: /authentication failed/ }, 'ciphertext')
  t.throws(() => decryptWith(sk, { ...env, ciphertext: env.ciphertext.slice(0, -2) }), fail, 'truncated ciphertext')
  t.throws(() => decryptWith(sk, { ...env, tag: flip(env.tag) }), fail, 'tag')
  t.throws(() => decryptWith(sk, { ...env, iv: flip(env.iv) }), fail, 'iv')
  // Another valid point as ephemeral key: ECDH succeeds, authentication must not.
  const otherEph = '0x' + Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false)).toString('hex')
  t.throws(() => decryptWith(sk, { ...env, ephemeralPublicKey: otherEph }), { ...fail, message: /authentication failed/ }, 'ephemeral key replaced')
  t.throws(() => decryptWith(sk, { ...env, ephemeralPublicKey: flip(env.ephemeralPublicKey, 10) }), fail, 'ephemeral key not on the curve')
  const malformed: [string, unknown][] = [
    ['null', null],
    ['string', 'abc'],
    ['array', [env]],
    ['missing tag', { v: 1, ephemeralPublicKey: env.ephemeralPublicKey, iv: env.iv, ciphertext: env.ciphertext }],
    ['extra key', { ...env, note: 'x' }],
    ['version 2', { ...env, v: 2 }],
    ['non-hex', { ...env, ciphertext: '0xzz' }],
    ['no 0x', { ...env, iv: env.iv.slice(2) }],
    ['short iv', { ...env, iv: env.iv.slice(0, -2) }],
    ['compressed ephemeral key', { ...env, ephemeralPublicKey: '0x' + Buffer.from(secp256k1.getPublicKey(sk, true)).toString('hex') }],
    ['number', { ...env, tag: 5 }],
  ]
  for (const [name, payload] of malformed) t.throws(() => decryptWith(sk, payload), fail, name)
  t.throws(() => decryptWith(new Uint8Array(31), env), fail, 'short private key')
  t.throws(() => decryptWith(new Uint8Array(32), env), fail, 'zero private key')
  t.throws(() => encryptTo(pub.subarray(0, 64), Buffer.from('x')), { code: GatekeeperErrorCode.INTERNAL })
  t.throws(() => encryptTo(secp256k1.getPublicKey(sk, true), Buffer.from('x')), { code: GatekeeperErrorCode.INTERNAL }, 'compressed key refused')
  const notOnCurve = Uint8Array.from(pub)
  notOnCurve[64]! ^= 1
  t.throws(() => encryptTo(notOnCurve, Buffer.from('x')), { code: GatekeeperErrorCode.INTERNAL, message: /not a point/ })
  t.ok(Buffer.from(decryptWith(sk, env as EncryptedPayload)).equals(Buffer.from('top secret record')), 'the original still decrypts')
})

t.test('a reply encryptor reuses its ephemeral key within the window and rotates after it', async (t) => {
  const sk = secp256k1.utils.randomSecretKey()
  const pub = secp256k1.getPublicKey(sk, false)
  let clock = 1_000
  const encrypt = createEncryptor({ rotateMs: 60_000, now: () => clock })
  const a = encrypt(pub, Buffer.from('first'))
  const b = encrypt(pub, Buffer.from('second'))
  t.equal(Buffer.from(decryptWith(sk, a)).toString(), 'first', 'readable with decryptWith')
  t.equal(Buffer.from(decryptWith(sk, b)).toString(), 'second')
  t.equal(a.ephemeralPublicKey, b.ephemeralPublicKey, 'same ephemeral key within the window')
  t.not(a.iv, b.iv, 'but a fresh iv per message')
  clock += 60_000
  const c = encrypt(pub, Buffer.from('third'))
  t.not(c.ephemeralPublicKey, a.ephemeralPublicKey, 'a new ephemeral key after the window')
  t.equal(Buffer.from(decryptWith(sk, c)).toString(), 'third')
  t.throws(() => encrypt(pub.subarray(0, 64), Buffer.from('x')), { code: GatekeeperErrorCode.INTERNAL }, 'a malformed recipient key is refused')
})
