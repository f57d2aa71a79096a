import t from 'tap'
import { createBlock } from '@ethereumjs/block'
import { createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, createTx, type TypedTransaction } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { Transaction } from 'ethers'
import { toData } from '../../common/hex.ts'
import { createChainCommon } from '../../evm/index.ts'
import type { BlockBundle, RawLog, StoredReceipt } from '../../node/chain/types.ts'
import { formatBlock, formatBlockReceipts, formatHeader, formatLog, formatReceipt, formatTransaction } from '../../node/rpc/format.ts'
import { DEV_KEYS, addressOf } from '../helpers/chain.ts'

const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/
const DATA = /^0x([0-9a-f]{2})*$/
const common = createChainCommon({ chainId: 1337n, period: 0, epoch: 30000n })
const key = DEV_KEYS[0]!
const sender = new Address(addressOf(key))
const TO = `0x${'1a'.repeat(20)}` as const
const SLOT = `0x${'0b'.repeat(32)}` as const

const legacy = createLegacyTx({ nonce: 0n, gasLimit: 21000n, gasPrice: 10n, to: TO, value: 5n, data: '0x' }, { common }).sign(key)
const al2930 = createAccessList2930Tx(
  { nonce: 1n, gasLimit: 50000n, gasPrice: 12n, to: TO, value: 0n, data: '0xdeadbeef', chainId: 1337n, accessList: [{ address: TO, storageKeys: [SLOT] }] },
  { common },
).sign(key)
// A contract creation through the generic factory: `to` is null in JSON.
const fee1559 = createTx({ type: 2, nonce: 2n, gasLimit: 100000n, maxFeePerGas: 100n, maxPriorityFeePerGas: 3n, value: 0n, data: '0x6000', chainId: 1337n }, { common }).sign(key)
const fee1559To = createFeeMarket1559Tx({ nonce: 3n, gasLimit: 21000n, maxFeePerGas: 8n, maxPriorityFeePerGas: 5n, to: TO, chainId: 1337n }, { common }).sign(key)
const txs: TypedTransaction[] = [legacy, al2930, fee1559, fee1559To]

const topic = (b: number) => new Uint8Array(32).fill(b)
const logA: RawLog = [new Uint8Array(20).fill(0xaa), [topic(1), topic(2)], new Uint8Array([1, 2, 3])]
const logB: RawLog = [new Uint8Array(20).fill(0xbb), [], new Uint8Array()]
const created = new Uint8Array(20).fill(0xcc)

function receipt(status: 0 | 1, cumulative: bigint, gasUsed: bigint, logs: RawLog[], contractAddress?: Uint8Array): StoredReceipt {
  return { status, cumulativeGasUsed: cumulative, gasUsed, logsBloom: new Uint8Array(256).fill(logs.length), logs, contractAddress, effectiveGasPrice: 10n }
}

const block = createBlock(
  { header: { number: 5n, extraData: new Uint8Array(97).fill(7), baseFeePerGas: 7n, gasLimit: 30_000_000n, gasUsed: 213000n, timestamp: 1234n, difficulty: 2n }, transactions: txs },
  { common },
)
const bundle: BlockBundle = {
  block,
  receipts: [receipt(1, 21000n, 21000n, [logA]), receipt(0, 71000n, 50000n, []), receipt(1, 171000n, 100000n, [logB, logA], created), receipt(1, 192000n, 21000n, [])],
  senders: txs.map(() => sender),
  totalDifficulty: 11n,
}
const blockHash = toData(block.hash())

const HEADER_KEYS = [
  'baseFeePerGas', 'difficulty', 'extraData', 'gasLimit', 'gasUsed', 'hash', 'logsBloom', 'miner', 'mixHash', 'nonce', 'number',
  'parentHash', 'receiptsRoot', 'sha3Uncles', 'stateRoot', 'timestamp', 'transactionsRoot',
]

