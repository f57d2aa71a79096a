import t from 'tap'
import { Address, bytesToHex } from '@ethereumjs/util'
import { decodeFunctionResult, encodeFunctionData, type Hex } from 'viem'
import { AUTHORITY_SET_ADDRESS, authoritySetAbi } from '../../contracts/index.ts'
import type { Proposal } from '../../consensus/index.ts'
import { Chain } from '../../node/chain/index.ts'
import type { BlockBundle } from '../../node/chain/types.ts'
import { setLogLevel } from '../../common/logger.ts'
import { DEV_KEYS, addressOf, source, testGenesis, txFactory } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { poaSnap } from '../helpers/chain.ts'

setLogLevel('error')
const keys = DEV_KEYS.slice(0, 3)
const hex = (k: Uint8Array) => `0x${Buffer.from(addressOf(k)).toString('hex')}`
const genesis = (authorities = keys) => testGenesis({ authorities: authorities.map(addressOf), predeploys: true })

/** Seals the next block with the first of `sealers` allowed to (in-turn first), carrying `vote`. */
async function sealNext(chain: Chain, sealers: Uint8Array[], vote?: Proposal, txs = source([])): Promise<BlockBundle> {
  const parent = chain.head.block.header
  const plans = sealers.map((k) => ({ k, plan: chain.consensus.sealPlan(new Address(addressOf(k)), parent, chain.snapshot, Date.now()) }))
  const ok = plans.filter((p) => p.plan.canSeal).sort((a, b) => Number(b.plan.canSeal && b.plan.inTurn) - Number(a.plan.canSeal && a.plan.inTurn))
  if (ok.length === 0) throw new Error('nobody may seal')
  const k = ok[0]!.k
  return chain.produce({ signer: { address: addressOf(k), privateKey: k }, source: txs, deadline: Date.now() + 10_000, vote })
}

async function contractAuthorities(chain: Chain): Promise<string[]> {
  const res = await chain.executor.call(
    { to: new Address(Buffer.from(AUTHORITY_SET_ADDRESS.slice(2), 'hex')), data: Buffer.from(encodeFunctionData({ abi: authoritySetAbi, functionName: 'authorities' }).slice(2), 'hex') },
    chain.contextOf(chain.head.block.header, new Address(new Uint8Array(20))),
    chain.head.block.header.stateRoot,
  )
  const out = decodeFunctionResult({ abi: authoritySetAbi, functionName: 'authorities', data: bytesToHex(res.returnValue) as Hex })
  return out.map((a) => a.toLowerCase())
}

t.test('votes change the signer set by strict majority, and AuthoritySet follows at every block', async (t) => {
  const dir = tempDir()
  const copy = tempDir()
  t.teardown(() => (dir.remove(), copy.remove()))
  const two = keys.slice(0, 2)
  const newcomer = keys[2]!
  const chain = await Chain.open(dir.path, genesis(two))
  t.same(await contractAuthorities(chain), two.map(hex).sort(), 'genesis: the contract holds the genesis signers')

  await sealNext(chain, two, { address: hex(newcomer), authorize: true })
  t.same(poaSnap(chain).signers, two.map(hex).sort(), 'one vote of two is not a majority')
  t.equal(poaSnap(chain).tally.get(hex(newcomer))?.votes, 1)
  await sealNext(chain, two, { address: hex(newcomer), authorize: true })
  t.same(poaSnap(chain).signers, keys.map(hex).sort(), 'two of two: the newcomer is in')
  t.same(await contractAuthorities(chain), poaSnap(chain).signers, 'AuthoritySet agrees in the same block')

  // the newcomer seals; then two of three vote it out again
  const all = [newcomer, ...two]
  let dropped = false
  for (let i = 0; i < 8 && !dropped; i++) {
    const b = await sealNext(chain, all, { address: hex(newcomer), authorize: false })
    dropped = !poaSnap(chain).signers.includes(hex(newcomer))
    t.same(await contractAuthorities(chain), poaSnap(chain).signers, `block ${b.block.header.number}: AuthoritySet = signers`)
  }
  t.ok(dropped, 'voted out by a majority')
  await t.rejects(
    chain.produce({ signer: { address: addressOf(newcomer), privateKey: newcomer }, source: source([]), deadline: Date.now() + 1000 }),
    { code: 'CHAIN_CANNOT_SEAL' },
    'a dropped authority can no longer seal',
  )

  // a node importing the same blocks computes the same roots (system writes included) and signers
  const replica = await Chain.open(copy.path, genesis(two))
  for (let n = 1n; n <= chain.head.block.header.number; n++) {
    const r = await replica.importBlock((await chain.blockByNumber(n))!)
    t.equal(r.status, 'head', `block ${n} imports`)
  }
  t.equal(bytesToHex(replica.head.block.header.stateRoot), bytesToHex(chain.head.block.header.stateRoot))
  t.same(poaSnap(replica).signers, poaSnap(chain).signers)
  await replica.close()

  // the snapshot, open votes included, survives a restart
  await sealNext(chain, two, { address: hex(newcomer), authorize: true })
  const before = chain.snapshot
  await chain.close()
  const again = await Chain.open(dir.path, genesis(two))
  t.same(again.snapshot, before, 'same snapshot after reopening')
  await again.close()
})

