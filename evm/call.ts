import { createBlock, type Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM, type EVMMockBlockchainInterface, type EVMOpts } from '@ethereumjs/evm'
import { createMPT } from '@ethereumjs/mpt'
import { CacheType, Caches, type MerkleStateManager } from '@ethereumjs/statemanager'
import { createTx, getCalldataFloorGas } from '@ethereumjs/tx'
import { Account, bigIntToUnpaddedBytes, bytesToHex, bytesToUnprefixedHex, createZeroAddress, hexToBytes, setLengthLeft, type DB, type EOACode7702AuthorizationListBytesItem } from '@ethereumjs/util'
import { createVM, type VM } from '@ethereumjs/vm'
import { keccak256 } from '../common/keccak.ts'
import { commonFork, createDecodeCommon } from './common.ts'
import { forkOpcodes } from './fork-opcodes.ts'
import { checkedJump, enableSyncSteps, fastOpcodes, syncOpcode, type AddOpcode } from './fast-opcodes.ts'
import { keepTrieReads } from './call-state.ts'
import { EvmError, EvmErrorCode, missingStateError } from './errors.ts'
import { BlockStateManager } from './state-manager.ts'
import { applyAuthorizations } from './authorizations.ts'
import { failureMessage } from './failure.ts'
import { applyStateOverrides, overrideBlock, type PrecompileMap } from './overrides.ts'
import type { AccessListEntry, CallArgs, CallAuthorization, CallResult, ExecutionContext } from './types.ts'

/**
 * eth_call, eth_estimateGas and eth_createAccessList over the state at a root: one code path for the main thread
 * (the executor, the gatekeeper's in-process reads) and the call workers (call-worker.ts).
 */

/** Default gas cap for eth_call / eth_estimateGas (geth's RPCGasCap, `--rpc.gascap`). */
export const RPC_GAS_CAP = 50_000_000n

/** Canonical block hash by number, for BLOCKHASH. */
export type BlockHashLookup = (number: bigint) => Promise<Uint8Array | undefined>

/**
 * The writable state manager over `db`: the executor's, and the template the call workers copy
 * views from. Ordered-map caches never evict: BlockStateManager keeps SSTOREs in them until the flush.
 */
export async function createStateManager(db: DB<string | Uint8Array, string | Uint8Array>, execCommon: Common): Promise<BlockStateManager> {
  const trie = await createMPT({ db, useKeyHashing: true, useKeyHashingFunction: keccak256, valueEncoding: 'view' })
  const caches = new Caches({ account: { type: CacheType.ORDERED_MAP }, storage: { type: CacheType.ORDERED_MAP } })
  return new BlockStateManager({ trie, caches, common: execCommon })
}

/** A new state manager over the trie at `root`, with its own (LRU) caches. */
export async function stateAt(base: MerkleStateManager, root: Uint8Array): Promise<MerkleStateManager> {
  const sm = base.shallowCopy(true)
  if (!(await sm.hasStateRoot(root))) throw missingStateError(root)
  await sm.setStateRoot(root, true)
  return sm
}

/** The VM's view of the chain: only BLOCKHASH reads it. */
export function blockHashChain(blockHash: BlockHashLookup): EVMMockBlockchainInterface {
  const chain: EVMMockBlockchainInterface = {
    getBlock: async (n: number) => {
      const hash = await blockHash(BigInt(n))
      if (hash === undefined) throw new EvmError(EvmErrorCode.MISSING_STATE, `no canonical block ${n}`)
      return { hash: () => hash }
    },
    putBlock: async () => {},
    shallowCopy: () => chain,
  }
  return chain
}

/** The block the VM runs in: its coinbase is the author (see ARCHITECTURE.md, "Two Commons"). */
export function execBlock(ctx: ExecutionContext, execCommon: Common, prevRandao?: Uint8Array): Block {
  return createBlock(
    {
      header: {
        number: ctx.number,
        timestamp: ctx.timestamp,
        gasLimit: ctx.gasLimit,
        baseFeePerGas: ctx.baseFeePerGas,
        difficulty: ctx.difficulty,
        coinbase: ctx.author,
        ...(prevRandao === undefined ? {} : { mixHash: prevRandao }),
      },
    },
    { common: execCommon, skipConsensusFormatValidation: true },
  )
}

