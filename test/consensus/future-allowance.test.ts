import t from 'tap'
import { createBlockHeader, type BlockHeader } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { ConsensusErrorCode, EXTRA_SEAL, EXTRA_VANITY, PoaEngine, PowEngine, createSnapshot, futureAllowanceSeconds, isConsensusError } from '../../consensus/index.ts'
import { createChainCommon } from '../../evm/index.ts'

/**
 * The future-block allowance (issue 19): under PoA it follows the period (half of it, at least
 * 1 s), so a sealer whose clock runs ahead by more than that has its blocks refused instead of
 * imported and waited on; PoW keeps geth's 15 s.
 */

const key = keccak_256(new TextEncoder().encode('future-allowance'))
const signer = new Address(keccak_256(secp256k1.getPublicKey(key, false).subarray(1)).subarray(12)).toString()
const NOW_S = 1_800_000_000
const NOW_MS = NOW_S * 1000 + 400

function poaPair(period: number, aheadSeconds: number): { engine: PoaEngine; parent: BlockHeader; header: BlockHeader } {
  const engine = new PoaEngine({ period, epoch: 30000n })
  const common = createChainCommon({ chainId: 1337n, period, epoch: 30000n })
  const base = { gasLimit: 8_000_000n, baseFeePerGas: 1n, difficulty: 2n, extraData: new Uint8Array(EXTRA_VANITY + EXTRA_SEAL) }
  const parent = createBlockHeader({ ...base, number: 0n, timestamp: BigInt(NOW_S - 60) }, { common, setHardfork: false })
  const fields = { ...base, parentHash: parent.hash(), number: 1n, timestamp: BigInt(NOW_S + aheadSeconds) }
  const unsealed = createBlockHeader(fields, { common, setHardfork: false })
  const header = createBlockHeader({ ...fields, extraData: engine.seal(unsealed, key) }, { common, setHardfork: false })
  return { engine, parent, header }
}

const futureRefusal = (fn: () => void): boolean => {
  try {
    fn()
    return false
  } catch (err) {
    if (isConsensusError(err, ConsensusErrorCode.FUTURE_BLOCK)) return true
    throw err
  }
}

t.test('the PoA allowance is half the period, at least one second', async (t) => {
  t.equal(futureAllowanceSeconds(0), 1)
  t.equal(futureAllowanceSeconds(1), 1)
  t.equal(futureAllowanceSeconds(2), 1)
  t.equal(futureAllowanceSeconds(5), 3)
  t.equal(futureAllowanceSeconds(15), 8)
  t.equal(new PoaEngine({ period: 1, epoch: 30000n }).opts.allowedFutureSeconds, 1)
  t.equal(new PoaEngine({ period: 1, epoch: 30000n, allowedFutureSeconds: 4 }).opts.allowedFutureSeconds, 4, 'still settable')
})

t.test('period 1: a block from a sealer 10 s ahead is refused, not imported and waited on', async (t) => {
  const { engine, parent, header } = poaPair(1, 10)
  const snap = createSnapshot(0n, parent.hash(), [signer])
  t.ok(futureRefusal(() => engine.verifyHeader(header, parent, snap, NOW_MS)), '10 s ahead: CONSENSUS_FUTURE_BLOCK')
  const two = poaPair(1, 2)
  t.ok(futureRefusal(() => two.engine.verifyHeader(two.header, two.parent, snap, NOW_MS)), '2 s ahead: refused too')
})

t.test('period 1: a block stamped within the allowance is accepted (an in-turn seal a few ms early is not at fault)', async (t) => {
  for (const ahead of [0, 1]) {
    const { engine, parent, header } = poaPair(1, ahead)
    const snap = createSnapshot(0n, parent.hash(), [signer])
    t.doesNotThrow(() => engine.verifyHeader(header, parent, snap, NOW_MS), `${ahead} s ahead`)
  }
})

t.test('period 10: 5 s ahead is allowed, 6 s is not', async (t) => {
  const ok = poaPair(10, 5)
  const snap = createSnapshot(0n, ok.parent.hash(), [signer])
  t.doesNotThrow(() => ok.engine.verifyHeader(ok.header, ok.parent, snap, NOW_MS))
  const far = poaPair(10, 6)
  t.ok(futureRefusal(() => far.engine.verifyHeader(far.header, far.parent, snap, NOW_MS)))
})

t.test("PoW keeps geth's 15 s", async (t) => {
  const engine = new PowEngine({ targetBlockTime: 5, blockReward: 0n, minimumDifficulty: 1n })
  t.equal(engine.opts.allowedFutureSeconds, 15)
})
