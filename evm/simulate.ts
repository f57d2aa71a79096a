import { createBlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import type { EVMOpts, EVMResult, InterpreterStep, Message } from '@ethereumjs/evm'
import { createMPT } from '@ethereumjs/mpt'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { createTx, type TypedTransaction } from '@ethereumjs/tx'
import { Account, Address, bytesToUnprefixedHex, createZeroAddress, hexToBytes, setLengthLeft, bigIntToBytes } from '@ethereumjs/util'
import { Bloom, createVM, encodeReceipt, type TxReceipt, type VM } from '@ethereumjs/vm'
import { keccak256 } from '../common/keccak.ts'
import { applyAuthorizations } from './authorizations.ts'
import { blockHashChain, callIntrinsicGas, execBlock, gasUsedAsTransaction, type BlockHashLookup } from './call.ts'
import { createDecodeCommon } from './common.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import { failureMessage } from './failure.ts'
import { applyStateOverrides, type PrecompileMap } from './overrides.ts'
import { TrieLevelAdapter, type BytesLevel } from './state-db.ts'
import { orderedTrieRoot } from './trie-root.ts'
import type { AccessListEntry, BlockOverrides, CallAuthorization, ExecutionContext, RawLog, StateOverrides, StoredReceipt } from './types.ts'

/**
 * eth_simulateV1 (geth's internal/ethapi/simulate.go): blocks of calls run one after another on
 * the state of a base block, each block on the state the previous one left, with per-block state
 * and block overrides. Unlike eth_call, a call here is a transaction: it bumps its sender's nonce,
 * pays for its gas (at price 0 unless asked: geth's non-validation mode has base fee 0), moves
 * value, and a later call sees what an earlier one wrote. `validation` adds geth's transaction
 * checks (nonce, base fee). The state lives in a trie over an in-memory overlay of the chain's
 * trie nodes (a TrieLevelAdapter of its own, never drained), so every simulated block gets its
 * real state root and nothing reaches LevelDB. Plain data in and out, so a call worker runs it.
 */

/** geth's limits: blocks per request (counted from the base), calls per block and in all. */
export const MAX_SIMULATE_BLOCKS = 256
export const MAX_SIMULATE_CALLS_PER_BLOCK = 5_000
export const MAX_SIMULATE_CALLS = 10_000
/** Seconds between simulated blocks whose time is not given (geth's timestampIncrement). */
export const SIMULATE_TIME_STEP = 12n

/** geth's JSON-RPC error codes for eth_simulateV1's refusals (internal/ethapi/errors.go). */
export const SimulateCode = {
  NONCE_TOO_LOW: -38010,
  NONCE_TOO_HIGH: -38011,
  BASE_FEE_TOO_LOW: -38012,
  INTRINSIC_GAS: -38013,
  INSUFFICIENT_FUNDS: -38014,
  BLOCK_GAS_LIMIT_REACHED: -38015,
  BLOCK_NUMBER_INVALID: -38020,
  BLOCK_TIMESTAMP_INVALID: -38021,
  CLIENT_LIMIT_EXCEEDED: -38026,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  SERVER: -32000,
} as const

/** One call of a simulated block: a transaction's fields, all optional (geth's TransactionArgs). */
export interface SimCall {
  from?: Uint8Array
  to?: Uint8Array
  data?: Uint8Array
  value?: bigint
  gas?: bigint
  gasPrice?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  nonce?: bigint
  accessList?: AccessListEntry[]
  authorizationList?: CallAuthorization[]
}

export interface SimBlockInput {
  blockOverrides?: BlockOverrides
  stateOverrides?: StateOverrides
  calls: SimCall[]
}

export interface SimulateRequest {
  blocks: SimBlockInput[]
  validation: boolean
  traceTransfers: boolean
}

/** The base block: its execution context (author as bytes), hash, state root and its successor's base fee. */
export interface SimBase {
  ctx: Omit<ExecutionContext, 'author' | 'systemWrites' | 'reward'> & { author: Uint8Array }
  hash: Uint8Array
  stateRoot: Uint8Array
  nextBaseFee: bigint
  /** The header's coinbase field (under Clique not the author: COINBASE in the EVM is ctx.author). */
  coinbase: Uint8Array
}

export interface SimulatedCall {
  returnData: Uint8Array
  logs: RawLog[]
  gasUsed: bigint
  /** Gas used before the refund (geth's maxUsedGas). */
  maxUsedGas: bigint
  status: 0 | 1
  /** `reverted`: REVERT, returnData is the revert data. */
  error: { reverted: boolean; message: string } | undefined
}

/** A simulated transaction's receipt: the fields a stored one has. */
export type SimulatedReceipt = StoredReceipt

export interface SimulatedBlock {
  /** The block's header, RLP (London layout, as the chain's own). */
  header: Uint8Array
  /** Each call as the unsigned type-2 (or its fee style's) transaction geth makes of it, serialized. */
  txs: Uint8Array[]
  senders: Uint8Array[]
  receipts: SimulatedReceipt[]
  calls: SimulatedCall[]
}

export interface SimulateParts {
  execCommon: Common
  /** The chain's state trie nodes (read only: writes stay in the simulation's overlay). */
  state: BytesLevel
  blockHash: BlockHashLookup
  evmOpts: EVMOpts | undefined
}

/** A refusal of the whole request, with geth's JSON-RPC code in `context.rpcCode`. */
function refuse(rpcCode: number, message: string): EvmError {
  return new EvmError(EvmErrorCode.INVALID_CALL, message, { rpcCode })
}

/** geth's traceTransfers pseudo-log: an ERC-20 Transfer event from 0xeeee…eeee for each ether move. */
const TRANSFER_ADDRESS = hexToBytes('0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee')
const TRANSFER_TOPIC = keccak256(new TextEncoder().encode('Transfer(address,address,uint256)'))

/** Numbers, times and gaps as geth's sanitizeChain: missing numbers count up, gaps are filled with empty blocks. */
function sanitize(base: SimBase, blocks: SimBlockInput[]): Array<SimBlockInput & { number: bigint; time: bigint }> {
  const out: Array<SimBlockInput & { number: bigint; time: bigint }> = []
  let prevNumber = base.ctx.number
  let prevTime = base.ctx.timestamp
  for (const b of blocks) {
    const number = b.blockOverrides?.number ?? prevNumber + 1n
    if (number <= prevNumber) throw refuse(SimulateCode.BLOCK_NUMBER_INVALID, `block numbers must be in order: ${number} <= ${prevNumber}`)
    if (number - base.ctx.number > BigInt(MAX_SIMULATE_BLOCKS)) throw refuse(SimulateCode.CLIENT_LIMIT_EXCEEDED, 'too many blocks')
    for (let n = prevNumber + 1n; n < number; n++) {
      prevTime += SIMULATE_TIME_STEP
      out.push({ calls: [], number: n, time: prevTime })
    }
    prevNumber = number
    const asked = b.blockOverrides?.time
    if (asked !== undefined && asked <= prevTime) throw refuse(SimulateCode.BLOCK_TIMESTAMP_INVALID, `block timestamps must be in order: ${asked} <= ${prevTime}`)
    prevTime = asked ?? prevTime + SIMULATE_TIME_STEP
    out.push({ ...b, number, time: prevTime })
  }
  return out
}

/** The cross-block gas budget: --rpc.gascap for the whole request (geth's gasBudget); 0: none. */
class GasBudget {
  private remaining: bigint
  constructor(cap: bigint) {
    this.remaining = cap > 0n ? cap : (1n << 64n) - 1n
  }
  cap(gas: bigint): bigint {
    return gas > this.remaining ? this.remaining : gas
  }
  consume(gas: bigint): void {
    if (gas > this.remaining) throw refuse(SimulateCode.SERVER, `RPC gas cap exhausted: need ${gas}, remaining ${this.remaining}`)
    this.remaining -= gas
  }
}

/** EIP-7825's per-transaction gas cap (2^24). */
const MAX_TX_GAS = 16_777_216n

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)