/** The gas a call may use: asked for (else the block's limit), never above a non-zero cap (geth). */
export function callGas(asked: bigint | undefined, blockGasLimit: bigint, gasCap: bigint): bigint {
  const gas = asked ?? blockGasLimit
  return gasCap > 0n && gas > gasCap ? gasCap : gas
}

/**
 * Run before every jump and every call or create of a call's EVM; throws to stop the call. Every
 * loop in EVM code jumps and every new frame starts with a call or create, so a long call meets it
 * often; a worker stops an over-budget call this way, without losing the thread.
 */
export type InterruptCheck = () => void

/** JUMP, JUMPI, CREATE, CALL, CALLCODE, DELEGATECALL, CREATE2, STATICCALL. */
const CHECKED_OPCODES = [0x56, 0x57, 0xf0, 0xf1, 0xf2, 0xf4, 0xf5, 0xfa]

/** The same opcodes (fees, gas and logic) with `check` run first: EVM options for an interruptible VM. */
function interruptible(common: Common, check: InterruptCheck): EVMOpts {
  // The EVM's gas parameters, as the EVM itself loads them into its Common.
  const withParams = common.copy()
  withParams.updateParams(paramsEVM)
  const { opcodeMap } = getOpcodesForHF(withParams)
  return {
    customOpcodes: CHECKED_OPCODES.map((op) => {
      const e = opcodeMap[op]!
      const logic = e.opHandler
      const checked: AddOpcode = {
        opcode: op,
        opcodeName: e.opcodeInfo.name,
        baseFee: e.opcodeInfo.fee,
        gasFunction: e.gasHandler,
        logicFunction: (runState, c) => {
          check()
          return logic(runState, c)
        },
      }
      if (e.opcodeInfo.isAsync || e.opcodeInfo.dynamicGas) return checked
      // JUMP and JUMPI stay synchronous, so fast-opcodes.ts's sync steps run loops through them,
      // and its inlined loop runs them with `check` first, as here.
      checkedJump(checked.logicFunction, check)
      return syncOpcode(checked)
    }),
  }
}

/** The EVM options calls run with: the chain's fork opcodes, and `interrupt` checked at every jump and call when given (eth_simulateV1's VMs). */
export function callEvmOpts(execCommon: Common, interrupt?: InterruptCheck): EVMOpts {
  const checked = interrupt === undefined ? [] : (interruptible(execCommon, interrupt).customOpcodes ?? [])
  return { customOpcodes: [...forkOpcodes(commonFork(execCommon)), ...checked] }
}

export interface CallRunnerParts {
  execCommon: Common
  /** Views of each root are copied from it (see stateAt). */
  base: MerkleStateManager
  blockchain: EVMMockBlockchainInterface
  /** Roots with a kept VM; default 4. */
  maxVms?: number
  /** Makes calls stoppable (call workers); absent: the stock EVM, as block execution runs it. */
  interrupt?: InterruptCheck
  /** Runs calls on fast-opcodes.ts's synchronous steps and opcodes (call workers); same gas and results. */
  fast?: boolean
  /**
   * Calls on the main thread (call-inline.ts): a precompile whose one run can take long (all but
   * ecrecover, and SHA-256, RIPEMD-160 and identity on more than 64 KiB) throws CALL_INTERRUPTED
   * instead of running, so the call goes to a worker. (With `fast`, `interrupt` runs before every
   * opcode the inlined loop hands back and every KECCAK256 as well, on every such runner.)
   */
  inline?: boolean
}

/**
 * Runs eth_call / eth_estimateGas on VMs kept per state root: creating a VM and reading the
 * trie cold cost ~4 ms a call; a kept VM with warm caches runs a view call in well under 1 ms.
 * Each call runs inside a state checkpoint that is reverted afterwards, and calls on one VM are
 * serialised so checkpoints never interleave.
 */
export class CallRunner {
  private readonly parts: CallRunnerParts
  private readonly vms = new Map<string, { vm: VM; queue: Promise<unknown> }>()
  /** For intrinsic gas: a shared Common, so a call does not copy one per transaction object. */
  private readonly txCommon: Common
  /** Built once: every new root's VM takes them (a new head each block). */
  private readonly evmOpts: EVMOpts | undefined
  /** Exec blocks by context: building a header copies the Common and rebuilds its parameters each time. */
  private readonly blocks = new Map<string, Block>()
  /** The last message's intrinsic gas: an estimate's runs differ only in gas. */
  private lastIntrinsic: { args: CallArgs; gas: { intrinsic: bigint; floor: bigint } } | undefined

