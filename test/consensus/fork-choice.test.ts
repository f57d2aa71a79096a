import t from 'tap'
import { createBlockHeader, type BlockHeader } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { EXTRA_SEAL, EXTRA_VANITY, PoaEngine, createSnapshot, type HeadCandidate, type PoaSnapshot } from '../../consensus/index.ts'
import { createChainCommon } from '../../evm/index.ts'

/** EIP-3436: total difficulty, then the lower number, then the least recently in-turn signer, then the lower hash. */

const engine = new PoaEngine({ period: 1, epoch: 30000n })
const common = createChainCommon({ chainId: 1337n, period: 1, epoch: 30000n })
const keys = Array.from({ length: 8 }, (_, i) => keccak_256(new TextEncoder().encode(`fork-choice-${i}`)))
const addr = (k: Uint8Array) => new Address(keccak_256(secp256k1.getPublicKey(k, false).subarray(1)).subarray(12)).toString()
// validators sorted by address, so index i is the in-turn signer of numbers ≡ i (mod 8)
const sorted = keys.map((k) => ({ k, a: addr(k) })).sort((x, y) => (x.a < y.a ? -1 : 1))
const snap: PoaSnapshot = createSnapshot(0n, new Uint8Array(32), sorted.map((v) => v.a))

function header(number: bigint, signerIndex: number, salt = 0): BlockHeader {
  const fields = {
    number,
    timestamp: number + BigInt(salt),
    gasLimit: 8_000_000n,
    baseFeePerGas: 1n,
    difficulty: number % 8n === BigInt(signerIndex) ? 2n : 1n,
    extraData: new Uint8Array(EXTRA_VANITY + EXTRA_SEAL),
  }
  const unsealed = createBlockHeader(fields, { common, setHardfork: false })
  return createBlockHeader({ ...fields, extraData: engine.seal(unsealed, sorted[signerIndex]!.k) }, { common, setHardfork: false })
}
const cand = (h: BlockHeader, td: bigint): HeadCandidate<PoaSnapshot> => ({ header: h, totalDifficulty: td, parentSnap: snap })
const better = (a: HeadCandidate<PoaSnapshot>, b: HeadCandidate<PoaSnapshot>) => engine.isBetterHead(a, b)

t.test('rule 1: the higher total difficulty wins, whatever the length', async (t) => {
  const long = cand(header(20n, 3), 30n)
  const short = cand(header(12n, 4), 31n)
  t.ok(better(short, long))
  t.notOk(better(long, short))
})

t.test('rule 2: at equal total difficulty the lower number wins', async (t) => {
  const a = cand(header(11n, 5), 30n)
  const b = cand(header(12n, 6), 30n)
  t.ok(better(a, b))
  t.notOk(better(b, a))
})

t.test('rule 3: then the signer whose in-turn slot is furthest back wins', async (t) => {
  // block 17 (≡ 1 mod 8): signer 0 was in turn 1 block ago, signer 2 was in turn 7 blocks ago
  const byZero = cand(header(17n, 0), 40n)
  const byTwo = cand(header(17n, 2), 40n)
  t.ok(better(byTwo, byZero), '(17 - 2) mod 8 = 7 beats (17 - 0) mod 8 = 1')
  t.notOk(better(byZero, byTwo))
  const inTurn = cand(header(17n, 1), 40n)
  t.ok(better(byZero, inTurn), 'an in-turn block (distance 0) counts as the most recent turn')
})

t.test('rule 4: then the lower hash; the order is strict and the same on every node', async (t) => {
  const a = cand(header(9n, 3, 0), 20n)
  const b = cand(header(9n, 3, 1), 20n)
  const lowerFirst = Buffer.compare(a.header.hash(), b.header.hash()) < 0
  t.equal(better(a, b), lowerFirst)
  t.equal(better(b, a), !lowerFirst)
  t.notOk(better(a, a), 'a head is not better than itself')
})

t.test('the EIP-3436 deadlock: two forks of equal weight resolve to the same head on both sides', async (t) => {
  // validator 8 (index 7) just sealed block 7 in turn; validators 5, 7 and 8 go offline
  // fork X: validator 1 in turn (block 8), then validator 3 out of turn (block 9): +3
  // fork Y: validators 2, 4, 6 out of turn (blocks 8, 9, 10): +3
  const base = 100n
  const x = [header(8n, 0), header(9n, 2)]
  const y = [header(8n, 1), header(9n, 3), header(10n, 5)]
  const td = (hs: BlockHeader[]) => hs.reduce((s, h) => s + h.difficulty, base)
  t.equal(td(x), td(y), 'equal total difficulty: plain Clique has no rule to choose')
  const headX = cand(x.at(-1)!, td(x))
  const headY = cand(y.at(-1)!, td(y))
  t.ok(better(headX, headY), 'nodes on Y switch to X')
  t.notOk(better(headY, headX), 'nodes on X stay')
})