export async function simulateBlocks(parts: SimulateParts, req: SimulateRequest, base: SimBase, gasCap: bigint): Promise<SimulatedBlock[]> {
  if (req.blocks.length === 0) throw refuse(SimulateCode.INVALID_PARAMS, 'empty input')
  if (req.blocks.length > MAX_SIMULATE_BLOCKS) throw refuse(SimulateCode.CLIENT_LIMIT_EXCEEDED, 'too many blocks')
  let total = 0
  for (const b of req.blocks) {
    if (b.calls.length > MAX_SIMULATE_CALLS_PER_BLOCK) throw refuse(SimulateCode.CLIENT_LIMIT_EXCEEDED, `too many calls in block: ${b.calls.length} > ${MAX_SIMULATE_CALLS_PER_BLOCK}`)
    total += b.calls.length
    if (total > MAX_SIMULATE_CALLS) throw refuse(SimulateCode.CLIENT_LIMIT_EXCEEDED, `too many calls: ${total} > ${MAX_SIMULATE_CALLS}`)
  }
  const blocks = sanitize(base, req.blocks)
  const exec = parts.execCommon
  const headerCommon = createDecodeCommon(exec)
  // A trie of its own over a private overlay: writes never leave this request.
  const trie = await createMPT({ db: new TrieLevelAdapter(parts.state, { cacheBytes: 4 * 1024 * 1024 }), useKeyHashing: true, useKeyHashingFunction: keccak256, valueEncoding: 'view', root: base.stateRoot })
  const sm = new MerkleStateManager({ trie, common: exec })
  // BLOCKHASH of a simulated block answers its simulated hash.
  const simulatedHashes = new Map<bigint, Uint8Array>()
  const blockchain = blockHashChain(async (n) => (n > base.ctx.number ? simulatedHashes.get(n) : parts.blockHash(n)))
  const vm = await createVM({ common: exec, stateManager: sm, blockchain, evmOpts: parts.evmOpts })
  const precompiles = (vm.evm as unknown as { precompiles: PrecompileMap }).precompiles
  const active = [...precompiles.keys()]
  const budget = new GasBudget(gasCap)
  const results: SimulatedBlock[] = []
  let parent = { hash: base.hash, gasLimit: base.ctx.gasLimit, difficulty: base.ctx.difficulty, nextBaseFee: base.nextBaseFee }
  for (const b of blocks) {
    const o = b.blockOverrides ?? {}
    const gasLimit = o.gasLimit ?? parent.gasLimit
    // COINBASE is the base block's author, as eth_call's; the header keeps the base's coinbase field (geth's makeHeaders).
    const author = o.feeRecipient ?? base.ctx.author
    const coinbase = o.feeRecipient ?? base.coinbase
    // geth: base fee 0 unless validating (then the parent's successor's) or overridden.
    const baseFee = o.baseFeePerGas ?? (req.validation ? parent.nextBaseFee : 0n)
    const ctx: ExecutionContext = { number: b.number, timestamp: b.time, gasLimit, baseFeePerGas: baseFee, difficulty: o.difficulty ?? parent.difficulty, author: new Address(author) }
    const restore = await applyStateOverrides(sm, b.stateOverrides, precompiles)
    const txs: TypedTransaction[] = []
    const senders: Uint8Array[] = []
    const receipts: SimulatedReceipt[] = []
    const txReceipts: TxReceipt[] = []
    const calls: SimulatedCall[] = []
    let used = 0n
    try {
      for (const call of b.calls) {
        const r = await runSimCall(vm, sm, call, ctx, o.prevRandao, { gasLeft: gasLimit - used, budget, validation: req.validation, traceTransfers: req.traceTransfers, active, exec })
        used += r.call.gasUsed
        txs.push(r.tx)
        senders.push(r.sender)
        calls.push(r.call)
        // Receipts carry the real logs only (geth: the transfer pseudo-logs are in `calls` only).
        const logs = r.receiptLogs
        const receiptBloom = new Bloom()
        for (const [address, topics] of logs) {
          receiptBloom.add(address)
          for (const topic of topics) receiptBloom.add(topic)
        }
        receipts.push({ status: r.call.status, cumulativeGasUsed: used, gasUsed: r.call.gasUsed, logsBloom: receiptBloom.bitvector, logs, contractAddress: r.created, effectiveGasPrice: r.price })
        txReceipts.push({ status: r.call.status, cumulativeBlockGasUsed: used, bitvector: receiptBloom.bitvector, logs })
      }
    } finally {
      restore()
    }
    const bloom = new Bloom()
    for (const r of receipts) bloom.or(new Bloom(r.logsBloom))
    const header = createBlockHeader(
      {
        parentHash: parent.hash,
        coinbase,
        stateRoot: await sm.getStateRoot(),
        transactionsTrie: orderedTrieRoot(txs.map((tx) => tx.serialize())),
        receiptTrie: orderedTrieRoot(txReceipts.map((r, i) => encodeReceipt(r, txs[i]!.type))),
        logsBloom: bloom.bitvector,
        difficulty: ctx.difficulty,
        number: b.number,
        gasLimit,
        gasUsed: used,
        timestamp: b.time,
        mixHash: o.prevRandao ?? new Uint8Array(32),
        baseFeePerGas: baseFee,
      },
      { common: headerCommon, skipConsensusFormatValidation: true },
    )
    const hash = header.hash()
    simulatedHashes.set(b.number, hash)
    results.push({ header: header.serialize(), txs: txs.map((tx) => tx.serialize()), senders, receipts, calls })
    parent = { hash, gasLimit, difficulty: ctx.difficulty, nextBaseFee: header.calcNextBaseFee() }
  }
  return results
}