  constructor(parts: CallRunnerParts) {
    this.parts = parts
    this.txCommon = createDecodeCommon(parts.execCommon)
    const checked = parts.interrupt === undefined ? [] : (interruptible(parts.execCommon, parts.interrupt).customOpcodes ?? [])
    const fast = parts.fast === true ? fastOpcodes(parts.execCommon) : []
    this.evmOpts = { customOpcodes: [...forkOpcodes(commonFork(parts.execCommon)), ...fast, ...checked] }
  }

  private execBlockFor(ctx: ExecutionContext, prevRandao: Uint8Array | undefined): Block {
    const key = `${ctx.number}/${ctx.timestamp}/${ctx.gasLimit}/${ctx.baseFeePerGas}/${ctx.difficulty}/${ctx.author.toString()}/${prevRandao === undefined ? '' : bytesToHex(prevRandao)}`
    let block = this.blocks.get(key)
    if (block === undefined) {
      block = execBlock(ctx, this.parts.execCommon, prevRandao)
      if (this.blocks.size >= MAX_EXEC_BLOCKS) this.blocks.delete(this.blocks.keys().next().value as string)
      this.blocks.set(key, block)
    }
    return block
  }

  private intrinsicGas(args: CallArgs): { intrinsic: bigint; floor: bigint } {
    const last = this.lastIntrinsic
    if (last !== undefined && last.args.data === args.data && last.args.to === args.to && last.args.from === args.from && last.args.accessList === args.accessList && last.args.authorizationList === args.authorizationList) return last.gas
    const gas = callIntrinsicGas(args, this.txCommon)
    this.lastIntrinsic = { args, gas }
    return gas
  }

  private async callOn<T>(root: Uint8Array, fn: (vm: VM) => Promise<T>): Promise<T> {
    const key = bytesToHex(root)
    let entry = this.vms.get(key)
    if (entry === undefined) {
      const vm = await createVM({ common: this.parts.execCommon, stateManager: await stateAt(this.parts.base, root), blockchain: this.parts.blockchain, evmOpts: this.evmOpts })
      keepTrieReads(vm.stateManager as MerkleStateManager)
      // The interrupt also before every handed-back opcode: code without jumps (thousands of
      // SLOADs) is stopped too, where a worker would otherwise run on until it is terminated.
      if (this.parts.fast === true) await enableSyncSteps(vm.evm, this.parts.execCommon, this.parts.interrupt)
      if (this.parts.inline === true && this.parts.interrupt !== undefined) guardPrecompiles((vm.evm as unknown as { precompiles: PrecompileMap }).precompiles)
      entry = this.vms.get(key) ?? { vm, queue: Promise.resolve() }
      this.vms.set(key, entry)
      if (this.vms.size > (this.parts.maxVms ?? 4)) this.vms.delete(this.vms.keys().next().value as string)
    }
    const e = entry
    const run = e.queue.then(async () => {
      const sm = e.vm.stateManager
      await sm.checkpoint()
      // cleanup() forgets this call's warm/touched sets (its deletions are undone by the revert).
      const tidy = async () => {
        await e.vm.evm.journal.cleanup()
        await sm.revert()
      }
      let result: T
      try {
        result = await fn(e.vm)
      } catch (err) {
        // Not an EVM outcome (those resolve) but a throw through the frames (an interrupt, a bug):
        // the journal may be left mid-frame, so this VM is not reused.
        if (this.vms.get(key) === e) this.vms.delete(key)
        await tidy().catch(() => undefined)
        throw err
      }
      await tidy()
      return result
    })
    e.queue = run.catch(() => undefined)
    return run
  }

