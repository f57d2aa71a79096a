import t from 'tap'
import { createBlock, type Block } from '@ethereumjs/block'
import { Address, bytesToHex } from '@ethereumjs/util'
import { PowEngine, meetsDifficulty, powHash, powSealHash, searchNonce } from '../../consensus/index.ts'
import { Chain } from '../../node/chain/index.ts'
import type { SenderTx } from '../../evm/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { txFactory } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { POW_REWARD, minePow, openPowNode, powGenesis, powSealer, type PowNode } from '../helpers/pow.ts'

setLogLevel('error')
const minerA = new Address(new Uint8Array(20).fill(0xa1))
const minerB = new Address(new Uint8Array(20).fill(0xb2))
const sealer = powSealer(t)
const mine = (n: PowNode, author: Address, txs: SenderTx[] = []) => minePow(n, sealer, author, txs)

async function mineMany(n: PowNode, author: Address, count: number, txs: () => SenderTx[] = () => []): Promise<Block[]> {
  const out: Block[] = []
  for (let i = 0; i < count; i++) out.push((await mine(n, author, txs())).block)
  return out
}

const balance = async (chain: Chain, a: Address): Promise<bigint> => (await chain.headAccount(a)).balance
const root = (chain: Chain): string => bytesToHex(chain.head.block.header.stateRoot)

async function importAll(chain: Chain, blocks: Block[]): Promise<string[]> {
  const statuses: string[] = []
  for (const b of blocks) statuses.push((await chain.importBlock(b)).status)
  return statuses
}

/** `block` with header fields replaced and a fresh valid proof of work for the result. */
function remined(chain: Chain, block: Block, fields: Record<string, unknown>): Block {
  const opts = { common: chain.common, setHardfork: false }
  const draft = createBlock({ header: { ...block.header.toJSON(), ...fields }, transactions: block.transactions }, opts)
  const hash = powSealHash(draft.header)
  let found: Uint8Array | undefined
  for (let start = 0n; found === undefined; start += 100_000n) found = searchNonce(hash, draft.header.difficulty, start, 100_000).nonce
  return createBlock({ header: { ...draft.header.toJSON(), nonce: found }, transactions: block.transactions }, opts)
}

t.test('mined blocks verify on another node; the miner earns reward and fees', async (t) => {
  const a = await openPowNode(t)
  const b = await openPowNode(t)
  const f = txFactory(a.chain.common)
  const blocks = await mineMany(a, minerA, 3, () => [f.next('transfer'), f.next('transfer')])
  const h = blocks[2]!.header
  t.ok(meetsDifficulty(powHash(powSealHash(h), h.nonce), h.difficulty), 'the nonce is a proof of work')
  t.equal(a.chain.consensus.author(h).toString(), minerA.toString(), 'the author is the coinbase')
  t.same(await importAll(b.chain, blocks), ['head', 'head', 'head'])
  t.equal(root(b.chain), root(a.chain), 'same state root')
  const fees = (await balance(b.chain, minerA)) - 3n * POW_REWARD
  t.ok(fees > 0n, `3 rewards plus priority fees (${fees} wei of fees)`)
  const engine = a.chain.consensus as PowEngine
  let parent = (await a.chain.blockByNumber(0n))!.header
  for (const bl of blocks) {
    t.equal(bl.header.difficulty, engine.difficultyAfter(parent, bl.header.timestamp), `block ${bl.header.number}: difficulty by the rule`)
    parent = bl.header
  }
})

t.test('bad nonce, wrong difficulty, future and stale timestamps are rejected', async (t) => {
  const a = await openPowNode(t)
  const b = await openPowNode(t)
  const [first, good] = await mineMany(a, minerA, 2)
  await b.chain.importBlock(first!)
  const head = root(b.chain)

  // A nonce that does not meet the difficulty (the first failing one after the real nonce).
  const sealHash = powSealHash(good!.header)
  let bad = BigInt(`0x${Buffer.from(good!.header.nonce).toString('hex')}`)
  const nonceOf = (n: bigint) => new Uint8Array(Buffer.from(n.toString(16).padStart(16, '0'), 'hex'))
  do bad = (bad + 1n) & ((1n << 64n) - 1n)
  while (meetsDifficulty(powHash(sealHash, nonceOf(bad)), good!.header.difficulty))
  const badNonce = createBlock({ header: { ...good!.header.toJSON(), nonce: nonceOf(bad) }, transactions: [] }, { common: a.chain.common, setHardfork: false })
  await t.rejects(b.chain.importBlock(badNonce), { code: 'CONSENSUS_INVALID_POW', message: /does not meet difficulty/ })

  // Valid work, but for a difficulty the rule does not give.
  await t.rejects(b.chain.importBlock(remined(a.chain, good!, { difficulty: good!.header.difficulty * 2n })), { code: 'CONSENSUS_WRONG_DIFFICULTY' })
  await t.rejects(b.chain.importBlock(remined(a.chain, good!, { difficulty: good!.header.difficulty - 1n })), { code: 'CONSENSUS_WRONG_DIFFICULTY' })

  // Valid work and the right difficulty for a timestamp a minute ahead of the clock.
  const future = BigInt(Math.floor(Date.now() / 1000) + 60)
  const engine = a.chain.consensus as PowEngine
  const ahead = remined(a.chain, good!, { timestamp: future, difficulty: engine.difficultyAfter(first!.header, future) })
  await t.rejects(b.chain.importBlock(ahead), { code: 'CONSENSUS_FUTURE_BLOCK' })
  // And one stamped no later than its parent.
  const same = first!.header.timestamp
  await t.rejects(b.chain.importBlock(remined(a.chain, good!, { timestamp: same, difficulty: engine.difficultyAfter(first!.header, same + 1n) })), { code: /INVALID_TIMESTAMP|WRONG_DIFFICULTY/ })
  const stale = remined(a.chain, good!, { timestamp: same })
  await t.rejects(b.chain.importBlock(stale), { code: /INVALID_TIMESTAMP|WRONG_DIFFICULTY/ })

  t.equal(root(b.chain), head, 'nothing was applied')
  t.equal(b.chain.head.block.header.number, 1n)
  t.equal((await b.chain.importBlock(good!)).status, 'head', 'the genuine block still imports')
})

