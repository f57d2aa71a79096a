/**
 * JSON shapes of the Ethereum JSON-RPC specification (and geth's field set) built from
 * ethereumjs objects: QUANTITY as minimal hex, DATA as even hex, addresses lower-case, null
 * where a value does not exist (pending location, create's `to`, no contract address).
 */
import type { Block, BlockHeader } from '@ethereumjs/block'
import type { TypedTransaction } from '@ethereumjs/tx'
import { bytesToBigInt, type Address } from '@ethereumjs/util'
import { toData, toQuantity, type Hex } from '../../common/index.ts'
import type { BlockBundle, RawLog } from '../chain/index.ts'

export interface LogJson {
  address: Hex
  topics: Hex[]
  data: Hex
  blockNumber: Hex
  transactionHash: Hex
  transactionIndex: Hex
  blockHash: Hex
  /** geth 1.16: the block's timestamp on every log. */
  blockTimestamp: Hex
  logIndex: Hex
  removed: boolean
}

export interface HeaderJson {
  number: Hex
  hash: Hex
  parentHash: Hex
  nonce: Hex
  sha3Uncles: Hex
  logsBloom: Hex
  transactionsRoot: Hex
  stateRoot: Hex
  receiptsRoot: Hex
  miner: Hex
  difficulty: Hex
  extraData: Hex
  gasLimit: Hex
  gasUsed: Hex
  timestamp: Hex
  mixHash: Hex
  baseFeePerGas?: Hex
}

export interface AccessListJson {
  address: Hex
  storageKeys: Hex[]
}

/** One EIP-7702 authorization as geth marshals it: every number a quantity. */
export interface AuthorizationJson {
  chainId: Hex
  address: Hex
  nonce: Hex
  yParity: Hex
  r: Hex
  s: Hex
}

export interface TxJson {
  blockHash: Hex | null
  blockNumber: Hex | null
  /** geth 1.16: the block's timestamp; null while pending (as blockHash). */
  blockTimestamp: Hex | null
  transactionIndex: Hex | null
  from: Hex
  gas: Hex
  gasPrice: Hex
  maxFeePerGas?: Hex
  maxPriorityFeePerGas?: Hex
  hash: Hex
  input: Hex
  nonce: Hex
  to: Hex | null
  value: Hex
  type: Hex
  accessList?: AccessListJson[]
  /** EIP-7702 (type 4): the signed authorizations, in geth's shape. */
  authorizationList?: AuthorizationJson[]
  chainId?: Hex
  v: Hex
  r: Hex
  s: Hex
  yParity?: Hex
}

export interface BlockJson extends HeaderJson {
  size: Hex
  totalDifficulty: Hex
  transactions: Hex[] | TxJson[]
  uncles: Hex[]
}

/** A receipt as geth's: no blockTimestamp of its own (geth 1.16 puts it on the receipt's logs). */
export interface ReceiptJson {
  transactionHash: Hex
  transactionIndex: Hex
  blockHash: Hex
  blockNumber: Hex
  from: Hex
  to: Hex | null
  cumulativeGasUsed: Hex
  gasUsed: Hex
  contractAddress: Hex | null
  logs: LogJson[]
  logsBloom: Hex
  type: Hex
  status: Hex
  effectiveGasPrice: Hex
}

/** Where a mined transaction sits: a block, or its identifying parts when no Block is at hand. */
export type TxBlockLocation = { block: Block; index: number } | { blockHash: Uint8Array; blockNumber: bigint; timestamp: bigint; index: number; baseFee?: bigint }

const addr = (a: Address): Hex => a.toString()

export function formatHeader(h: BlockHeader): HeaderJson {
  const out: HeaderJson = {
    number: toQuantity(h.number),
    hash: toData(h.hash()),
    parentHash: toData(h.parentHash),
    nonce: toData(h.nonce),
    sha3Uncles: toData(h.uncleHash),
    logsBloom: toData(h.logsBloom),
    transactionsRoot: toData(h.transactionsTrie),
    stateRoot: toData(h.stateRoot),
    receiptsRoot: toData(h.receiptTrie),
    // Clique: the coinbase carries the vote (zero when none); the sealer is in extraData.
    miner: addr(h.coinbase),
    difficulty: toQuantity(h.difficulty),
    extraData: toData(h.extraData),
    gasLimit: toQuantity(h.gasLimit),
    gasUsed: toQuantity(h.gasUsed),
    timestamp: toQuantity(h.timestamp),
    mixHash: toData(h.mixHash),
  }
  if (h.baseFeePerGas !== undefined) out.baseFeePerGas = toQuantity(h.baseFeePerGas)
  return out
}

export function formatBlock(bundle: BlockBundle, fullTx: boolean): BlockJson {
  const { block } = bundle
  const transactions = fullTx
    ? block.transactions.map((tx, index) => formatTransaction(tx, bundle.senders[index]!, { block, index }))
    : block.transactions.map((tx) => toData(tx.hash()))
  return {
    ...formatHeader(block.header),
    size: toQuantity(block.serialize().length),
    totalDifficulty: toQuantity(bundle.totalDifficulty),
    transactions,
    uncles: [],
  }
}

function resolveLocation(loc: TxBlockLocation): { blockHash: Uint8Array; blockNumber: bigint; timestamp: bigint; index: number; baseFee: bigint | undefined } {
  if ('block' in loc) return { blockHash: loc.block.hash(), blockNumber: loc.block.header.number, timestamp: loc.block.header.timestamp, index: loc.index, baseFee: loc.block.header.baseFeePerGas }
  return { blockHash: loc.blockHash, blockNumber: loc.blockNumber, timestamp: loc.timestamp, index: loc.index, baseFee: loc.baseFee }
}