  /** eth_call: runs a message on the state at `root`; nothing it writes is kept. */
  async call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint, observe?: CallObserver): Promise<CallResult> {
    return (await this.execute(args, ctx, root, gasCap, false, observe)).result
  }

  /**
   * One run of the message, as a transaction of its kind would run (geth's ApplyMessage without
   * nonce and fee checks): overrides, then EIP-7702 authorizations, the EIP-2929 warm set (caller,
   * callee, coinbase, precompiles, the access list), intrinsic gas with the access list and the
   * EIP-7623 calldata floor, and the refund.
   */
  private async execute(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint, report: boolean, observe?: CallObserver): Promise<Execution> {
    const { ctx: block, prevRandao } = overrideBlock(ctx, args.blockOverrides)
    const gas = callGas(args.gas, block.gasLimit, gasCap)
    const { intrinsic, floor } = this.intrinsicGas(args)
    const least = floor > intrinsic ? floor : intrinsic
    if (gas < least) {
      const message = floor > intrinsic ? `insufficient gas for floor data gas cost: have ${gas}, want ${floor}` : `intrinsic gas too low: have ${gas}, want ${intrinsic}`
      return { result: { returnValue: new Uint8Array(), gasUsed: gas, error: { reverted: false, message } }, maxUsed: gas, lowGas: true, accessList: undefined }
    }
    if (args.authorizationList !== undefined && args.to === undefined) {
      throw new EvmError(EvmErrorCode.INVALID_CALL, 'a call with an authorizationList must have a "to" address (a set-code transaction cannot create a contract)')
    }
    const caller = args.from ?? createZeroAddress()
    const exec = this.parts.execCommon
    return this.callOn(root, async (vm) => {
      const sm = vm.stateManager as MerkleStateManager
      const journal = vm.evm.journal
      // The EVM class has them (address hex without 0x -> function); its interface type does not.
      const precompiles = (vm.evm as unknown as { precompiles: PrecompileMap }).precompiles
      // geth warms the fork's precompile addresses, wherever an override moved them.
      const active = [...precompiles.keys()]
      const restorePrecompiles = await applyStateOverrides(sm, args.stateOverrides, precompiles)
      try {
        if (report) journal.startReportingAccessList()
        let authRefund = 0n
        if (args.authorizationList !== undefined) {
          // As a transaction: the sender's nonce is bumped first, so a self-signed tuple carries nonce + 1.
          const from = (await sm.getAccount(caller)) ?? new Account()
          from.nonce += 1n
          await sm.putAccount(caller, from)
          authRefund = await applyAuthorizations(sm, vm.evm, args.authorizationList, exec.chainId())
        }
        for (const a of active) journal.addAlwaysWarmAddress(a)
        journal.addAlwaysWarmAddress(bytesToUnprefixedHex(caller.bytes))
        if (args.to !== undefined) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(args.to.bytes))
        if (exec.isActivatedEIP(3651)) journal.addAlwaysWarmAddress(bytesToUnprefixedHex(block.author.bytes))
        for (const item of args.accessList ?? []) {
          const a = bytesToUnprefixedHex(item.address)
          journal.addAlwaysWarmAddress(a, true)
          for (const k of item.storageKeys) journal.addAlwaysWarmSlot(a, bytesToUnprefixedHex(k), true)
        }
        observe?.attach(vm)
        const res = await vm.evm
          .runCall({
            caller,
            origin: caller,
            to: args.to,
            data: args.data ?? new Uint8Array(),
            value: args.value ?? 0n,
            gasLimit: gas - intrinsic,
            gasPrice: args.gasPrice ?? 0n,
            block: this.execBlockFor(block, prevRandao),
            skipBalance: true,
            // Bumped above already, before the authorizations (runCall would bump it a second time).
            skipNonceIncrement: args.authorizationList !== undefined,
          })
          .finally(() => observe?.detach(vm))
        const ex = res.execResult
        const used = intrinsic + ex.executionGasUsed
        const fault = ex.exceptionError
        const gasUsed = gasUsedAsTransaction(used, floor, fault === undefined ? (ex.gasRefund ?? 0n) + authRefund : undefined)
        return {
          result: {
            returnValue: ex.returnValue,
            gasUsed,
            error: fault === undefined ? undefined : { reverted: fault.error === 'revert', message: failureMessage(ex) },
          },
          maxUsed: used,
          lowGas: fault?.error === 'out of gas',
          accessList: report ? reported(journal.accessList) : undefined,
        }
      } finally {
        restorePrecompiles()
      }
    })
  }

  /**
   * eth_estimateGas as geth's gasestimator: the least gas at which the call succeeds, within
   * geth's 1.5% error ratio. A plain transfer is tried at 21,000 first; otherwise the call runs
   * once at the allowance (a failure other than running out of gas is the answer: the revert or
   * the EVM error), then at geth's optimistic guess (gas used + refund + the call stipend, plus
   * the 1/64 CALL withholds), then by bisection skewed low.
   */
  async estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint): Promise<bigint> {
    const block = overrideBlock(ctx, args.blockOverrides).ctx
    let hi = args.gas !== undefined && args.gas >= TX_GAS ? args.gas : block.gasLimit
    // EIP-7825 (Osaka): no transaction may carry more.
    if (this.parts.execCommon.isActivatedEIP(7825) && hi > MAX_TX_GAS) hi = MAX_TX_GAS
    const feeCap = args.gasPrice ?? 0n
    if (feeCap > 0n) {
      const balance = await this.balanceOf(args, root)
      const value = args.value ?? 0n
      if (value >= balance) throw new EvmError(EvmErrorCode.GAS_ESTIMATION_FAILED, 'insufficient funds for transfer')
      const allowance = (balance - value) / feeCap
      if (hi > allowance) hi = allowance
    }
    if (gasCap > 0n && hi > gasCap) hi = gasCap
    const run = (gas: bigint) => this.execute({ ...args, gas }, ctx, root, 0n, false)
    if ((args.data === undefined || args.data.length === 0) && args.to !== undefined) {
      if ((await run(TX_GAS)).result.error === undefined) return TX_GAS
    }
    const first = await run(hi)
    const err = first.result.error
    if (err !== undefined) {
      if (!first.lowGas) {
        throw new EvmError(EvmErrorCode.GAS_ESTIMATION_FAILED, err.message, { revertData: err.reverted ? first.result.returnValue : undefined })
      }
      throw new EvmError(EvmErrorCode.GAS_ESTIMATION_FAILED, `gas required exceeds allowance (${hi})`)
    }
    let lo = first.result.gasUsed - 1n
    const optimistic = ((first.maxUsed + CALL_STIPEND) * 64n) / 63n
    if (optimistic < hi) {
      if ((await run(optimistic)).result.error === undefined) hi = optimistic
      else lo = optimistic
    }
    while (lo + 1n < hi) {
      // geth's ErrorRatio: a wallet adds its own margin, so 1.5% above the least is close enough.
      if (Number(hi - lo) / Number(hi) < ESTIMATE_ERROR_RATIO) break
      let mid = lo + (hi - lo) / 2n
      if (mid > lo * 2n) mid = lo * 2n
      if ((await run(mid)).result.error === undefined) hi = mid
      else lo = mid
    }
    return hi
  }

  /**
   * eth_createAccessList as geth: run with the access list so far, record what the run touched
   * (beyond the caller, the callee and the precompiles), and repeat until the list stops changing.
   */
  async createAccessList(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint): Promise<AccessListResult> {
    let list = args.accessList ?? []
    for (let i = 0; ; i++) {
      const run = await this.execute({ ...args, accessList: list }, ctx, root, gasCap, true)
      const next = run.accessList ?? []
      if (sameAccessList(list, next) || i >= MAX_ACCESS_LIST_ROUNDS) {
        return { accessList: next, gasUsed: run.result.gasUsed, error: run.result.error?.message, revertData: run.result.error?.reverted === true ? run.result.returnValue : undefined }
      }
      list = next
    }
  }

  /** The caller's balance the call would see (its state override, else the state at `root`). */
  private async balanceOf(args: CallArgs, root: Uint8Array): Promise<bigint> {
    const caller = args.from ?? createZeroAddress()
    return this.callOn(root, async (vm) => {
      const sm = vm.stateManager as MerkleStateManager
      const restore = await applyStateOverrides(sm, args.stateOverrides, (vm.evm as unknown as { precompiles: PrecompileMap }).precompiles)
      restore()
      return (await sm.getAccount(caller))?.balance ?? 0n
    })
  }

  /** Intrinsic gas of the message as a transaction of its kind, and the EIP-7623 calldata floor. */
}

