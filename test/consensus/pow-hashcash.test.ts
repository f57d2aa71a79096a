import t from 'tap'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { NONCE_BYTES, meetsDifficulty, nonceBytes, nonceValue, powHash, powTarget, searchNonce } from '../../consensus/pow/hashcash.ts'

/** Keccak-256 hashcash: what searchNonce finds verifies, and nothing else does. */

const enc = (s: string) => new TextEncoder().encode(s)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const MAX64 = (1n << 64n) - 1n
const D20 = 1n << 20n
/** A big-endian 32-byte hash of `n`. */
function word(n: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'))
}
/** The verifier's view, built from keccak_256 alone. */
const naive = (seal: Uint8Array, n: bigint, d: bigint) => meetsDifficulty(keccak_256(new Uint8Array([...seal, ...nonceBytes(n)])), d)

// This seal has a nonce meeting 2^20 early (found once by search: the 10,053rd nonce from 0), so
// the test mines at 2^20 for real in ~10k hashes instead of ~1M.
const SEAL = keccak_256(enc('pow-hashcash-test-56'))

t.test('a nonce found by searchNonce verifies; any other nonce or seal hash does not', async (t) => {
  const { nonce, tried } = searchNonce(SEAL, D20, 0n, 20_000)
  t.ok(nonce, 'found')
  t.equal(tried, 10_053, 'the first nonce from 0 that meets 2^20')
  t.equal(nonceValue(nonce!), 10_052n)
  const hash = powHash(SEAL, nonce!)
  t.equal(hex(hash), hex(keccak_256(new Uint8Array([...SEAL, ...nonce!]))), 'powHash = keccak256(sealHash ‖ nonce)')
  t.ok(meetsDifficulty(hash, D20), `hash 0x${hex(hash).slice(0, 12)}… ≤ 2^256 / 2^20`)
  t.notOk(meetsDifficulty(hash, 1n << 40n), 'but not a far higher difficulty')
  for (let byte = 0; byte < NONCE_BYTES; byte++) {
    const flipped = Uint8Array.from(nonce!)
    flipped[byte]! ^= 1
    t.notOk(meetsDifficulty(powHash(SEAL, flipped), D20), `nonce with a bit of byte ${byte} flipped fails`)
  }
  for (const byte of [0, 15, 31]) {
    const other = Uint8Array.from(SEAL)
    other[byte]! ^= 0x80
    t.notOk(meetsDifficulty(powHash(other, nonce!), D20), `seal hash with byte ${byte} changed fails`)
  }
  t.same(searchNonce(SEAL, D20, 0n, 10_052), { nonce: undefined, tried: 10_052 }, 'one nonce short: nothing, every nonce tried')
  t.same(searchNonce(SEAL, D20, 10_052n, 1), { nonce, tried: 1 }, 'starting on it: found at once')
})

t.test('searchNonce decides exactly as keccak_256 + meetsDifficulty, nonce by nonce', async (t) => {
  // The hot loop runs keccak-f on its own state; any difference from keccak_256 shows up here.
  const seal = keccak_256(enc('equivalence'))
  for (const d of [2n, 3n, 255n, 256n, 257n, 1000n]) {
    let agree = 0
    let passed = 0
    for (let n = 0n; n < 1500n; n++) {
      const expect = naive(seal, n, d)
      const got = searchNonce(seal, d, n, 1).nonce !== undefined
      if (got === expect) agree++
      if (expect) passed++
    }
    t.equal(agree, 1500, `difficulty ${d}: 1500/1500 agree (${passed} pass)`)
  }
  // a run over many nonces returns the first that passes, and counts up to it
  const d = 64n
  let first = 0n
  while (!naive(seal, first, d)) first++
  const r = searchNonce(seal, d, 0n, 100_000)
  t.equal(nonceValue(r.nonce!), first)
  t.equal(r.tried, Number(first) + 1)
})

t.test('nonces from random starts at 2^12 verify', async (t) => {
  for (let i = 0; i < 6; i++) {
    const seal = keccak_256(enc(`random-start-${i}`))
    const start = nonceValue(keccak_256(enc(`start-${i}`)).subarray(0, 8))
    const { nonce, tried } = searchNonce(seal, 1n << 12n, start, 200_000)
    t.ok(nonce !== undefined && meetsDifficulty(powHash(seal, nonce), 1n << 12n), `seal ${i}: found after ${tried} and verified`)
    t.equal(nonceValue(nonce!), (start + BigInt(tried) - 1n) & MAX64, 'the nonce is start + tried - 1')
  }
})