/**
 * A transaction as geth returns it. `gasPrice` of a fee-market tx is the price it paid when
 * mined (min(tip + baseFee, maxFee)) and its maxFeePerGas while pending.
 */
export function formatTransaction(tx: TypedTransaction, sender: Address, loc?: TxBlockLocation): TxJson {
  const at = loc === undefined ? undefined : resolveLocation(loc)
  let gasPrice: bigint
  let feeFields: { maxFeePerGas?: Hex; maxPriorityFeePerGas?: Hex } = {}
  if ('gasPrice' in tx) {
    gasPrice = tx.gasPrice
  } else {
    const { maxFeePerGas, maxPriorityFeePerGas } = tx
    gasPrice = at?.baseFee === undefined ? maxFeePerGas : min(at.baseFee + maxPriorityFeePerGas, maxFeePerGas)
    feeFields = { maxFeePerGas: toQuantity(maxFeePerGas), maxPriorityFeePerGas: toQuantity(maxPriorityFeePerGas) }
  }
  const v = tx.v ?? 0n
  const out: TxJson = {
    blockHash: at === undefined ? null : toData(at.blockHash),
    blockNumber: at === undefined ? null : toQuantity(at.blockNumber),
    blockTimestamp: at === undefined ? null : toQuantity(at.timestamp),
    transactionIndex: at === undefined ? null : toQuantity(at.index),
    from: addr(sender),
    gas: toQuantity(tx.gasLimit),
    gasPrice: toQuantity(gasPrice),
    ...feeFields,
    hash: toData(tx.hash()),
    input: toData(tx.data),
    nonce: toQuantity(tx.nonce),
    to: tx.to === undefined ? null : addr(tx.to),
    value: toQuantity(tx.value),
    type: toQuantity(tx.type),
    v: toQuantity(v),
    r: toQuantity(tx.r ?? 0n),
    s: toQuantity(tx.s ?? 0n),
  }
  if ('chainId' in tx) {
    out.chainId = toQuantity(tx.chainId)
    out.yParity = toQuantity(v)
  } else if (v >= 35n) {
    // EIP-155 legacy: v = chainId * 2 + 35 + parity.
    out.chainId = toQuantity((v - 35n) / 2n)
  }
  if ('accessList' in tx) {
    out.accessList = tx.accessList.map(([address, keys]) => ({ address: toData(address), storageKeys: keys.map(toData) }))
  }
  if ('authorizationList' in tx) {
    out.authorizationList = tx.authorizationList.map(([chainId, address, nonce, yParity, r, s]) => ({
      chainId: toQuantity(bytesToBigInt(chainId)),
      address: toData(address),
      nonce: toQuantity(bytesToBigInt(nonce)),
      yParity: toQuantity(bytesToBigInt(yParity)),
      r: toQuantity(bytesToBigInt(r)),
      s: toQuantity(bytesToBigInt(s)),
    }))
  }
  return out
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

/** One log of a mined transaction; `logIndex` counts across the whole block. */
export function formatLog(raw: RawLog, loc: { block: Block; txIndex: number; logIndex: number }): LogJson {
  const [address, topics, data] = raw
  const tx = loc.block.transactions[loc.txIndex]
  return {
    address: toData(address),
    topics: topics.map(toData),
    data: toData(data),
    blockNumber: toQuantity(loc.block.header.number),
    transactionHash: tx === undefined ? toData(new Uint8Array(32)) : toData(tx.hash()),
    transactionIndex: toQuantity(loc.txIndex),
    blockHash: toData(loc.block.hash()),
    blockTimestamp: toQuantity(loc.block.header.timestamp),
    logIndex: toQuantity(loc.logIndex),
    removed: false,
  }
}

/** The receipt of transaction `index` in the bundle, or null when there is none. */
export function formatReceipt(bundle: BlockBundle, index: number): ReceiptJson | null {
  let logIndex = 0
  for (let i = 0; i < index && i < bundle.receipts.length; i++) logIndex += bundle.receipts[i]!.logs.length
  return receiptJson(bundle, index, logIndex)
}

/** Every receipt of the block, in order (eth_getBlockReceipts). */
export function formatBlockReceipts(bundle: BlockBundle): ReceiptJson[] {
  const out: ReceiptJson[] = []
  let logIndex = 0
  for (let i = 0; i < bundle.block.transactions.length; i++) {
    const r = receiptJson(bundle, i, logIndex)
    if (r === null) break
    out.push(r)
    logIndex += r.logs.length
  }
  return out
}

/** Receipt `index` of the bundle whose first log has block-wide index `firstLogIndex`. */
function receiptJson(bundle: BlockBundle, index: number, firstLogIndex: number): ReceiptJson | null {
  const { block } = bundle
  const tx = block.transactions[index]
  const r = bundle.receipts[index]
  const sender = bundle.senders[index]
  if (tx === undefined || r === undefined || sender === undefined) return null
  let logIndex = firstLogIndex
  return {
    transactionHash: toData(tx.hash()),
    transactionIndex: toQuantity(index),
    blockHash: toData(block.hash()),
    blockNumber: toQuantity(block.header.number),
    from: addr(sender),
    to: tx.to === undefined ? null : addr(tx.to),
    cumulativeGasUsed: toQuantity(r.cumulativeGasUsed),
    gasUsed: toQuantity(r.gasUsed),
    contractAddress: r.contractAddress === undefined ? null : toData(r.contractAddress),
    logs: r.logs.map((raw) => formatLog(raw, { block, txIndex: index, logIndex: logIndex++ })),
    logsBloom: toData(r.logsBloom),
    type: toQuantity(tx.type),
    status: toQuantity(r.status),
    effectiveGasPrice: toQuantity(r.effectiveGasPrice),
  }
}