t.test('formatBlock and formatHeader', async (t) => {
  const b = formatBlock(bundle, false) as unknown as Record<string, unknown>
  t.same(Object.keys(b).sort(), [...HEADER_KEYS, 'size', 'totalDifficulty', 'transactions', 'uncles'].sort(), 'exact field set')
  t.equal(b.number, '0x5')
  t.equal(b.hash, blockHash)
  t.equal(b.size, '0x' + block.serialize().length.toString(16), 'size is the RLP length')
  t.equal(b.totalDifficulty, '0xb')
  t.equal(b.difficulty, '0x2')
  t.equal(b.baseFeePerGas, '0x7')
  t.equal(b.gasUsed, '0x34008')
  t.equal(b.timestamp, '0x4d2')
  t.equal(b.miner, '0x' + '00'.repeat(20))
  t.equal(b.nonce, '0x0000000000000000', 'nonce is 8 bytes of DATA')
  t.equal(b.mixHash, '0x' + '00'.repeat(32))
  t.equal(b.extraData, '0x' + '07'.repeat(97))
  t.equal(b.parentHash, '0x' + '00'.repeat(32))
  t.equal(b.transactionsRoot, toData(block.header.transactionsTrie))
  t.equal((b.logsBloom as string).length, 2 + 512)
  t.same(b.uncles, [])
  t.same(b.transactions, txs.map((x) => toData(x.hash())))
  for (const k of ['number', 'difficulty', 'totalDifficulty', 'size', 'gasLimit', 'gasUsed', 'timestamp', 'baseFeePerGas']) t.match(b[k], QUANTITY, k)
  for (const k of ['hash', 'parentHash', 'sha3Uncles', 'logsBloom', 'stateRoot', 'receiptsRoot', 'transactionsRoot', 'extraData', 'mixHash', 'nonce']) t.match(b[k], DATA, k)

  const full = formatBlock(bundle, true)
  const first = full.transactions[0]
  t.ok(typeof first === 'object' && first.hash === toData(legacy.hash()) && first.blockHash === blockHash && first.transactionIndex === '0x0', 'full transactions carry their location')
  t.equal(JSON.stringify(full), JSON.stringify(full), 'serializable (no bigint)')

  const h = formatHeader(block.header) as unknown as Record<string, unknown>
  t.same(Object.keys(h).sort(), HEADER_KEYS, 'newHeads shape: header only')
  for (const k of HEADER_KEYS) t.equal(h[k], b[k], `header ${k} agrees with the block`)
})

/** The same transaction decoded by ethers: an independent reading of hash, signature and fields. */
function ethersView(tx: TypedTransaction) {
  return Transaction.from(toData(tx.serialize()))
}

t.test('legacy transaction (EIP-155)', async (t) => {
  const j = formatTransaction(legacy, sender, { block, index: 0 }) as unknown as Record<string, unknown>
  const e = ethersView(legacy)
  t.same(Object.keys(j).sort(), ['blockHash', 'blockNumber', 'blockTimestamp', 'chainId', 'from', 'gas', 'gasPrice', 'hash', 'input', 'nonce', 'r', 's', 'to', 'transactionIndex', 'type', 'v', 'value'].sort())
  t.equal(j.hash, e.hash)
  t.equal(j.from, e.from!.toLowerCase())
  t.equal(j.to, TO)
  t.equal(j.type, '0x0')
  t.equal(j.chainId, '0x539', 'chainId derived from v')
  t.equal(j.v, '0x' + (1337n * 2n + 35n + BigInt(e.signature!.yParity)).toString(16))
  t.equal(j.r, '0x' + BigInt(e.signature!.r).toString(16))
  t.equal(j.s, '0x' + BigInt(e.signature!.s).toString(16))
  t.equal(j.gasPrice, '0xa')
  t.equal(j.gas, '0x5208')
  t.equal(j.value, '0x5')
  t.equal(j.nonce, '0x0')
  t.equal(j.input, '0x')
  t.equal(j.blockHash, blockHash)
  t.equal(j.blockNumber, '0x5')
  t.equal(j.transactionIndex, '0x0')
  t.equal(j.blockTimestamp, '0x4d2', "geth 1.16's blockTimestamp: the block's timestamp")

  const pre155 = createLegacyTx({ nonce: 0n, gasLimit: 21000n, gasPrice: 1n, to: TO }, { common: createChainCommon({ chainId: 1337n, period: 0, epoch: 1n }) })
  const unprotected = pre155.addSignature(27n, 1n, 2n, false)
  const u = formatTransaction(unprotected, sender) as unknown as Record<string, unknown>
  t.equal(u.chainId, undefined, 'no chainId for a pre-EIP-155 signature')
  t.equal(u.v, '0x1b')
})

t.test('EIP-2930 transaction', async (t) => {
  const j = formatTransaction(al2930, sender, { block, index: 1 }) as unknown as Record<string, unknown>
  const e = ethersView(al2930)
  t.equal(j.hash, e.hash)
  t.equal(j.type, '0x1')
  t.equal(j.chainId, '0x539')
  t.equal(j.yParity, '0x' + e.signature!.yParity.toString(16))
  t.equal(j.v, j.yParity, 'v equals yParity for typed transactions')
  t.equal(j.gasPrice, '0xc')
  t.equal(j.maxFeePerGas, undefined)
  t.equal(j.input, '0xdeadbeef')
  t.same(j.accessList, [{ address: TO, storageKeys: [SLOT] }])
  t.equal(j.transactionIndex, '0x1')
})