t.test('fork choice: both import orders converge on the same head, and a reorg rewrites the canonical chain', async (t) => {
  const dirs = [tempDir(), tempDir(), tempDir(), tempDir()]
  t.teardown(() => dirs.forEach((d) => d.remove()))
  const [a, b] = await Promise.all([Chain.open(dirs[0]!.path, genesis()), Chain.open(dirs[1]!.path, genesis())])
  // common block 1, then two branches with different transactions and sealers
  const first = await sealNext(a, keys)
  await b.importBlock(first.block)
  const fa = txFactory(a.common)
  const onlyOnA = fa.next('transfer')
  await sealNext(a, keys, undefined, source([onlyOnA]))
  await sealNext(a, keys)
  const fb = txFactory(b.common)
  fb.next('transfer') // B's branch uses a different transaction at the same nonce
  const onB = fb.next('transfer')
  for (let i = 0; i < 4; i++) await sealNext(b, [...keys].reverse(), undefined, source(i === 0 ? [onB] : []))
  const blocksOf = async (c: Chain) => Promise.all(Array.from({ length: Number(c.head.block.header.number) }, (_, i) => c.blockByNumber(BigInt(i + 1)).then((x) => x!)))
  const [branchA, branchB] = [await blocksOf(a), await blocksOf(b)]

  const x = await Chain.open(dirs[2]!.path, genesis())
  const y = await Chain.open(dirs[3]!.path, genesis())
  const statuses: string[] = []
  for (const blk of branchA) statuses.push((await x.importBlock(blk)).status)
  let reorgs = 0
  x.on('reorg', () => reorgs++)
  for (const blk of branchB) statuses.push((await x.importBlock(blk)).status)
  for (const blk of branchB) await y.importBlock(blk)
  const sideStatuses: string[] = []
  for (const blk of branchA) sideStatuses.push((await y.importBlock(blk)).status)
  t.same(sideStatuses.slice(1), branchA.slice(1).map(() => 'side'), 'the lighter branch is stored as a side chain')
  t.equal(bytesToHex((await y.blockByNumber(2n))!.hash()), bytesToHex(branchB[1]!.hash()), 'side blocks do not touch the canonical index')
  const yHead = bytesToHex(y.head.block.hash())
  await y.close()
  const yAgain = await Chain.open(dirs[3]!.path, genesis())
  t.equal(bytesToHex(yAgain.head.block.hash()), yHead, 'nor the stored head')
  t.equal(bytesToHex(x.head.block.hash()), bytesToHex(yAgain.head.block.hash()), 'the same head whatever the order')
  t.equal(bytesToHex(x.head.block.header.stateRoot), bytesToHex(yAgain.head.block.header.stateRoot), 'and the same state')
  const winner = bytesToHex(x.head.block.hash()) === bytesToHex(b.head.block.hash()) ? 'B' : 'A'
  t.equal(winner, 'B', 'the heavier branch wins')
  t.ok(statuses.includes('known') && statuses.includes('reorg'), `x saw its block 1 again and reorganised (${statuses.join(',')})`)
  t.equal(reorgs, 1, 'one reorg event')
  for (let n = 1n; n <= b.head.block.header.number; n++) {
    t.equal(bytesToHex((await x.blockByNumber(n))!.hash()), bytesToHex((await b.blockByNumber(n))!.hash()), `canonical block ${n} is B's`)
  }
  t.equal(await x.txLocation(onlyOnA.tx.hash()), undefined, 'a transaction only on the dropped branch is no longer indexed')
  t.ok(await x.txLocation(onB.tx.hash()), 'the winning branch\'s transaction is indexed')
  const who = new Address(addressOf(DEV_KEYS[1]!))
  t.same(await x.headAccount(who), await b.headAccount(who), 'account state is the winning branch\'s')
  for (const c of [a, b, x, yAgain]) await c.close()
})