interface CallEnv {
  gasLeft: bigint
  budget: GasBudget
  validation: boolean
  traceTransfers: boolean
  /** The fork's precompile addresses: warm, as geth warms them, wherever an override moved them. */
  active: string[]
  exec: Common
}

/** One call run as its transaction would run (geth's ApplyMessage, nonce and fee checks when validating). */
async function runSimCall(
  vm: VM,
  sm: MerkleStateManager,
  call: SimCall,
  ctx: ExecutionContext,
  prevRandao: Uint8Array | undefined,
  env: CallEnv,
): Promise<{ call: SimulatedCall; receiptLogs: RawLog[]; tx: TypedTransaction; sender: Uint8Array; created: Uint8Array | undefined; price: bigint }> {
  const from = new Address(call.from ?? createZeroAddress().bytes)
  const account = (await sm.getAccount(from)) ?? new Account()
  const nonce = call.nonce ?? account.nonce
  // Osaka (EIP-7825): no transaction carries more than 2^24 gas; a call without `gas` gets at most that.
  const txCap = env.exec.isActivatedEIP(7825) ? MAX_TX_GAS : undefined
  let gas = call.gas ?? (txCap !== undefined && env.gasLeft > txCap ? txCap : env.gasLeft)
  if (gas > env.gasLeft) throw refuse(SimulateCode.BLOCK_GAS_LIMIT_REACHED, `block gas limit reached: remaining: ${env.gasLeft}, required: ${gas}`)
  if (txCap !== undefined && gas > txCap) throw refuse(SimulateCode.INTERNAL, `transaction gas limit too high (cap: ${txCap}, tx: ${gas})`)
  const capped = env.budget.cap(gas) < gas
  gas = env.budget.cap(gas)
  if (call.gasPrice !== undefined && (call.maxFeePerGas !== undefined || call.maxPriorityFeePerGas !== undefined)) {
    throw refuse(SimulateCode.INVALID_PARAMS, 'both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified')
  }
  const feeCap = call.gasPrice ?? call.maxFeePerGas ?? 0n
  const tip = call.gasPrice ?? call.maxPriorityFeePerGas ?? 0n
  const value = call.value ?? 0n
  const sender = from.toString()
  if (env.validation) {
    if (nonce < account.nonce) throw refuse(SimulateCode.NONCE_TOO_LOW, `nonce too low: address ${sender}, tx: ${nonce} state: ${account.nonce}`)
    if (nonce > account.nonce) throw refuse(SimulateCode.NONCE_TOO_HIGH, `nonce too high: address ${sender}, tx: ${nonce} state: ${account.nonce}`)
    if (tip > feeCap) throw refuse(SimulateCode.INVALID_PARAMS, `max priority fee per gas higher than max fee per gas: address ${sender}, maxPriorityFeePerGas: ${tip}, maxFeePerGas: ${feeCap}`)
    if (feeCap < ctx.baseFeePerGas) throw refuse(SimulateCode.BASE_FEE_TOO_LOW, `max fee per gas less than block base fee: address ${sender}, maxFeePerGas: ${feeCap}, baseFee: ${ctx.baseFeePerGas}`)
  }
  // geth's ToMessage: a price only when one was asked for, then min(tip + base fee, fee cap).
  const price = call.gasPrice ?? (feeCap === 0n && tip === 0n ? 0n : min(tip + ctx.baseFeePerGas, feeCap))
  const want = gas * feeCap + value
  if (account.balance < want) throw refuse(SimulateCode.INSUFFICIENT_FUNDS, `insufficient funds for gas * price + value: address ${sender} have ${account.balance} want ${want}`)
  const to = call.to === undefined ? undefined : new Address(call.to)
  const args = { from, to, data: call.data, accessList: call.accessList, authorizationList: call.authorizationList }
  const { intrinsic, floor } = callIntrinsicGas(args, createDecodeCommon(env.exec))
  if (gas < intrinsic) throw refuse(SimulateCode.INTRINSIC_GAS, `intrinsic gas too low: have ${gas}, want ${intrinsic}`)
  if (gas < floor) throw refuse(SimulateCode.INTERNAL, `insufficient gas for floor data gas cost: have ${gas}, want ${floor}`)
  if (call.authorizationList !== undefined && to === undefined) throw refuse(SimulateCode.INVALID_PARAMS, 'a call with an authorizationList must have a "to" address (a set-code transaction cannot create a contract)')
  const tx = simTransaction(call, env.exec, nonce, gas, to)

  // Buy the gas (geth's buyGas), and as a transaction: nonce + 1 (authorizations then see it), value by the EVM.
  account.balance -= gas * price
  account.nonce = nonce + 1n
  await sm.putAccount(from, account)
  let authRefund = 0n
  if (call.authorizationList !== undefined) authRefund = await applyAuthorizations(sm, vm.evm, call.authorizationList, env.exec.chainId())
  const journal = vm.evm.journal
  for (const a of env.active) journal.addAlwaysWarmAddress(a)
  journal.addAlwaysWarmAddress(bytesToUnprefixedHex(from.bytes))
  if (to !== undefined) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(to.bytes))
  if (env.exec.isActivatedEIP(3651)) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(ctx.author.bytes))
  for (const item of call.accessList ?? []) {
    const a = bytesToUnprefixedHex(item.address)
    journal.addAlwaysWarmAddress(a, true)
    for (const k of item.storageKeys) journal.addAlwaysWarmSlot(a, bytesToUnprefixedHex(k), true)
  }
  const transfers = env.traceTransfers ? new TransferLog() : undefined
  transfers?.attach(vm)
  const res = await vm.evm
    .runCall({
      caller: from,
      origin: from,
      to,
      data: call.data ?? new Uint8Array(),
      value,
      gasLimit: gas - intrinsic,
      gasPrice: price,
      block: execBlock(ctx, env.exec, prevRandao),
      // The nonce is bumped above, as a transaction bumps it before it runs.
      skipNonceIncrement: true,
    })
    .finally(() => transfers?.detach(vm))
  const ex = res.execResult
  const maxUsed = intrinsic + ex.executionGasUsed
  const fault = ex.exceptionError
  const gasUsed = gasUsedAsTransaction(maxUsed, floor, fault === undefined ? (ex.gasRefund ?? 0n) + authRefund : undefined)
  // Unused gas back to the sender; the tip to the block's author (the base fee is burnt).
  const after = (await sm.getAccount(from)) ?? new Account()
  after.balance += (gas - gasUsed) * price
  await sm.putAccount(from, after)
  const tipPaid = price > ctx.baseFeePerGas ? (price - ctx.baseFeePerGas) * gasUsed : 0n
  if (tipPaid > 0n) {
    const miner = (await sm.getAccount(ctx.author)) ?? new Account()
    miner.balance += tipPaid
    await sm.putAccount(ctx.author, miner)
  }
  // Empty touched accounts go (EIP-161) and the warm sets are forgotten, as after a transaction.
  await journal.cleanup()
  env.budget.consume(gasUsed)
  const logs: RawLog[] = fault === undefined ? ((ex.logs ?? []) as RawLog[]) : []
  let message = fault === undefined ? undefined : failureMessage(ex)
  if (message !== undefined && capped && fault!.error !== 'revert') message += " (gas limit was capped by the RPC server's global gas cap)"
  return {
    call: {
      returnData: ex.returnValue,
      logs: transfers === undefined || fault !== undefined ? logs : transfers.merge(logs),
      gasUsed,
      maxUsedGas: maxUsed,
      status: fault === undefined ? 1 : 0,
      error: fault === undefined ? undefined : { reverted: fault.error === 'revert', message: message! },
    },
    receiptLogs: logs,
    tx,
    sender: from.bytes,
    created: fault === undefined ? res.createdAddress?.bytes : undefined,
    price,
  }
}

