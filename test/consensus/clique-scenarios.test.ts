import t from 'tap'
import { createBlockHeader, type BlockHeader } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { ConsensusErrorCode, EXTRA_SEAL, isConsensusError, EXTRA_VANITY, NONCE_AUTH, NONCE_DROP, PoaEngine, createSnapshot, decodeSnapshot, encodeSnapshot, type PoaSnapshot } from '../../consensus/index.ts'
import { createChainCommon } from '../../evm/index.ts'

/**
 * The 24 voting scenarios of go-ethereum's clique snapshot tests (the EIP-225 test cases plus the
 * Rinkeby split of go-ethereum#17593), translated: each block is a real header sealed with the
 * signer's key and run through PoaEngine.apply. `newBatch` stores and reloads the snapshot before
 * the block, as a node restarting between imports would.
 */

interface Vote {
  signer: string
  voted?: string
  auth?: boolean
  checkpoint?: string[]
  newBatch?: boolean
}
interface Scenario {
  name: string
  epoch?: number
  signers: string[]
  votes: Vote[]
  results?: string[]
  failure?: string
}

const scenarios: Scenario[] = [
  { name: 'single signer, no votes cast', signers: ['A'], votes: [{ signer: 'A' }], results: ['A'] },
  {
    name: 'single signer, voting to add two others (only the first passes, the second needs 2 votes)',
    signers: ['A'],
    votes: [{ signer: 'A', voted: 'B', auth: true }, { signer: 'B' }, { signer: 'A', voted: 'C', auth: true }],
    results: ['A', 'B'],
  },
  {
    name: 'two signers, voting to add three others (the third needs 3 votes already)',
    signers: ['A', 'B'],
    votes: [
      { signer: 'A', voted: 'C', auth: true },
      { signer: 'B', voted: 'C', auth: true },
      { signer: 'A', voted: 'D', auth: true },
      { signer: 'B', voted: 'D', auth: true },
      { signer: 'C' },
      { signer: 'A', voted: 'E', auth: true },
      { signer: 'B', voted: 'E', auth: true },
    ],
    results: ['A', 'B', 'C', 'D'],
  },
  { name: 'single signer, dropping itself', signers: ['A'], votes: [{ signer: 'A', voted: 'A', auth: false }], results: [] },
  { name: 'two signers, mutual consent needed to drop either (not fulfilled)', signers: ['A', 'B'], votes: [{ signer: 'A', voted: 'B', auth: false }], results: ['A', 'B'] },
  {
    name: 'two signers, mutual consent needed to drop either (fulfilled)',
    signers: ['A', 'B'],
    votes: [
      { signer: 'A', voted: 'B', auth: false },
      { signer: 'B', voted: 'B', auth: false },
    ],
    results: ['A'],
  },
  {
    name: 'three signers, two of them dropping the third',
    signers: ['A', 'B', 'C'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B', voted: 'C', auth: false },
    ],
    results: ['A', 'B'],
  },
  {
    name: 'four signers, two votes (exactly half) are not enough to drop anyone',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B', voted: 'C', auth: false },
    ],
    results: ['A', 'B', 'C', 'D'],
  },
  {
    name: 'four signers, three votes are enough to drop one',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'D', auth: false },
      { signer: 'B', voted: 'D', auth: false },
      { signer: 'C', voted: 'D', auth: false },
    ],
    results: ['A', 'B', 'C'],
  },
  {
    name: 'authorisations are counted once per signer per target',
    signers: ['A', 'B'],
    votes: [{ signer: 'A', voted: 'C', auth: true }, { signer: 'B' }, { signer: 'A', voted: 'C', auth: true }, { signer: 'B' }, { signer: 'A', voted: 'C', auth: true }],
    results: ['A', 'B'],
  },
  {
    name: 'authorising several accounts concurrently is permitted',
    signers: ['A', 'B'],
    votes: [
      { signer: 'A', voted: 'C', auth: true },
      { signer: 'B' },
      { signer: 'A', voted: 'D', auth: true },
      { signer: 'B' },
      { signer: 'A' },
      { signer: 'B', voted: 'D', auth: true },
      { signer: 'A' },
      { signer: 'B', voted: 'C', auth: true },
    ],
    results: ['A', 'B', 'C', 'D'],
  },
  {
    name: 'deauthorisations are counted once per signer per target',
    signers: ['A', 'B'],
    votes: [{ signer: 'A', voted: 'B', auth: false }, { signer: 'B' }, { signer: 'A', voted: 'B', auth: false }, { signer: 'B' }, { signer: 'A', voted: 'B', auth: false }],
    results: ['A', 'B'],
  },
  {
    name: 'deauthorising several accounts concurrently is permitted',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B' },
      { signer: 'C' },
      { signer: 'A', voted: 'D', auth: false },
      { signer: 'B' },
      { signer: 'C' },
      { signer: 'A' },
      { signer: 'B', voted: 'D', auth: false },
      { signer: 'C', voted: 'D', auth: false },
      { signer: 'A' },
      { signer: 'B', voted: 'C', auth: false },
    ],
    results: ['A', 'B'],
  },
  {
    name: 'votes from deauthorised signers are discarded immediately (deauth votes)',
    signers: ['A', 'B', 'C'],
    votes: [
      { signer: 'C', voted: 'B', auth: false },
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B', voted: 'C', auth: false },
      { signer: 'A', voted: 'B', auth: false },
    ],
    results: ['A', 'B'],
  },
  {
    name: 'votes from deauthorised signers are discarded immediately (auth votes)',
    signers: ['A', 'B', 'C'],
    votes: [
      { signer: 'C', voted: 'D', auth: true },
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B', voted: 'C', auth: false },
      { signer: 'A', voted: 'D', auth: true },
    ],
    results: ['A', 'B'],
  },
  {
    name: 'cascading changes are not allowed, only the account voted on may change',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B' },
      { signer: 'C' },
      { signer: 'A', voted: 'D', auth: false },
      { signer: 'B', voted: 'C', auth: false },
      { signer: 'C' },
      { signer: 'A' },
      { signer: 'B', voted: 'D', auth: false },
      { signer: 'C', voted: 'D', auth: false },
    ],
    results: ['A', 'B', 'C'],
  },
  {
    name: 'changes reaching consensus out of bounds (via a deauth) execute on touch',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B' },
      { signer: 'C' },
      { signer: 'A', voted: 'D', auth: false },
      { signer: 'B', voted: 'C', auth: false },
      { signer: 'C' },
      { signer: 'A' },
      { signer: 'B', voted: 'D', auth: false },
      { signer: 'C', voted: 'D', auth: false },
      { signer: 'A' },
      { signer: 'C', voted: 'C', auth: true },
    ],
    results: ['A', 'B'],
  },
  {
    name: 'changes reaching consensus out of bounds (via a deauth) may go out of consensus on first touch',
    signers: ['A', 'B', 'C', 'D'],
    votes: [
      { signer: 'A', voted: 'C', auth: false },
      { signer: 'B' },
      { signer: 'C' },
      { signer: 'A', voted: 'D', auth: false },
      { signer: 'B', voted: 'C', auth: false },
      { signer: 'C' },
      { signer: 'A' },
      { signer: 'B', voted: 'D', auth: false },
      { signer: 'C', voted: 'D', auth: false },
      { signer: 'A' },
      { signer: 'B', voted: 'C', auth: true },
    ],
    results: ['A', 'B', 'C'],
  },
  {
    name: 'pending votes do not survive authorisation status changes',
    signers: ['A', 'B', 'C', 'D', 'E'],
    votes: [
      { signer: 'A', voted: 'F', auth: true }, // authorise F, 3 votes needed
      { signer: 'B', voted: 'F', auth: true },
      { signer: 'C', voted: 'F', auth: true },
      { signer: 'D', voted: 'F', auth: false }, // deauthorise F, 4 votes needed (A's earlier vote stays "unchanged")
      { signer: 'E', voted: 'F', auth: false },
      { signer: 'B', voted: 'F', auth: false },
      { signer: 'C', voted: 'F', auth: false },
      { signer: 'D', voted: 'F', auth: true }, // almost authorise F again, 2 of 3 votes
      { signer: 'E', voted: 'F', auth: true },
      { signer: 'B', voted: 'A', auth: false }, // deauthorise A, 3 votes needed
      { signer: 'C', voted: 'A', auth: false },
      { signer: 'D', voted: 'A', auth: false },
      { signer: 'B', voted: 'F', auth: true }, // finish authorising F, 3 of 3 votes
    ],
    results: ['B', 'C', 'D', 'E', 'F'],
  },
  {
    name: 'epoch transitions reset all votes to allow chain checkpointing',
    epoch: 3,
    signers: ['A', 'B'],
    votes: [{ signer: 'A', voted: 'C', auth: true }, { signer: 'B' }, { signer: 'A', checkpoint: ['A', 'B'] }, { signer: 'B', voted: 'C', auth: true }],
    results: ['A', 'B'],
  },
  { name: 'an unauthorised signer cannot sign blocks', signers: ['A'], votes: [{ signer: 'B' }], failure: ConsensusErrorCode.UNAUTHORIZED_SIGNER },
  { name: 'an authorised signer that signed recently cannot sign again', signers: ['A', 'B'], votes: [{ signer: 'A' }, { signer: 'A' }], failure: ConsensusErrorCode.RECENTLY_SIGNED },
  {
    name: 'recent signatures do not reset on checkpoint blocks imported in a batch',
    epoch: 3,
    signers: ['A', 'B', 'C'],
    votes: [{ signer: 'A' }, { signer: 'B' }, { signer: 'A', checkpoint: ['A', 'B', 'C'] }, { signer: 'A' }],
    failure: ConsensusErrorCode.RECENTLY_SIGNED,
  },
  {
    name: 'recent signatures do not reset on checkpoint blocks imported in a new batch (the Rinkeby split)',
    epoch: 3,
    signers: ['A', 'B', 'C'],
    votes: [{ signer: 'A' }, { signer: 'B' }, { signer: 'A', checkpoint: ['A', 'B', 'C'] }, { signer: 'A', newBatch: true }],
    failure: ConsensusErrorCode.RECENTLY_SIGNED,
  },
]

