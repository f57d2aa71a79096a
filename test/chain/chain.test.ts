import t, { type Test } from 'tap'
import { createBlock, type Block } from '@ethereumjs/block'
import { Address, bytesToHex } from '@ethereumjs/util'
import { Chain } from '../../node/chain/index.ts'
import { DEV_KEYS, addressOf, source, testGenesis, txFactory } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { setLogLevel } from '../../common/logger.ts'
import type { PoaEngine } from '../../consensus/index.ts'

setLogLevel('error')
const signer = { address: addressOf(DEV_KEYS[0]!), privateKey: DEV_KEYS[0]! }

async function buildChain(dir: string, blocks: number): Promise<{ chain: Chain; roots: string[] }> {
  const chain = await Chain.open(dir, testGenesis())
  const f = txFactory(chain.common)
  const roots: string[] = []
  let contract: Uint8Array | undefined
  for (let b = 0; b < blocks; b++) {
    const items = []
    for (let i = 0; i < 12; i++) {
      const kind = contract === undefined && i === 0 ? 'deploy' : contract !== undefined && i % 2 === 0 ? 'call' : 'transfer'
      items.push(f.next(kind, contract))
    }
    const bundle = await chain.produce({ signer, source: source(items), deadline: Date.now() + 60_000 })
    const created = bundle.receipts.find((r) => r.contractAddress !== undefined)?.contractAddress
    contract ??= created
    roots.push(bytesToHex(bundle.block.header.stateRoot))
  }
  return { chain, roots }
}

/** A 2-block chain, an empty replica of it, and its block 1; both data dirs removed after `t`. */
async function chainAndReplica(t: Test): Promise<{ chain: Chain; replica: Chain; good: Block }> {
  const a = tempDir()
  const b = tempDir()
  t.teardown(() => (a.remove(), b.remove()))
  const { chain } = await buildChain(a.path, 2)
  const replica = await Chain.open(b.path, testGenesis())
  return { chain, replica, good: (await chain.blockByNumber(1n))! }
}

t.test('re-executing every block from genesis reproduces every state root', async (t) => {
  const a = tempDir()
  const b = tempDir()
  t.teardown(() => (a.remove(), b.remove()))
  const { chain, roots } = await buildChain(a.path, 8)
  t.equal(chain.head.block.header.number, 8n)
  const withLogs = (await chain.bundleByNumber(3n))!.receipts.some((r) => r.logs.length > 0)
  t.ok(withLogs, 'contract calls emitted logs')

  const replica = await Chain.open(b.path, testGenesis())
  for (let n = 1n; n <= 8n; n++) {
    const block = (await chain.blockByNumber(n))!
    const { bundle: imported, status } = await replica.importBlock(block)
    t.equal(status, 'head', `block ${n} becomes the head`)
    t.equal(bytesToHex(imported.block.header.stateRoot), roots[Number(n) - 1], `block ${n} root`)
    t.same(imported.receipts.map((r) => r.status), (await chain.bundleByNumber(n))!.receipts.map((r) => r.status))
  }
  t.equal(bytesToHex(replica.head.block.hash()), bytesToHex(chain.head.block.hash()))
  await replica.close()
  await chain.close()
})

t.test('the head and its state survive a reopen', async (t) => {
  const a = tempDir()
  t.teardown(() => a.remove())
  const { chain, roots } = await buildChain(a.path, 3)
  const who = new Address(addressOf(DEV_KEYS[1]!))
  const before = await chain.headAccount(who)
  await chain.close()
  const again = await Chain.open(a.path, testGenesis())
  t.equal(again.head.block.header.number, 3n)
  t.equal(bytesToHex(again.head.block.header.stateRoot), roots[2])
  const after = await again.headAccount(who)
  t.equal(after.nonce, before.nonce)
  t.equal(after.balance, before.balance)
  await again.close()
})

t.test('a data dir refuses a different genesis', async (t) => {
  const a = tempDir()
  t.teardown(() => a.remove())
  const chain = await Chain.open(a.path, testGenesis())
  await chain.close()
  const other = testGenesis()
  other.chainId = 4242n
  await t.rejects(Chain.open(a.path, other), { code: 'CHAIN_GENESIS_MISMATCH', message: /use another --datadir/ })
})