/** The transaction geth makes of a call (ToTransaction): unsigned (v, r, s zero), type 2 unless it names a gas price. */
function simTransaction(call: SimCall, exec: Common, nonce: bigint, gas: bigint, to: Address | undefined): TypedTransaction {
  const common = createDecodeCommon(exec)
  const accessList = (call.accessList ?? []).map((e): [Uint8Array, Uint8Array[]] => [e.address, e.storageKeys])
  const base = { nonce, gasLimit: gas, to, value: call.value ?? 0n, data: call.data ?? new Uint8Array(), v: 0n, r: 0n, s: 0n }
  if (call.gasPrice !== undefined) return createTx(accessList.length > 0 ? { ...base, type: 1, gasPrice: call.gasPrice, accessList, chainId: exec.chainId() } : { ...base, type: 0, gasPrice: call.gasPrice }, { common })
  return createTx({ ...base, type: 2, maxFeePerGas: call.maxFeePerGas ?? 0n, maxPriorityFeePerGas: call.maxPriorityFeePerGas ?? 0n, accessList, chainId: exec.chainId() }, { common })
}

/**
 * traceTransfers: an ERC-20-style Transfer log for each value-carrying message of a call, in
 * execution order among the call's own logs, as geth's tracer lists them. Each open frame keeps
 * its entries in order: a transfer, or a slot for a LOG it ran (counted from the step events; the
 * EVM hands back the real logs only at the end, in the same order). A frame that fails drops its
 * entries, as the EVM drops its logs; one that succeeds hands them to its caller.
 */