t.test('EIP-1559 transactions: effective gasPrice in a block, maxFeePerGas pending', async (t) => {
  const j = formatTransaction(fee1559, sender, { block, index: 2 }) as unknown as Record<string, unknown>
  const e = ethersView(fee1559)
  t.equal(j.hash, e.hash)
  t.equal(j.type, '0x2')
  t.equal(j.to, null, 'creation has to: null')
  t.equal(j.maxFeePerGas, '0x64')
  t.equal(j.maxPriorityFeePerGas, '0x3')
  t.equal(j.gasPrice, '0xa', 'baseFee 7 + tip 3')
  t.same(j.accessList, [])
  t.equal(j.yParity, '0x' + e.signature!.yParity.toString(16))
  t.equal(j.from, sender.toString())

  const capped = formatTransaction(fee1559To, sender, { block, index: 3 })
  t.equal(capped.gasPrice, '0x8', 'capped at maxFeePerGas')

  const pending = formatTransaction(fee1559, sender) as unknown as Record<string, unknown>
  t.equal(pending.blockHash, null)
  t.equal(pending.blockNumber, null)
  t.equal(pending.transactionIndex, null)
  t.equal(pending.blockTimestamp, null, 'pending: blockTimestamp null, as geth')
  t.equal(pending.gasPrice, '0x64', 'pending: maxFeePerGas, as geth')

  const byParts = formatTransaction(fee1559, sender, { blockHash: block.hash(), blockNumber: 5n, timestamp: 1234n, index: 2, baseFee: 90n })
  t.equal(byParts.blockHash, blockHash)
  t.equal(byParts.blockNumber, '0x5')
  t.equal(byParts.blockTimestamp, '0x4d2')
  t.equal(byParts.gasPrice, '0x5d', 'location by parts: baseFee 90 + tip 3')
})

t.test('formatReceipt and formatLog', async (t) => {
  const r0 = formatReceipt(bundle, 0)!
  t.same(Object.keys(r0).sort(), [
    'blockHash', 'blockNumber', 'contractAddress', 'cumulativeGasUsed', 'effectiveGasPrice', 'from', 'gasUsed', 'logs', 'logsBloom', 'status', 'to', 'transactionHash', 'transactionIndex', 'type',
  ])
  t.equal(r0.transactionHash, toData(legacy.hash()))
  t.equal(r0.status, '0x1')
  t.equal(r0.type, '0x0')
  t.equal(r0.contractAddress, null)
  t.equal(r0.to, TO)
  t.equal(r0.from, sender.toString())
  t.equal(r0.cumulativeGasUsed, '0x5208')
  t.equal(r0.effectiveGasPrice, '0xa')
  t.equal(r0.logs.length, 1)
  t.equal(r0.logs[0]!.logIndex, '0x0')

  const r1 = formatReceipt(bundle, 1)!
  t.equal(r1.status, '0x0', 'failed transaction')
  t.equal(r1.type, '0x1')
  t.same(r1.logs, [])

  const r2 = formatReceipt(bundle, 2)!
  t.equal(r2.contractAddress, '0x' + 'cc'.repeat(20))
  t.equal(r2.to, null)
  t.equal(r2.type, '0x2')
  t.same(r2.logs.map((l) => l.logIndex), ['0x1', '0x2'], 'logIndex counts across the block')
  t.same(r2.logs[1], {
    address: '0x' + 'aa'.repeat(20),
    topics: [toData(topic(1)), toData(topic(2))],
    data: '0x010203',
    blockNumber: '0x5',
    transactionHash: toData(fee1559.hash()),
    transactionIndex: '0x2',
    blockHash,
    blockTimestamp: '0x4d2',
    logIndex: '0x2',
    removed: false,
  })
  t.same(r2.logs[0]!.topics, [])
  t.equal(r2.logs[0]!.data, '0x')
  t.equal(formatReceipt(bundle, 4), null, 'no such transaction')
  t.same(formatLog(logA, { block, txIndex: 2, logIndex: 2 }), r2.logs[1])
  t.same(formatBlockReceipts(bundle), [0, 1, 2, 3].map((i) => formatReceipt(bundle, i)), 'eth_getBlockReceipts: every receipt, log indexes across the block')
})