/**
 * Watches one call's EVM (debug_traceCall's tracers): attached just before the message runs and
 * detached right after, so it sees the message exactly as eth_call runs it, and nothing else.
 */
export interface CallObserver {
  attach(vm: VM): void
  detach(vm: VM): void
}

/** Precompiles cheap in one run whatever their input (ecrecover), and those cheap on a small input. */
const CHEAP_PRECOMPILE = '0000000000000000000000000000000000000001'
const SMALL_INPUT_PRECOMPILES = new Set(['0000000000000000000000000000000000000002', '0000000000000000000000000000000000000003', '0000000000000000000000000000000000000004'])
const SMALL_INPUT = 64 * 1024

/**
 * Replaces the fork's precompiles whose one run may take long (pairings, MSMs, modexp: priced for
 * native code, seconds in JavaScript at the gas cap) with ones that throw CALL_INTERRUPTED: a call
 * on the main thread that reaches one goes to a worker. The same addresses stay active (warm set).
 */
function guardPrecompiles(precompiles: PrecompileMap): void {
  const stop = (): never => {
    throw new EvmError(EvmErrorCode.CALL_INTERRUPTED, 'the call reached a precompile that may run long: it is not run on the main thread')
  }
  for (const [address, fn] of precompiles) {
    if (address === CHEAP_PRECOMPILE) continue
    const run = fn as (opts: { data: Uint8Array }) => unknown
    precompiles.set(address, SMALL_INPUT_PRECOMPILES.has(address) ? (opts: { data: Uint8Array }) => (opts.data.length > SMALL_INPUT ? stop() : run(opts)) : stop)
  }
}

