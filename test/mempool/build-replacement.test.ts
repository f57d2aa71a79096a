import t, { type Test } from 'tap'
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import type { SenderTx, TxSource } from '../../evm/index.ts'
import { Chain, type BlockBundle } from '../../node/chain/index.ts'
import { createMempool, createSenderRecovery, MempoolError, type AccountState, type Mempool } from '../../node/mempool/index.ts'
import { createProducer } from '../../node/producer/index.ts'
import { DEV_KEYS, addressOf, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

/**
 * A replacement that arrives while the original is being executed into the block under
 * construction (issue 19 item 5): a real chain on LevelDB, a real pool and the real producer
 * sealing every second. The original must stay in the pool until a block holds it, and a
 * replacement must never sit in the pool as pending while its nonce is already spent.
 */

setLogLevel('error')
const GWEI = 10n ** 9n
const SENDER = DEV_KEYS[1]!
const TO = new Address(addressOf(DEV_KEYS[2]!))

function transfer(nonce: bigint, fee: bigint): TypedTransaction {
  return createFeeMarket1559Tx({ nonce, to: TO, gasLimit: 21_000n, maxFeePerGas: fee, maxPriorityFeePerGas: fee / 5n, value: 1n }, { common: chainCommon! }).sign(SENDER)
}
let chainCommon: Chain['common'] | undefined

/** The promise of the first event `pick` accepts. */
function when<T>(subscribe: (fn: (v: T) => void) => () => void, pick: (v: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((v) => {
      if (!pick(v)) return
      off()
      resolve(v)
    })
  })
}

async function refusal(p: Promise<unknown>): Promise<MempoolError | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    if (err instanceof MempoolError) return err
    throw err
  }
}

/**
 * A single authority sealing every second, with the pool wired to the chain the way the node
 * wires it (node/node.ts). `handedOut` fires with each transaction the block builder takes from
 * the pool; `readAccount` lets a test hold a state read back (a slow disk).
 */
async function network(t: Test, readAccount?: (address: Address, read: () => Promise<AccountState>) => Promise<AccountState>) {
  const dir = tempDir()
  const chain = await Chain.open(dir.path, testGenesis({ period: 1 }))
  chainCommon = chain.common
  const recovery = createSenderRecovery({ workers: 0 })
  const getAccount = (a: Address) => chain.headAccount(a)
  const mempool: Mempool = createMempool({}, { common: chain.common, recovery, getAccount: (a) => (readAccount === undefined ? getAccount(a) : readAccount(a, () => getAccount(a))) })
  const head = chain.head.block.header
  mempool.head({ baseFee: head.calcNextBaseFee(), gasLimit: head.gasLimit })
  chain.on('head', (bundle: BlockBundle) => {
    const h = bundle.block.header
    mempool.head({ baseFee: h.calcNextBaseFee(), gasLimit: h.gasLimit })
    void mempool.onBlockIncluded(bundle.block.transactions.map((tx, i) => ({ hash: tx.hash(), sender: bundle.senders[i]!, nonce: tx.nonce })))
  })
  // Watch what the builder takes from the pool (the stream itself is the producer's, unchanged).
  const handed = new Set<(tx: SenderTx) => void>()
  const build = chain.buildBlock.bind(chain)
  chain.buildBlock = (o) => {
    const inner = o.source
    async function* watched(): AsyncGenerator<SenderTx> {
      for await (const item of inner) {
        for (const fn of handed) fn(item)
        yield item
      }
    }
    const source: TxSource = Object.assign(watched(), { skipSender: (a: Address) => inner.skipSender(a) })
    return build({ ...o, source })
  }
  const key = DEV_KEYS[0]!
  const author = new Address(addressOf(key))
  const producer = createProducer({ author, sealer: chain.consensus.createSealer({ address: author, privateKey: key }) }, { chain, mempool })
  producer.start()
  t.teardown(async () => {
    await producer.stop()
    await recovery.close()
    await chain.close()
    dir.remove()
  })
  const handedOut = (hash: Uint8Array) =>
    when<SenderTx>(
      (fn) => {
        handed.add(fn)
        return () => handed.delete(fn)
      },
      (item) => bytesToHex(item.tx.hash()) === bytesToHex(hash),
    )
  const mined = (hash: Uint8Array) =>
    when<BlockBundle>(
      (fn) => {
        chain.on('head', fn)
        return () => chain.off('head', fn)
      },
      (b) => b.block.transactions.some((tx) => bytesToHex(tx.hash()) === bytesToHex(hash)),
    )
  return { chain, mempool, producer, handedOut, mined }
}

