import t from 'tap'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { bytesToNumberBE, numberToBytesBE } from '@noble/curves/utils.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { SECP256K1_HALF_N, SECP256K1_N, recoverPublicKey } from '../../common/secp256k1.ts'

const word = (n: bigint): Uint8Array => numberToBytesBE(n, 32)
const rs = (r: bigint, s: bigint): Uint8Array => Uint8Array.from([...word(r), ...word(s)])

function signed(i: number) {
  const key = keccak_256(new TextEncoder().encode(`key ${i}`))
  const hash = keccak_256(new TextEncoder().encode(`message ${i}`))
  const sig = secp256k1.sign(hash, key, { prehash: false, format: 'recovered' }) // rec ‖ r ‖ s
  return { hash, rec: sig[0]!, r: bytesToNumberBE(sig.subarray(1, 33)), s: bytesToNumberBE(sig.subarray(33, 65)), pub: secp256k1.getPublicKey(key, false) }
}

t.test('the curve order is secp256k1\'s', async (t) => {
  t.equal(SECP256K1_N, secp256k1.Point.CURVE().n)
  t.equal(SECP256K1_HALF_N, secp256k1.Point.CURVE().n / 2n)
})

t.test('recovers the same key as @noble/curves for 200 signatures', async (t) => {
  let same = 0
  for (let i = 0; i < 200; i++) {
    const { hash, rec, r, s, pub } = signed(i)
    const got = recoverPublicKey(hash, rs(r, s), rec)
    const noble = new secp256k1.Signature(r, s, rec).recoverPublicKey(hash).toBytes(false)
    if (got !== undefined && Buffer.from(got).equals(Buffer.from(pub)) && Buffer.from(noble).equals(Buffer.from(pub))) same++
  }
  t.equal(same, 200)
})

t.test('the other recovery id gives another key; the other half of s with it gives the same key', async (t) => {
  const { hash, rec, r, s, pub } = signed(1)
  t.ok(s <= SECP256K1_HALF_N, 'noble signs low s')
  const other = recoverPublicKey(hash, rs(r, s), 1 - rec)
  t.not(other, undefined)
  t.notSame(other, pub)
  // High s is accepted here (Clique seals do not require low s); EIP-2 is the caller's check.
  t.same(recoverPublicKey(hash, rs(r, SECP256K1_N - s), 1 - rec), pub)
})

t.test('invalid signatures recover nothing, and do not throw', async (t) => {
  const { hash, rec, r, s } = signed(2)
  const cases: Array<[string, Uint8Array, Uint8Array, number]> = [
    ['r = 0', hash, rs(0n, s), rec],
    ['s = 0', hash, rs(r, 0n), rec],
    ['r = n', hash, rs(SECP256K1_N, s), rec],
    ['s = n', hash, rs(r, SECP256K1_N), rec],
    ['r = 2^256 - 1', hash, rs((1n << 256n) - 1n, s), rec],
    ['r not the x of a curve point (x = 5)', hash, rs(5n, s), rec],
    ['recovery id 2', hash, rs(r, s), 2],
    ['recovery id -1', hash, rs(r, s), -1],
    ['hash of 31 bytes', hash.subarray(1), rs(r, s), rec],
    ['signature of 63 bytes', hash, rs(r, s).subarray(1), rec],
  ]
  for (const [name, h, sig, id] of cases) t.equal(recoverPublicKey(h, sig, id), undefined, name)
  t.throws(() => new secp256k1.Signature(5n, s, rec).recoverPublicKey(hash), 'noble agrees that x = 5 is off the curve')
})