t.test('import refuses tampered and forged blocks and keeps its state', async (t) => {
  const { chain, replica, good } = await chainAndReplica(t)
  const rootBefore = bytesToHex(replica.executor.stateRoot)
  const reseal = (fields: Record<string, unknown>, key = DEV_KEYS[0]!) => {
    const unsealed = createBlock({ header: { ...good.header.toJSON(), ...fields }, transactions: good.transactions }, { common: chain.common, setHardfork: false })
    const extraData = (chain.consensus as PoaEngine).seal(unsealed.header, key)
    return createBlock({ header: { ...good.header.toJSON(), ...fields, extraData }, transactions: good.transactions }, { common: chain.common, setHardfork: false })
  }
  await t.rejects(replica.importBlock(reseal({ stateRoot: new Uint8Array(32).fill(7) })), { code: 'CHAIN_INVALID_BLOCK', message: /state root/ })
  t.equal(bytesToHex(replica.executor.stateRoot), rootBefore, 'state rolled back after a bad root')
  await t.rejects(replica.importBlock(reseal({ gasUsed: good.header.gasUsed + 1n })), { code: 'CHAIN_INVALID_BLOCK' })
  await t.rejects(replica.importBlock(reseal({}, DEV_KEYS[1]!)), { code: 'CONSENSUS_UNAUTHORIZED_SIGNER' })
  await t.rejects(replica.importBlock(reseal({ difficulty: 1n })), { code: 'CONSENSUS_WRONG_DIFFICULTY' })
  await t.rejects(replica.importBlock(reseal({ timestamp: BigInt(Math.floor(Date.now() / 1000) + 3600) })), { code: 'CONSENSUS_FUTURE_BLOCK' })
  await t.rejects(replica.importBlock(reseal({ baseFeePerGas: 7n })), { code: 'CHAIN_INVALID_BLOCK', message: /base fee/ })
  // A valid header with a seal cut short: the signature no longer recovers to the authority.
  const extra = new Uint8Array(good.header.extraData)
  extra[40] = extra[40]! ^ 0xff
  const forged = createBlock({ header: { ...good.header.toJSON(), extraData: extra }, transactions: good.transactions }, { common: chain.common, setHardfork: false })
  const code = await replica.importBlock(forged).then(
    () => 'accepted',
    (err: { code?: string }) => err.code,
  )
  t.ok(code === 'CONSENSUS_UNAUTHORIZED_SIGNER' || code === 'CONSENSUS_BAD_SEAL', `forged seal refused (${code})`)
  await t.rejects(replica.importBlock((await chain.blockByNumber(2n))!), { code: 'CHAIN_UNKNOWN_PARENT' })
  // After every refusal the genuine block still imports.
  const ok = await replica.importBlock(good)
  t.equal(bytesToHex(ok.bundle.block.hash()), bytesToHex(good.hash()))
  t.equal((await replica.importBlock(good)).status, 'known', 'a second import is recognised')
  await replica.close()
  await chain.close()
})

t.test('precheck (the checks before a gossiped block is relayed) refuses what import would, without executing', async (t) => {
  const { chain, replica, good } = await chainAndReplica(t)
  const opts = { common: chain.common, setHardfork: false }
  // Precheck reads the block as it arrives: header and transaction encodings, nothing decoded.
  const wire = (b: Block) => replica.parseBlock(b.serialize())
  const rootBefore = bytesToHex(replica.executor.stateRoot)
  t.equal(await replica.precheck(wire(good)), 'ok', 'a genuine block passes')
  t.equal(replica.head.block.header.number, 0n, 'and is not imported by it')
  // The sealed header with another body: the transactions root no longer matches.
  const swapped = createBlock({ header: good.header.toJSON(), transactions: good.transactions.slice(1) }, opts)
  await t.rejects(replica.precheck(wire(swapped)), { code: 'CHAIN_INVALID_BLOCK', message: /transactions root/ })
  // Import checks the root itself (a synced block is not prechecked), before executing anything.
  await t.rejects(replica.importBlock(swapped), { code: 'CHAIN_INVALID_BLOCK', message: /transactions root/ })
  // Prechecked, the swapped body would still be caught at import: its decode is not marked checked.
  await t.rejects(replica.importBlock(await replica.decodePrechecked(wire(swapped))), { code: 'CHAIN_INVALID_BLOCK', message: /transactions root/ })
  const extra = new Uint8Array(good.header.extraData)
  extra[40] = extra[40]! ^ 0xff
  const forged = createBlock({ header: { ...good.header.toJSON(), extraData: extra }, transactions: good.transactions }, opts)
  const code = await replica.precheck(wire(forged)).then(() => 'passed', (err: { code?: string }) => err.code)
  t.ok(code === 'CONSENSUS_UNAUTHORIZED_SIGNER' || code === 'CONSENSUS_BAD_SEAL', `forged seal refused (${code})`)
  const child = (await chain.blockByNumber(2n))!
  await t.rejects(replica.precheck(wire(child)), { code: 'CHAIN_UNKNOWN_PARENT' })
  // A child of a block still importing is checked against that block's header, without waiting.
  t.equal(await replica.precheck(wire(child), good.header), 'ok', 'checked against the importing parent')
  await t.rejects(replica.precheck(wire(child), child.header), { code: 'CHAIN_UNKNOWN_PARENT' }, 'a header that is not the parent is not used')
  const forgedChildExtra = new Uint8Array(child.header.extraData)
  forgedChildExtra[40] = forgedChildExtra[40]! ^ 0xff
  const forgedChild = createBlock({ header: { ...child.header.toJSON(), extraData: forgedChildExtra }, transactions: child.transactions }, opts)
  const childCode = await replica.precheck(wire(forgedChild), good.header).then(() => 'passed', (err: { code?: string }) => err.code)
  t.ok(childCode === 'CONSENSUS_UNAUTHORIZED_SIGNER' || childCode === 'CONSENSUS_BAD_SEAL', `a forged child seal is refused against the importing parent too (${childCode})`)
  t.equal(bytesToHex(replica.executor.stateRoot), rootBefore, 'no state was touched')
  const parsed = wire(good)
  await replica.precheck(parsed)
  const decoded = await replica.decodePrechecked(parsed)
  t.equal((await replica.importBlock(decoded)).status, 'head', 'the prechecked block imports')
  t.equal(bytesToHex(replica.store.encodeBlock(decoded)), bytesToHex(parsed.bytes), 'and is stored as it came')
  t.equal(await replica.precheck(wire(good)), 'known')
  await replica.close()
  await chain.close()
})