t.test('the nonce wraps from 2^64 - 1 to 0', async (t) => {
  const d = 4n
  // a seal whose last two nonces fail and whose nonce 0 or 1 passes
  let seal = new Uint8Array(32)
  for (let i = 0; ; i++) {
    seal = keccak_256(enc(`wrap-${i}`))
    if (!naive(seal, MAX64 - 1n, d) && !naive(seal, MAX64, d) && (naive(seal, 0n, d) || naive(seal, 1n, d))) break
  }
  const expected = naive(seal, 0n, d) ? 0n : 1n
  const r = searchNonce(seal, d, MAX64 - 1n, 4)
  t.equal(nonceValue(r.nonce!), expected, `found ${expected} after 2^64 - 2 and 2^64 - 1`)
  t.equal(r.tried, Number(expected) + 3)
})

t.test('meetsDifficulty: a hash equal to the target passes, target + 1 fails', async (t) => {
  for (const d of [2n, 3n, 1000n, 12_345_678n, D20, (1n << 200n) + 7n]) {
    const target = powTarget(d)
    t.equal(target, (1n << 256n) / d)
    t.ok(meetsDifficulty(word(target), d), `difficulty ${d}: hash = target passes`)
    t.notOk(meetsDifficulty(word(target + 1n), d), `difficulty ${d}: target + 1 fails`)
    t.ok(meetsDifficulty(word(target - 1n), d), `difficulty ${d}: target - 1 passes`)
    t.ok(meetsDifficulty(word(0n), d), 'zero passes')
  }
  t.ok(meetsDifficulty(word((1n << 256n) - 1n), 1n), 'difficulty 1: every hash passes, even 2^256 - 1')
  t.notOk(meetsDifficulty(word((1n << 256n) - 1n), 2n), 'difficulty 2: 2^256 - 1 fails')
  // the last byte decides when all others are equal
  const d = 3n
  const tb = word(powTarget(d))
  const low = Uint8Array.from(tb)
  low[31]! -= 1
  const high = Uint8Array.from(tb)
  high[31]! += 1
  t.ok(meetsDifficulty(low, d))
  t.notOk(meetsDifficulty(high, d))
  t.same(searchNonce(SEAL, 1n, 123n, 5), { nonce: nonceBytes(123n), tried: 1 }, 'searchNonce at difficulty 1 takes the first nonce')
})

t.test('difficulty 0 or negative, and malformed inputs, are refused', async (t) => {
  for (const d of [0n, -1n, -(1n << 70n)]) {
    t.throws(() => powTarget(d), { code: 'CONSENSUS_INVALID_DIFFICULTY', message: /at least 1/ }, `powTarget(${d})`)
    t.throws(() => meetsDifficulty(word(0n), d), { code: 'CONSENSUS_INVALID_DIFFICULTY' }, `meetsDifficulty(…, ${d})`)
    t.throws(() => searchNonce(SEAL, d, 0n, 10), { code: 'CONSENSUS_INVALID_DIFFICULTY' }, `searchNonce(…, ${d})`)
  }
  t.throws(() => powHash(SEAL.subarray(1), nonceBytes(0n)), { code: 'CONSENSUS_INVALID_POW', message: /seal hash is 32 bytes/ })
  t.throws(() => powHash(SEAL, new Uint8Array(7)), { code: 'CONSENSUS_INVALID_POW', message: /nonce is 8 bytes/ })
  t.throws(() => meetsDifficulty(new Uint8Array(31), 2n), { code: 'CONSENSUS_INVALID_POW' })
  t.throws(() => searchNonce(SEAL, 2n, -1n, 10), { code: 'CONSENSUS_INVALID_POW', message: /64-bit/ })
  t.throws(() => searchNonce(SEAL, 2n, 1n << 64n, 10), { code: 'CONSENSUS_INVALID_POW' })
  t.throws(() => searchNonce(SEAL, 2n, 0n, -1), { code: 'CONSENSUS_INVALID_POW_PARAMS' })
  t.throws(() => searchNonce(SEAL, 2n, 0n, 1.5), { code: 'CONSENSUS_INVALID_POW_PARAMS' })
  t.same(searchNonce(SEAL, 2n, 0n, 0), { nonce: undefined, tried: 0 }, 'count 0 tries nothing')
})

t.test('nonceBytes / nonceValue: 8 bytes big-endian, round trip', async (t) => {
  t.equal(NONCE_BYTES, 8)
  t.same([...nonceBytes(0x0102030405060708n)], [1, 2, 3, 4, 5, 6, 7, 8], 'big-endian')
  for (const n of [0n, 1n, 255n, 256n, 0xdeadbeefn, 1n << 63n, MAX64, nonceValue(keccak_256(enc('x')).subarray(3, 11))]) {
    t.equal(nonceValue(nonceBytes(n)), n, `round trip ${n}`)
  }
  const inner = new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 2, 9])
  t.equal(nonceValue(inner.subarray(1, 9)), 0x102n, 'reads a subarray at its offset')
  t.throws(() => nonceBytes(-1n), { code: 'CONSENSUS_INVALID_POW' })
  t.throws(() => nonceBytes(1n << 64n), { code: 'CONSENSUS_INVALID_POW' })
  t.throws(() => nonceValue(new Uint8Array(9)), { code: 'CONSENSUS_INVALID_POW' })
})
