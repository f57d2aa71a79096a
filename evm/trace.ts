import type { Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import type { EVMResult, InterpreterStep, Message } from '@ethereumjs/evm'
import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { createZeroAddress } from '@ethereumjs/util'
import { createVM, runTx, type VM } from '@ethereumjs/vm'
import { blockHashChain, callGas, callIntrinsicGas, createStateManager, execBlock, gasUsedAsTransaction, stateAt, type BlockHashLookup } from './call.ts'
import { commonFork, createDecodeCommon } from './common.ts'
import { forkOpcodes } from './fork-opcodes.ts'
import { TrieLevelAdapter, type BytesLevel } from './state-db.ts'
import { CallTracer, type CallFrame } from './trace-call.ts'
import { TraceError, TraceErrorCode } from './trace-errors.ts'
import { StructLogger, type StructLogConfig, type StructTrace } from './trace-struct.ts'
import { TimeSlice } from './yield.ts'
import type { CallArgs, ExecutionContext, SenderTx } from './types.ts'

/**
 * debug_trace*: a transaction re-executed on its block's parent state, after the block's earlier
 * transactions, with ethereumjs's EVM events ('step', 'beforeMessage', 'afterMessage') feeding
 * geth's struct logger or call tracer. Runs on the main thread: every traced step checks the
 * deadline and gives the event loop a turn every 5 ms, so a long trace neither outlives its
 * budget nor stalls sealing and import. One trace runs at a time; a few wait.
 */

export type TraceKind = { tracer: 'struct'; config: StructLogConfig } | { tracer: 'call'; onlyTopCall: boolean }
export type TraceResult = { tracer: 'struct'; trace: StructTrace } | { tracer: 'call'; frame: CallFrame | undefined }

export interface TraceBudget {
  /** Time allowed for the whole request (re-execution included), in ms; 0: none. */
  timeoutMs: number
  /** Struct-log output cap, in bytes of JSON (roughly). */
  maxBytes: number
}

export interface TracerParts {
  execCommon: Common
  /** The chain's state trie nodes (read only: nothing a trace writes leaves its VM). */
  state: BytesLevel
  blockHash: BlockHashLookup
}

/** Traces waiting behind the running one before more are refused. */
export const TRACE_QUEUE = 4
/** Trie nodes the tracer keeps (its own clean cache: the executor's is not shared across modules). */
const TRACER_CACHE_BYTES = 16 * 1024 * 1024

class Deadline {
  private readonly at: number
  private readonly timeoutMs: number
  readonly slice = new TimeSlice()
  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs
    this.at = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity
  }
  check(): void {
    if (performance.now() > this.at) throw new TraceError(TraceErrorCode.TIMEOUT, `execution timeout: the trace ran past ${this.timeoutMs} ms and was stopped (--rpc.evmtimeout; trace fewer transactions, or use {"tracer": "callTracer"})`, { timeoutMs: this.timeoutMs })
  }
}

export class Tracer {
  private readonly parts: TracerParts
  private base: Promise<MerkleStateManager> | undefined
  private readonly txCommon: Common
  private queue: Promise<unknown> = Promise.resolve()
  private waiting = 0

  constructor(parts: TracerParts) {
    this.parts = parts
    this.txCommon = createDecodeCommon(parts.execCommon)
  }

  /** One trace at a time, TRACE_QUEUE waiting. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.waiting >= TRACE_QUEUE + 1) return Promise.reject(new TraceError(TraceErrorCode.BUSY, `${this.waiting} traces are running or waiting on this node: try again when they are done`))
    this.waiting++
    const run = this.queue.then(fn).finally(() => this.waiting--)
    this.queue = run.catch(() => undefined)
    return run
  }

  /** A throwaway VM on `root`, inside a checkpoint that is never committed (nothing reaches the trie). */
  private async vmAt(root: Uint8Array): Promise<VM> {
    this.base ??= createStateManager(new TrieLevelAdapter(this.parts.state, { cacheBytes: TRACER_CACHE_BYTES }), this.parts.execCommon)
    const base = await this.base
    const { execCommon } = this.parts
    const vm = await createVM({
      common: execCommon,
      stateManager: await stateAt(base, root),
      blockchain: blockHashChain(this.parts.blockHash),
      evmOpts: { customOpcodes: forkOpcodes(commonFork(execCommon)) },
    })
    await vm.evm.journal.checkpoint()
    return vm
  }

  /**
   * Traces the transactions of a block whose parent state is `parentRoot`: each runs in order,
   * and those `pick` selects are traced. Resolves with one result per picked transaction.
   */
  traceBlock(parentRoot: Uint8Array, ctx: ExecutionContext, txs: SenderTx[], pick: (index: number) => boolean, kind: TraceKind, budget: TraceBudget): Promise<TraceResult[]> {
    return this.serial(async () => {
      const deadline = new Deadline(budget.timeoutMs)
      const vm = await this.vmAt(parentRoot)
      const block = execBlock(ctx, this.parts.execCommon)
      const last = txs.findLastIndex((_, i) => pick(i))
      const out: TraceResult[] = []
      let gasUsed = 0n
      for (let i = 0; i <= last; i++) {
        deadline.check()
        if (deadline.slice.due()) await deadline.slice.yield()
        const tx = txs[i]!.tx
        if (!pick(i)) {
          gasUsed += (await runTx(vm, txOpts(tx, block, gasUsed))).totalGasSpent
          continue
        }
        let res: Awaited<ReturnType<typeof runTx>> | undefined
        const result = await this.traced(vm, kind, budget, deadline, async () => {
          res = await runTx(vm, txOpts(tx, block, gasUsed))
          const ex = res.execResult
          return { gas: tx.gasLimit, gasUsed: res.totalGasSpent, error: ex.exceptionError?.error, returnValue: ex.returnValue }
        })
        gasUsed += res!.totalGasSpent
        out.push(result)
      }
      return out
    })
  }