t.test('COINBASE is the sealing authority and it earns the priority fees', async (t) => {
  const a = tempDir()
  t.teardown(() => a.remove())
  const chain = await Chain.open(a.path, testGenesis())
  const f = txFactory(chain.common)
  const authority = new Address(signer.address)
  const before = (await chain.headAccount(authority)).balance
  // tx from key 1 (not the authority): a 2930 tx paying gasPrice 10 gwei over base fee 1 gwei.
  f.next('transfer')
  const item = f.next('transfer')
  // COINBASE returned by a call that executes `COINBASE PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN` as init code.
  const bundle = await chain.produce({ signer, source: source([item]), deadline: Date.now() + 10_000 })
  const r = bundle.receipts[0]!
  const after = (await chain.headAccount(authority)).balance
  const tip = r.effectiveGasPrice - bundle.block.header.baseFeePerGas!
  t.equal(after - before, r.gasUsed * tip, 'authority received gasUsed * tip')
  const h = bundle.block.header
  const res = await chain.executor.call({ data: Buffer.from('4160005260206000f3', 'hex') }, chain.contextOf(h, chain.consensus.author(h)), h.stateRoot)
  t.equal(bytesToHex(res.returnValue.subarray(12)), authority.toString())
  await chain.close()
})

t.test('a transaction the parent already included is left out alone; its sender\'s next nonce still goes in', async (t) => {
  const a = tempDir()
  t.teardown(() => a.remove())
  const chain = await Chain.open(a.path, testGenesis())
  t.teardown(() => chain.close())
  const f = txFactory(chain.common)
  // Four rounds over the four dev keys: nonces 0..3 of each sender.
  const rounds = Array.from({ length: 4 }, () => DEV_KEYS.map(() => f.next('transfer')))
  const first = await chain.produce({ signer, source: source(rounds[0]!), deadline: Date.now() + 10_000 })
  t.equal(first.block.transactions.length, 4)
  // The pool has not caught up with block 1 yet: the builder is offered nonce 0 again, then 1..3.
  const stale = [...rounds[0]!, ...rounds[1]!, ...rounds[2]!, ...rounds[3]!].sort((x, y) => Number(x.tx.nonce - y.tx.nonce))
  const second = await chain.produce({ signer, source: source(stale), deadline: Date.now() + 10_000 })
  t.equal(second.block.transactions.length, 12, 'nonces 1..3 of every sender, the stale nonce 0s left out')
  t.ok(second.block.transactions.every((tx) => tx.nonce >= 1n))
  // A nonce gap still skips the sender for the rest of the block.
  const gap = f.next('transfer') // key 0, nonce 4
  const ahead = f.next('transfer') // key 1, nonce 4
  f.next('transfer')
  f.next('transfer')
  const gapped = f.next('transfer') // key 0, nonce 5
  const third = await chain.produce({ signer, source: source([gapped, ahead, gap]), deadline: Date.now() + 10_000 })
  t.same(third.block.transactions.map((tx) => tx.nonce), [4n], 'key 0 skipped after its nonce gap; key 1 in')
})
