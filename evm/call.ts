import { createBlock, type Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM, type EVMMockBlockchainInterface, type EVMOpts } from '@ethereumjs/evm'
import { createMPT } from '@ethereumjs/mpt'
import { CacheType, Caches, type MerkleStateManager } from '@ethereumjs/statemanager'
import { createTx } from '@ethereumjs/tx'
import { bytesToHex, createZeroAddress, type DB } from '@ethereumjs/util'
import { createVM, type VM } from '@ethereumjs/vm'
import { keccak256 } from '../common/keccak.ts'
import { commonFork, createDecodeCommon } from './common.ts'
import { forkOpcodes } from './fork-opcodes.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import { BlockStateManager } from './state-manager.ts'
import type { CallArgs, CallResult, ExecutionContext } from './types.ts'

/**
 * eth_call and eth_estimateGas over the state at a root: one code path for the main thread
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
  if (!(await sm.hasStateRoot(root))) throw new EvmError(EvmErrorCode.MISSING_STATE, `state root ${bytesToHex(root)} is not in the database`)
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
export function execBlock(ctx: ExecutionContext, execCommon: Common): Block {
  return createBlock(
    {
      header: {
        number: ctx.number,
        timestamp: ctx.timestamp,
        gasLimit: ctx.gasLimit,
        baseFeePerGas: ctx.baseFeePerGas,
        difficulty: ctx.difficulty,
        coinbase: ctx.author,
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
      return {
        opcode: op,
        opcodeName: e.opcodeInfo.name,
        baseFee: e.opcodeInfo.fee,
        gasFunction: e.gasHandler,
        logicFunction: (runState, c) => {
          check()
          return logic(runState, c)
        },
      }
    }),
  }
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

  constructor(parts: CallRunnerParts) {
    this.parts = parts
    this.txCommon = createDecodeCommon(parts.execCommon)
    const checked = parts.interrupt === undefined ? [] : (interruptible(parts.execCommon, parts.interrupt).customOpcodes ?? [])
    this.evmOpts = { customOpcodes: [...forkOpcodes(commonFork(parts.execCommon)), ...checked] }
  }

  private async callOn<T>(root: Uint8Array, fn: (vm: VM) => Promise<T>): Promise<T> {
    const key = bytesToHex(root)
    let entry = this.vms.get(key)
    if (entry === undefined) {
      const vm = await createVM({ common: this.parts.execCommon, stateManager: await stateAt(this.parts.base, root), blockchain: this.parts.blockchain, evmOpts: this.evmOpts })
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
  async call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint): Promise<CallResult> {
    const gas = callGas(args.gas, ctx.gasLimit, gasCap)
    const intrinsic = this.intrinsicGas(args)
    if (gas < intrinsic) {
      return { returnValue: new Uint8Array(), gasUsed: gas, error: { reverted: false, message: `intrinsic gas too low: have ${gas}, want ${intrinsic}` } }
    }
    const caller = args.from ?? createZeroAddress()
    const res = await this.callOn(root, (vm) =>
      vm.evm.runCall({
        caller,
        origin: caller,
        to: args.to,
        data: args.data ?? new Uint8Array(),
        value: args.value ?? 0n,
        gasLimit: gas - intrinsic,
        gasPrice: args.gasPrice ?? 0n,
        block: execBlock(ctx, this.parts.execCommon),
        skipBalance: true,
      }),
    )
    const ex = res.execResult
    const err = ex.exceptionError
    return {
      returnValue: ex.returnValue,
      gasUsed: intrinsic + ex.executionGasUsed,
      error: err === undefined ? undefined : { reverted: err.error === 'revert', message: err.error },
    }
  }

  /** eth_estimateGas: the least gas at which the call succeeds, by binary search as geth. */
  async estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint): Promise<bigint> {
    // As geth: the caller's gas, else the block's limit, then never above the cap.
    const cap = callGas(args.gas, ctx.gasLimit, gasCap)
    const first = await this.call({ ...args, gas: cap }, ctx, root, gasCap)
    if (first.error !== undefined) {
      throw new EvmError(EvmErrorCode.GAS_ESTIMATION_FAILED, first.error.reverted ? 'execution reverted' : `gas required exceeds allowance (${cap}): ${first.error.message}`, {
        revertData: first.error.reverted ? first.returnValue : undefined,
      })
    }
    let lo = first.gasUsed - 1n
    let hi = cap
    // Most calls succeed at what they used plus the 1/64 withheld by CALL; try that first.
    const guess = (first.gasUsed * 64n) / 63n + 1n
    if (guess < hi && (await this.call({ ...args, gas: guess }, ctx, root, gasCap)).error === undefined) hi = guess
    while (lo + 1n < hi) {
      const mid = (lo + hi) / 2n
      if ((await this.call({ ...args, gas: mid }, ctx, root, gasCap)).error === undefined) hi = mid
      else lo = mid
    }
    return hi
  }

  private intrinsicGas(args: CallArgs): bigint {
    // No gas limit: intrinsic gas does not depend on it, and from Osaka (EIP-7825) a transaction
    // above 2^24 gas cannot even be constructed.
    const tx = createTx({ to: args.to, data: args.data ?? new Uint8Array() }, { common: this.txCommon })
    return tx.getIntrinsicGas()
  }
}