  /** debug_traceCall: a message on the state at `root`, as eth_call runs it (CallRunner.call). */
  traceCall(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint, kind: TraceKind, budget: TraceBudget): Promise<TraceResult> {
    return this.serial(async () => {
      const deadline = new Deadline(budget.timeoutMs)
      const gas = callGas(args.gas, ctx.gasLimit, gasCap)
      const { intrinsic, floor } = callIntrinsicGas(args, this.txCommon)
      if (gas < intrinsic) throw new TraceError(TraceErrorCode.INVALID_CALL, `intrinsic gas too low: have ${gas}, want ${intrinsic}`)
      if (gas < floor) throw new TraceError(TraceErrorCode.INVALID_CALL, `insufficient gas for floor data gas cost: have ${gas}, want ${floor}`)
      const vm = await this.vmAt(root)
      const caller = args.from ?? createZeroAddress()
      return this.traced(vm, kind, budget, deadline, async () => {
        const r = await vm.evm.runCall({
          caller,
          origin: caller,
          to: args.to,
          data: args.data ?? new Uint8Array(),
          value: args.value ?? 0n,
          gasLimit: gas - intrinsic,
          gasPrice: args.gasPrice ?? 0n,
          block: execBlock(ctx, this.parts.execCommon),
          skipBalance: true,
        })
        const ex = r.execResult
        const gasUsed = gasUsedAsTransaction(intrinsic + ex.executionGasUsed, floor, ex.exceptionError === undefined ? (ex.gasRefund ?? 0n) : undefined)
        return { gas, gasUsed, error: ex.exceptionError?.error, returnValue: ex.returnValue }
      })
    })
  }

  /** Runs `run` with the tracer of `kind` listening to `vm`'s EVM. */
  private async traced(
    vm: VM,
    kind: TraceKind,
    budget: TraceBudget,
    deadline: Deadline,
    run: () => Promise<{ gas: bigint; gasUsed: bigint; error: string | undefined; returnValue: Uint8Array }>,
  ): Promise<TraceResult> {
    const events = vm.evm.events!
    const struct = kind.tracer === 'struct' ? new StructLogger(kind.config, budget.maxBytes) : undefined
    const calls = kind.tracer === 'call' ? new CallTracer(kind.onlyTopCall) : undefined
    /** Depths of the open messages: afterMessage does not say whose result it is. */
    const depths: number[] = []
    /** A failure inside an asynchronous part of a step (a storage read): thrown at the next step. */
    let failure: Error | undefined
    // Two parameters: ethereumjs then awaits the listener until it calls `resolve` (a yield, a storage read).
    const onStep = (s: InterpreterStep, next?: (result?: unknown) => void): void => {
      const resolve = next ?? (() => undefined)
      if (failure !== undefined) throw failure
      deadline.check()
      calls?.step(s.depth, s.opcode.name)
      const pending = struct?.step(s)
      const done = (): void => {
        if (deadline.slice.due()) void deadline.slice.yield().then(() => resolve())
        else resolve()
      }
      if (pending === undefined) done()
      else
        pending.then(done, (err: unknown) => {
          failure = err instanceof Error ? err : new Error(String(err))
          resolve()
        })
    }
    const onBefore = (m: Message): void => {
      depths.push(m.depth)
      struct?.beforeMessage(m)
      calls?.beforeMessage(m)
    }
    const onAfter = (r: EVMResult): void => {
      const depth = depths.pop() ?? 0
      struct?.afterMessage(r, depth)
      calls?.afterMessage(r)
    }
    events.on('step', onStep)
    events.on('beforeMessage', onBefore)
    events.on('afterMessage', onAfter)
    let out: Awaited<ReturnType<typeof run>>
    try {
      out = await run()
    } finally {
      events.off('step', onStep)
      events.off('beforeMessage', onBefore)
      events.off('afterMessage', onAfter)
    }
    if (failure !== undefined) throw failure
    if (struct !== undefined) return { tracer: 'struct', trace: struct.result(out.gasUsed, out.error !== undefined, out.error === 'revert', out.returnValue) }
    return { tracer: 'call', frame: calls!.result(out.gas, out.gasUsed) }
  }
}

function txOpts(tx: SenderTx['tx'], block: Block, blockGasUsed: bigint): Parameters<typeof runTx>[1] {
  return { tx, block, blockGasUsed, skipHardForkValidation: true, skipBlockGasLimitValidation: true }
}
