import t, { type Test } from 'tap'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address, bytesToHex, createContractAddress, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import { EvmErrorCode, markLive, type SenderTx, type TrieNode } from '../../evm/index.ts'
import { Chain, type ChainOptions } from '../../node/chain/index.ts'
import type { BlockBundle } from '../../node/chain/types.ts'
import type { Genesis } from '../../node/genesis/types.ts'
import { DEV_KEYS, addressOf, source, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

setLogLevel('error')

/** Runtime: SSTORE(0, calldata[0..32]). Init code: copy the runtime out (as COUNTER_INITCODE does). */
const SETTER_INITCODE = hexToBytes('0x600780600b6000396000f360003560005500')
const SEALER = DEV_KEYS[0]!
const USER = DEV_KEYS[1]!
const USER_ADDR = new Address(addressOf(USER))
const SETTER = createContractAddress(USER_ADDR, 0n)
const RECIPIENT = new Address(addressOf(DEV_KEYS[2]!))

/** Signs the user's transactions in nonce order: the setter's deploy first, then writes of slot 0 and transfers. */
function userTxs(chain: Chain) {
  let nonce = 0n
  const sign = (to: Address | undefined, data: Uint8Array, value = 0n): SenderTx => {
    const tx = createFeeMarket1559Tx({ nonce: nonce++, to, data, value, gasLimit: 200_000n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1n, chainId: 1337n }, { common: chain.common }).sign(USER)
    return { tx, sender: USER_ADDR }
  }
  return {
    deploy: () => sign(undefined, SETTER_INITCODE),
    set: (v: bigint) => sign(SETTER, setLengthLeft(hexToBytes(`0x${v.toString(16).padStart(2, '0')}`), 32)),
    pay: (wei: bigint) => sign(RECIPIENT, new Uint8Array(), wei),
  }
}

function seal(chain: Chain, txs: SenderTx[]): Promise<BlockBundle> {
  return chain.produce({ signer: { address: addressOf(SEALER), privateKey: SEALER }, source: source(txs), deadline: Date.now() + 30_000 })
}

async function stateKeyCount(chain: Chain): Promise<number> {
  let n = 0
  for await (const _ of chain.store.stateKeys()) n++
  return n
}

/** Nodes a root's whole state reaches that are missing from the database (0: the state is whole). */
async function missingUnder(chain: Chain, root: Uint8Array): Promise<number> {
  return (await markLive([root], (keys) => chain.store.readStateNodes(keys), new Set())).missing
}

const FULL = (recent: number, interval = 4): ChainOptions => ({ gcMode: 'full', stateRecent: recent, pruneInterval: interval })
const ARCHIVE: ChainOptions = { gcMode: 'archive' }

/** Opens chains in one temporary dir (`name`: a sub-dir), each closed and the dir removed at `t`'s teardown. */
function chainsIn(t: Test): (name: string, opts: ChainOptions, genesis?: Genesis) => Promise<Chain> {
  const dir = tempDir()
  t.teardown(() => dir.remove())
  return async (name, opts, genesis = testGenesis()) => {
    const chain = await Chain.open(`${dir.path}/${name}`, genesis, opts)
    t.teardown(() => chain.close())
    return chain
  }
}

t.test('a full chain answers the last N blocks and refuses older state with a coded error; an archive chain answers all', async (t) => {
  const open = chainsIn(t)
  const full = await open('full', FULL(8))
  const archive = await open('archive', ARCHIVE)
  const u = userTxs(full)
  const expected: Array<{ root: Uint8Array; slot: bigint; paid: bigint }> = []
  let paid = 0n
  await seal(full, [u.deploy()])
  for (let i = 1n; i <= 40n; i++) {
    paid += i
    await seal(full, [u.set(i % 7n), u.pay(i)])
  }
  for (let n = 1n; n <= full.head.block.header.number; n++) t.equal((await archive.importBlock((await full.blockByNumber(n))!)).status, 'head')
  const head = full.head.block.header.number
  await full.pruner!.run(head)
  const keptFrom = full.pruner!.keptFrom(head)
  t.equal(keptFrom, head - 7n, 'the window is the head and the 7 blocks below it')
  paid = 0n
  for (let n = 0n; n <= head; n++) {
    if (n >= 2n) paid += n - 1n
    expected.push({ root: (await full.blockByNumber(n))!.header.stateRoot, slot: n >= 2n ? (n - 1n) % 7n : 0n, paid })
  }
  const balance0 = (await archive.executor.getAccount(RECIPIENT, expected[0]!.root)).balance
  for (let n = 0n; n <= head; n++) {
    const e = expected[Number(n)]!
    const want = { slot: e.slot, balance: balance0 + e.paid }
    const got = async (c: Chain) => ({ slot: BigInt(bytesToHex(setLengthLeft(await c.executor.getStorage(SETTER, new Uint8Array(32), e.root), 32))), balance: (await c.executor.getAccount(RECIPIENT, e.root)).balance })
    t.same(await got(archive), want, `archive answers block ${n}`)
    if (n >= keptFrom) {
      t.same(await got(full), want, `full answers block ${n} (in the window)`)
      t.equal(await missingUnder(full, e.root), 0, `block ${n}'s state is whole`)
    } else {
      const refusal = { code: EvmErrorCode.MISSING_STATE, message: /missing trie node 0x[0-9a-f]{64} \(path \).*--gcmode archive/ }
      await t.rejects(full.executor.getAccount(RECIPIENT, e.root), refusal, `full refuses block ${n}'s balance`)
      await t.rejects(full.executor.getProof(RECIPIENT, [], e.root), refusal, `full refuses block ${n}'s proof`)
      await t.rejects(full.executor.call({ to: SETTER }, full.contextOf((await full.blockByNumber(n))!.header, USER_ADDR), e.root), refusal, `full refuses eth_call at block ${n}`)
    }
  }
})

t.test('disk stays bounded while the same slots are written block after block; an archive grows', async (t) => {
  const open = chainsIn(t)
  const full = await open('full', FULL(16, 8))
  const archive = await open('archive', ARCHIVE)
  const u = userTxs(full)
  await archive.importBlock((await seal(full, [u.deploy()])).block)
  const fullCounts: number[] = []
  for (let i = 1n; i <= 240n; i++) {
    const b = await seal(full, [u.set(i % 200n), u.pay(1n)])
    await archive.importBlock(b.block)
    if (i % 60n === 0n) {
      await full.pruner!.run(full.head.block.header.number)
      fullCounts.push(await stateKeyCount(full))
    }
  }
  const archiveCount = await stateKeyCount(archive)
  t.comment(`trie keys after 60/120/180/240 blocks: full ${fullCounts.join('/')}, archive at 240: ${archiveCount}`)
  // Same live state at every sample, the same window: the count must not climb with the chain.
  t.ok(fullCounts[3]! <= fullCounts[0]! + 8, `full: ${fullCounts[3]} keys after 240 blocks vs ${fullCounts[0]} after 60`)
  t.ok(archiveCount > 3 * fullCounts[3]!, `archive keeps every block's state: ${archiveCount} keys vs ${fullCounts[3]}`)
  t.equal(await missingUnder(full, full.head.block.header.stateRoot), 0, "the head's state is whole")
})

t.test('a node that died and is written again while a cycle runs survives its sweep', async (t) => {
  const chain = await chainsIn(t)('chain', FULL(4, 1000))
  const u = userTxs(chain)
  await seal(chain, [u.deploy()])
  // Slot 0 = 1: the setter's storage trie is one leaf node, written now.
  await seal(chain, [u.set(1n)])
  // Other values until that node is out of the window (dead, but still on disk until a sweep).
  for (let i = 0n; i < 6n; i++) await seal(chain, [u.set(2n + i)])
  const pruner = chain.pruner!
  let rewritten: BlockBundle | undefined
  pruner.afterMark = async () => {
    // The cycle marked without that node; now a block writes the very same bytes again.
    rewritten = await seal(chain, [u.set(1n)])
  }
  await pruner.run(chain.head.block.header.number)
  t.ok(rewritten !== undefined, 'a block was committed between the mark and the sweep')
  const root = rewritten!.block.header.stateRoot
  t.equal(await missingUnder(chain, root), 0, "the new head's state is whole after the sweep")
  t.equal(BigInt(bytesToHex(setLengthLeft(await chain.executor.getStorage(SETTER, new Uint8Array(32), root), 32))), 1n)
  // And it stays whole when the next cycle marks it live.
  pruner.afterMark = undefined
  await seal(chain, [u.pay(1n)])
  await pruner.run(chain.head.block.header.number)
  t.equal(await missingUnder(chain, chain.head.block.header.stateRoot), 0)
})

t.test('shared bytes: a storage leaf and code shared by two contracts survive when one of them moves on', async (t) => {
  const chain = await chainsIn(t)('chain', FULL(4, 1000))
  const u = userTxs(chain)
  await seal(chain, [u.deploy()])
  await seal(chain, [u.set(5n)])
  // A second setter (same code hash, and after the write the same storage trie bytes).
  let nonce = 2n
  const second = createContractAddress(USER_ADDR, nonce)
  const sign = (to: Address | undefined, data: Uint8Array): SenderTx => ({
    tx: createFeeMarket1559Tx({ nonce: nonce++, to, data, gasLimit: 200_000n, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1n, chainId: 1337n }, { common: chain.common }).sign(USER),
    sender: USER_ADDR,
  })
  const five = setLengthLeft(hexToBytes('0x05'), 32)
  await seal(chain, [sign(undefined, SETTER_INITCODE)])
  await seal(chain, [sign(second, five)])
  // The first setter's slot changes: its old leaf (the same bytes as the second's) must stay.
  const set = (to: Address, v: number) => sign(to, setLengthLeft(Uint8Array.of(v), 32))
  for (let i = 0; i < 6; i++) await seal(chain, [set(SETTER, 9 + i)])
  await chain.pruner!.run(chain.head.block.header.number)
  const root = chain.head.block.header.stateRoot
  t.equal(await missingUnder(chain, root), 0, 'the head state is whole: shared leaf and code kept')
  t.equal(BigInt(bytesToHex(setLengthLeft(await chain.executor.getStorage(second, new Uint8Array(32), root), 32))), 5n)
  t.equal((await chain.executor.getCode(second, root)).length, 7, "the second setter's code (shared with the first) is there")
})

t.test('a reorg inside the window re-executes on kept state; a branch forking below the window is refused as missing state', async (t) => {
  const open = chainsIn(t)
  const full = await open('full', FULL(16, 4))
  const other = await open('other', ARCHIVE)
  const u = userTxs(full)
  const o = userTxs(other)
  await seal(full, [u.deploy()])
  await other.importBlock((await full.blockByNumber(1n))!)
  o.deploy()
  for (let i = 1n; i <= 30n; i++) {
    const b = await seal(full, [u.set(i % 5n)])
    await other.importBlock(b.block)
    o.set(0n)
  }
  // Forks at block 31: the full node adds 4 blocks, the other branch 6 (heavier).
  for (let i = 0; i < 4; i++) await seal(full, [u.pay(1n)])
  const branch: BlockBundle[] = []
  for (let i = 0; i < 6; i++) branch.push(await seal(other, [o.set(BigInt(100 + i))]))
  const statuses: string[] = []
  for (const b of branch.slice(0, 3)) statuses.push((await full.importBlock(b.block)).status)
  // A cycle while the branch is a side chain: its states must be kept too.
  await full.pruner!.run(full.head.block.header.number)
  t.ok(full.pruner!.keptFrom(full.head.block.header.number) <= 31n, 'the fork point is inside the window')
  for (const b of branch.slice(3)) statuses.push((await full.importBlock(b.block)).status)
  t.ok(statuses.includes('reorg'), `the heavier branch took over (${statuses.join(', ')})`)
  t.equal(bytesToHex(full.head.block.header.stateRoot), bytesToHex(other.head.block.header.stateRoot), 'same state root as the other node')
  t.equal(BigInt(bytesToHex(setLengthLeft(await full.executor.getStorage(SETTER, new Uint8Array(32), full.head.block.header.stateRoot), 32))), 105n)

  // A branch from far below the window: its first block's parent state is gone.
  const deep = await open('deep', ARCHIVE)
  const d = userTxs(deep)
  await deep.importBlock((await other.blockByNumber(1n))!)
  d.deploy()
  const fork = await seal(deep, [d.pay(7n)])
  await t.rejects(full.importBlock(fork.block), { code: EvmErrorCode.MISSING_STATE }, 'refused as missing state, not as an invalid block')
})

t.test('raw trie writes (state sync): kept when written during a cycle, and across cycles while their root is pinned', async (t) => {
  const open = chainsIn(t)
  const full = await open('full', FULL(4, 1000))
  const origin = await open('source', ARCHIVE, testGenesis({ authorities: [addressOf(USER)] }))
  // A state the full chain never had: the other chain's, after a deploy and a write.
  const s = userTxs(origin)
  const sealBy = (c: Chain, txs: SenderTx[]) => c.produce({ signer: { address: addressOf(USER), privateKey: USER }, source: source(txs), deadline: Date.now() + 30_000 })
  await sealBy(origin, [s.deploy()])
  const b = await sealBy(origin, [s.set(42n)])
  const root = b.block.header.stateRoot
  const keys = new Set<string>()
  await markLive([root], (k) => origin.store.readStateNodes(k), keys)
  const nodes: TrieNode[] = []
  for (const id of keys) {
    const key = Uint8Array.from(Buffer.from(id, 'latin1'))
    const [value] = await origin.store.readStateNodes([key])
    if (value !== undefined) nodes.push({ key, value })
  }
  t.ok(nodes.length > 5, `${nodes.length} nodes and code entries to copy`)
  const u = userTxs(full)
  for (let i = 0; i < 6; i++) await seal(full, [u.pay(1n)])
  const pruner = full.pruner!

  // Written between the mark and the sweep, not pinned: the cycle must not delete them.
  pruner.afterMark = () => full.store.writeTrieNodes(nodes)
  await pruner.run(full.head.block.header.number)
  pruner.afterMark = undefined
  t.equal(await missingUnder(full, root), 0, 'written during the cycle: all kept')

  // Pinned: kept by the next cycles too.
  full.store.trieWrites.pinned.add(bytesToHex(root))
  await seal(full, [u.pay(1n)])
  await pruner.run(full.head.block.header.number)
  t.equal(await missingUnder(full, root), 0, 'pinned: kept by a later cycle')
  t.equal(BigInt(bytesToHex(setLengthLeft(await full.executor.getStorage(SETTER, new Uint8Array(32), root), 32))), 42n, 'and readable')

  // Unpinned and not in the window: the next cycle deletes it (it never was a block of this chain).
  full.store.trieWrites.pinned.delete(bytesToHex(root))
  await seal(full, [u.pay(1n)])
  await pruner.run(full.head.block.header.number)
  t.ok((await missingUnder(full, root)) > 0, 'unpinned: pruned')
})