type Entry = RawLog | 'log'
class TransferLog {
  private readonly frames: Entry[][] = []
  private top: Entry[] = []
  private readonly onBefore = (m: Message): void => {
    const frame: Entry[] = []
    // DELEGATECALL moves no value (its message carries the caller's for CALLVALUE).
    if (m.value > 0n && m.delegatecall !== true) frame.push(transferLog(m.caller.bytes, m.to?.bytes, m.value))
    this.frames.push(frame)
  }
  private readonly onStep = (s: InterpreterStep): void => {
    if (s.opcode.name.startsWith('LOG')) this.frames.at(-1)?.push('log')
  }
  private readonly onAfter = (r: EVMResult): void => {
    const frame = this.frames.pop() ?? []
    if (r.execResult.exceptionError !== undefined) return
    // A created contract's address is known only now.
    if (r.createdAddress !== undefined && frame[0] !== undefined && frame[0] !== 'log' && frame[0][1][2]!.every((b) => b === 0)) frame[0][1][2] = setLengthLeft(r.createdAddress.bytes, 32)
    const parent = this.frames.at(-1)
    if (parent !== undefined) parent.push(...frame)
    else this.top = frame
  }

  attach(vm: VM): void {
    vm.evm.events!.on('beforeMessage', this.onBefore)
    vm.evm.events!.on('step', this.onStep)
    vm.evm.events!.on('afterMessage', this.onAfter)
  }
  detach(vm: VM): void {
    vm.evm.events!.off('beforeMessage', this.onBefore)
    vm.evm.events!.off('step', this.onStep)
    vm.evm.events!.off('afterMessage', this.onAfter)
  }

  /** The call's logs with the transfers in their places (`logs`: the EVM's, in order). */
  merge(logs: RawLog[]): RawLog[] {
    let next = 0
    const out = this.top.map((e) => (e === 'log' ? logs[next++] : e))
    // Should the counts ever differ, no real log is lost.
    return [...out.filter((l): l is RawLog => l !== undefined), ...logs.slice(next)]
  }
}

function transferLog(from: Uint8Array, to: Uint8Array | undefined, value: bigint): RawLog {
  return [TRANSFER_ADDRESS, [TRANSFER_TOPIC, setLengthLeft(from, 32), setLengthLeft(to ?? new Uint8Array(20), 32)], setLengthLeft(bigIntToBytes(value), 32)]
}