t.test('two competing miners fork, then both converge on the heaviest chain', async (t) => {
  const a = await openPowNode(t)
  const b = await openPowNode(t)
  const fromA = await mineMany(a, minerA, 3)
  const fromB = await mineMany(b, minerB, 5)
  t.not(bytesToHex(fromA[0]!.hash()), bytesToHex(fromB[0]!.hash()), 'they forked at block 1')
  const tdA = a.chain.head.totalDifficulty
  const tdB = b.chain.head.totalDifficulty
  t.ok(tdB > tdA, `B's branch is heavier (${tdB} > ${tdA})`)

  t.same(await importAll(b.chain, fromA), ['side', 'side', 'side'], "B keeps its heavier branch; A's blocks are side blocks")
  const statuses = await importAll(a.chain, fromB)
  t.ok(statuses.includes('reorg'), `A reorganises onto B's branch (${statuses.join(', ')})`)
  t.equal(bytesToHex(a.chain.head.block.hash()), bytesToHex(b.chain.head.block.hash()), 'one head')
  t.equal(root(a.chain), root(b.chain), 'one state')
  t.equal(await balance(a.chain, minerB), 5n * POW_REWARD, "B's miner holds 5 rewards on both")
  t.equal(await balance(a.chain, minerA), 0n, "A's rewards went with its branch")

  // A new block on A's old branch is not enough to win it back: it stays a side block.
  t.equal((await a.chain.importBlock(fromA[2]!)).status, 'known')
})

t.test('after a reorg of depth >= 5 the state root equals that of a node that only saw the winning chain', async (t) => {
  const a = await openPowNode(t)
  const b = await openPowNode(t)
  const c = await openPowNode(t)
  // Both branches spend from the same senders with the same nonces: the branches conflict.
  const fa = txFactory(a.chain.common)
  const fb = txFactory(b.chain.common)
  const losing = await mineMany(a, minerA, 6, () => [fa.next('transfer'), fa.next('deploy')])
  const winning = await mineMany(b, minerB, 8, () => [fb.next('transfer'), fb.next('transfer'), fb.next('transfer')])
  t.not(root(a.chain), root(b.chain))

  let depth = 0
  a.chain.on('reorg', ({ removed }) => (depth = Math.max(depth, removed.length)))
  await importAll(a.chain, winning)
  t.ok(depth >= 5, `A dropped ${depth} blocks in one reorg`)
  await importAll(c.chain, winning)
  t.equal(bytesToHex(a.chain.head.block.hash()), bytesToHex(c.chain.head.block.hash()))
  t.equal(root(a.chain), root(c.chain), "A's state root after the reorg equals C's, which only saw the winning chain")
  for (const who of [minerA, minerB, ...winning[0]!.transactions.map((tx) => tx.getSenderAddress())]) {
    t.same(await a.chain.headAccount(who), await c.chain.headAccount(who), `account ${who.toString()} agrees`)
  }
  // The losing branch's contract creation is in no winning block: no longer indexed.
  t.equal(await a.chain.txLocation(losing[0]!.transactions[1]!.hash()), undefined, "the losing branch's own transactions are no longer indexed")
})

t.test("a data dir remembers its pow rules: a genesis with another target, reward or minimum difficulty is refused", async (t) => {
  const dir = tempDir()
  t.teardown(dir.remove)
  const chain = await Chain.open(dir.path, powGenesis)
  await chain.close()
  if (powGenesis.consensus !== 'pow') throw new Error('unreachable')
  for (const [what, pow] of [
    ['targetBlockTime', { ...powGenesis.pow, targetBlockTime: 5 }],
    ['blockReward', { ...powGenesis.pow, blockReward: 1n }],
    ['minimumDifficulty', { ...powGenesis.pow, minimumDifficulty: 17n }],
  ] as const) {
    await t.rejects(Chain.open(dir.path, { ...powGenesis, pow }), { code: 'CHAIN_GENESIS_MISMATCH', message: new RegExp(`genesis.json sets ${what} .* but the chain in this data dir has`) }, what)
  }
  await t.rejects(Chain.open(dir.path, { ...powGenesis, difficulty: 512n }), { code: 'CHAIN_GENESIS_MISMATCH', message: /differs from genesis.json/ }, 'another starting difficulty is another genesis block')
  const again = await Chain.open(dir.path, powGenesis)
  t.equal(again.consensus.algorithm, 'pow', 'the same genesis opens')
  await again.close()
})