/** What one run of a message gave, beyond its CallResult. */
interface Execution {
  result: CallResult
  /** Gas used before the refund (geth's MaxUsedGas). */
  maxUsed: bigint
  /** It failed for want of gas (out of gas, or less than the intrinsic gas): more gas may help. */
  lowGas: boolean
  accessList: AccessListEntry[] | undefined
}

export interface AccessListResult {
  accessList: AccessListEntry[]
  gasUsed: bigint
  /** The run's failure, as eth_call would name it ("execution reverted"...); absent on success. */
  error: string | undefined
  revertData: Uint8Array | undefined
}

const TX_GAS = 21_000n
/** Exec blocks a runner keeps: a head's, plus a few block overrides. */
const MAX_EXEC_BLOCKS = 8
const CALL_STIPEND = 2_300n
/** EIP-7825's per-transaction gas cap (2^24). */
const MAX_TX_GAS = 16_777_216n
const ESTIMATE_ERROR_RATIO = 0.015
/** A list that keeps changing (a call whose path depends on warmth) settles here. */
const MAX_ACCESS_LIST_ROUNDS = 8

/** A call's intrinsic gas and EIP-7623 calldata floor, as its transaction kind would pay them. */
export function callIntrinsicGas(args: CallArgs, txCommon: Common): { intrinsic: bigint; floor: bigint } {
  // No gas limit: intrinsic gas does not depend on it, and from Osaka (EIP-7825) a transaction
  // above 2^24 gas cannot even be constructed.
  const data = args.data ?? new Uint8Array()
  const accessList = (args.accessList ?? []).map((e): [Uint8Array, Uint8Array[]] => [e.address, e.storageKeys])
  const tx =
    args.authorizationList !== undefined && args.authorizationList.length > 0
      ? createTx({ type: 4, to: args.to, data, accessList, authorizationList: args.authorizationList.map(authorizationBytes) }, { common: txCommon })
      : accessList.length > 0
        ? createTx({ type: 1, to: args.to, data, accessList }, { common: txCommon })
        : createTx({ to: args.to, data }, { common: txCommon })
  return { intrinsic: tx.getIntrinsicGas(), floor: getCalldataFloorGas(tx, args.from) }
}

/**
 * The gas a call's transaction would be charged: `used` (intrinsic included) less the refund
 * (EIP-3529: at most a fifth of the gas used; `refund` undefined for a failed call, which earns
 * none), and never below the calldata floor (EIP-7623).
 */
export function gasUsedAsTransaction(used: bigint, floor: bigint, refund: bigint | undefined): bigint {
  const charged = used - (refund === undefined ? 0n : min(refund, used / 5n))
  return charged < floor ? floor : charged
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

function authorizationBytes(a: CallAuthorization): EOACode7702AuthorizationListBytesItem {
  return [bigIntToUnpaddedBytes(a.chainId), a.address, bigIntToUnpaddedBytes(a.nonce), bigIntToUnpaddedBytes(a.yParity), bigIntToUnpaddedBytes(a.r), bigIntToUnpaddedBytes(a.s)]
}

function reported(list: Map<string, Set<string>> | undefined): AccessListEntry[] {
  return [...(list ?? new Map<string, Set<string>>())].map(([a, slots]) => ({ address: hexToBytes(`0x${a}`), storageKeys: [...slots].map((k) => setLengthLeft(hexToBytes(`0x${k.length % 2 === 0 ? k : '0' + k}`), 32)) }))
}

function sameAccessList(a: AccessListEntry[], b: AccessListEntry[]): boolean {
  const key = (l: AccessListEntry[]) => l.map((e) => bytesToHex(e.address) + ':' + e.storageKeys.map((k) => bytesToHex(k)).sort().join(',')).sort().join(';')
  return key(a) === key(b)
}