const keyOf = (label: string): Uint8Array => keccak_256(new TextEncoder().encode(`clique-tester-${label}`))
const addressOf = (label: string): string => new Address(keccak_256(secp256k1.getPublicKey(keyOf(label), false).subarray(1)).subarray(12)).toString()

function run(sc: Scenario): { snap: PoaSnapshot; error?: { code: string; block: number } } {
  const epoch = BigInt(sc.epoch ?? 30000)
  const engine = new PoaEngine({ period: 1, epoch })
  const common = createChainCommon({ chainId: 1337n, period: 1, epoch })
  const genesisSigners = sc.signers.map(addressOf)
  let snap = createSnapshot(0n, new Uint8Array(32), genesisSigners)
  let parentHash: Uint8Array = new Uint8Array(32)
  for (const [j, v] of sc.votes.entries()) {
    const listed = (v.checkpoint ?? []).map(addressOf).sort()
    const extraData = new Uint8Array(EXTRA_VANITY + 20 * listed.length + EXTRA_SEAL)
    listed.forEach((a, i) => extraData.set(Buffer.from(a.slice(2), 'hex'), EXTRA_VANITY + 20 * i))
    const fields = {
      parentHash,
      number: BigInt(j + 1),
      timestamp: BigInt(j + 1),
      difficulty: 2n,
      gasLimit: 8_000_000n,
      baseFeePerGas: 1_000_000_000n,
      coinbase: v.voted === undefined ? new Address(new Uint8Array(20)) : new Address(Buffer.from(addressOf(v.voted).slice(2), "hex")),
      nonce: v.auth === true ? NONCE_AUTH : NONCE_DROP,
      extraData,
    }
    const unsealed = createBlockHeader(fields, { common, setHardfork: false })
    const header: BlockHeader = createBlockHeader({ ...fields, extraData: engine.seal(unsealed, keyOf(v.signer)) }, { common, setHardfork: false })
    if (v.newBatch === true) snap = decodeSnapshot(encodeSnapshot(snap))
    try {
      snap = engine.apply(snap, header)
    } catch (err) {
      if (!isConsensusError(err)) throw err
      return { snap, error: { code: err.code, block: j + 1 } }
    }
    parentHash = header.hash()
  }
  return { snap }
}

t.test('the 24 clique snapshot scenarios', async (t) => {
  t.equal(scenarios.length, 24, 'all 24 scenarios are here')
  for (const [i, sc] of scenarios.entries()) {
    const { snap, error } = run(sc)
    if (sc.failure !== undefined) {
      t.equal(error?.code, sc.failure, `#${i} ${sc.name}: fails with ${sc.failure}`)
      continue
    }
    t.equal(error, undefined, `#${i} ${sc.name}: every block applies`)
    t.same(snap.signers, sc.results!.map(addressOf).sort(), `#${i} ${sc.name}: signers`)
  }
})

t.test('a snapshot survives storage unchanged, votes and tallies included', async (t) => {
  const { snap } = run(scenarios[18]!) // five signers, votes in flight at the end
  const again = decodeSnapshot(encodeSnapshot(snap))
  t.same(again, snap)
  const mid = run({ ...scenarios[18]!, votes: scenarios[18]!.votes.slice(0, 9) }).snap
  t.ok(mid.votes.length > 0 && mid.tally.size > 0, 'a mid-vote snapshot has open votes')
  t.same(decodeSnapshot(encodeSnapshot(mid)), mid)
})