t.test('a replacement of a transaction being executed into the block under construction is refused; the original stays visible and mines', async (t) => {
  const { chain, mempool, handedOut, mined } = await network(t)
  const original = transfer(0n, 10n * GWEI)
  const taken = handedOut(original.hash())
  const landed = mined(original.hash())
  await mempool.addRaw(original.serialize())
  await taken // executed into the block being built; that block is sealed at the end of its slot

  const replacement = transfer(0n, 30n * GWEI)
  const err = await refusal(mempool.addRaw(replacement.serialize()))
  t.ok(err !== undefined, 'the replacement is refused while its nonce is being sealed')
  t.equal(err?.code, 'MEMPOOL_NONCE_TOO_LOW', 'as nonce too low: the nonce is spent by the block being sealed')
  t.match(err?.message, /being sealed into the next block/, `the message says where the nonce went (${err?.message})`)
  t.match(err?.context, { sealing: bytesToHex(original.hash()) }, 'and names the original')
  t.ok(mempool.get(original.hash()) !== undefined, 'the original is still reported (pending) until a block holds it')
  t.equal(mempool.get(replacement.hash()), undefined, 'the replacement is not reported as pending')

  const block = await landed
  t.equal(block.block.header.number, 1n)
  t.ok(await chain.txLocation(original.hash()), 'the original mined')
  t.equal(mempool.get(replacement.hash()), undefined)
  t.same(mempool.stats(), { pending: 0, queued: 0 }, 'nothing is left pending')
})

t.test('once the block is sealed the nonce is spent; a later nonce from the same sender is taken as usual', async (t) => {
  const { mempool, handedOut, mined } = await network(t)
  const first = transfer(0n, 10n * GWEI)
  const taken = handedOut(first.hash())
  const landed = mined(first.hash())
  await mempool.addRaw(first.serialize())
  await taken
  await landed
  const late = await refusal(mempool.addRaw(transfer(0n, 30n * GWEI).serialize()))
  t.equal(late?.code, 'MEMPOOL_NONCE_TOO_LOW', 'after the block: nonce too low, as always')
  const next = transfer(1n, 10n * GWEI)
  const nextMined = mined(next.hash())
  await mempool.addRaw(next.serialize())
  t.equal((await nextMined).block.header.number >= 2n, true, 'the next nonce mines')
})

t.test('a submission whose state read straddles the block that spent its nonce is refused, not left pending forever', async (t) => {
  // The replacement's account read starts before the block with the original lands and
  // returns after it (a slow read): it saw the old nonce.
  let slow: { arrived: () => void; release: Promise<void> } | undefined
  const { chain, mempool, handedOut, mined } = await network(t, async (address, read) => {
    const account = await read()
    const hold = slow
    if (hold !== undefined && address.equals(new Address(addressOf(SENDER)))) {
      slow = undefined
      hold.arrived()
      await hold.release
    }
    return account
  })
  const original = transfer(0n, 10n * GWEI)
  const taken = handedOut(original.hash())
  const landed = mined(original.hash())
  await mempool.addRaw(original.serialize())
  await taken
  let arrived!: () => void
  const readDone = new Promise<void>((r) => (arrived = r))
  let release!: () => void
  slow = { arrived, release: new Promise<void>((r) => (release = r)) }
  const replacement = transfer(0n, 30n * GWEI)
  const outcome = refusal(mempool.addRaw(replacement.serialize()))
  await readDone // read at block 0's state: nonce 0
  await landed // block 1 spends nonce 0
  release()
  const err = await outcome
  t.equal(err?.code, 'MEMPOOL_NONCE_TOO_LOW', `refused (${err?.message ?? 'accepted'})`)
  t.equal(mempool.get(replacement.hash()), undefined, 'not in the pool')
  t.ok(await chain.txLocation(original.hash()), 'the original mined')
  // A later block that does not touch this sender settles nothing for it.
  const other = createFeeMarket1559Tx({ nonce: 0n, to: TO, gasLimit: 21_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI, value: 1n }, { common: chain.common }).sign(DEV_KEYS[3]!)
  const otherMined = mined(other.hash())
  await mempool.addRaw(other.serialize())
  await otherMined
  t.equal(mempool.get(replacement.hash()), undefined, 'a block later the replacement is not reported as pending')
  t.same(mempool.stats(), { pending: 0, queued: 0 }, 'and nothing is left pending')
})

t.test('a block abandoned before it is sealed (production stopped) gives its transactions back: a replacement is taken', async (t) => {
  const { chain, mempool, producer, handedOut } = await network(t)
  const original = transfer(0n, 10n * GWEI)
  const taken = handedOut(original.hash())
  await mempool.addRaw(original.serialize())
  await taken
  await producer.stop() // the block in progress is abandoned, never sealed
  t.equal(chain.head.block.header.number, 0n, 'nothing was sealed')
  const replacement = transfer(0n, 30n * GWEI)
  await mempool.addRaw(replacement.serialize())
  t.ok(mempool.get(replacement.hash()) !== undefined, 'the replacement is pending')
  t.equal(mempool.get(original.hash()), undefined, 'in place of the original')
})
