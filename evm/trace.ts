import type { Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import type { EVMResult, InterpreterStep, Message } from '@ethereumjs/evm'
import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { createVM, runTx, type VM } from '@ethereumjs/vm'
import { blockHashChain, callGas, CallRunner, createStateManager, execBlock, stateAt, type BlockHashLookup, type CallObserver } from './call.ts'
import { commonFork } from './common.ts'
import { overrideBlock } from './overrides.ts'
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
  /** debug_traceCall's runner: eth_call's message path on a VM of its own. */
  private runner: Promise<CallRunner> | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private waiting = 0

  constructor(parts: TracerParts) {
    this.parts = parts
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
  private baseState(): Promise<MerkleStateManager> {
    this.base ??= createStateManager(new TrieLevelAdapter(this.parts.state, { cacheBytes: TRACER_CACHE_BYTES }), this.parts.execCommon)
    return this.base
  }

  private async vmAt(root: Uint8Array): Promise<VM> {
    const base = await this.baseState()
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
          const failed = ex.exceptionError !== undefined
          return { gas: tx.gasLimit, gasUsed: res.totalGasSpent, failed, reverted: ex.exceptionError?.error === 'revert', returnValue: ex.returnValue }
        })
        gasUsed += res!.totalGasSpent
        out.push(result)
      }
      return out
    })
  }

  /**
   * debug_traceCall: the message run by eth_call's own path (CallRunner.call: overrides, access
   * list, authorizations, warm set, intrinsic gas, calldata floor, refund), with the tracer
   * attached to its EVM for the message itself.
   */
  traceCall(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint, kind: TraceKind, budget: TraceBudget): Promise<TraceResult> {
    return this.serial(async () => {
      const session = new TraceSession(kind, budget, new Deadline(budget.timeoutMs))
      this.runner ??= this.baseState().then((base) => new CallRunner({ execCommon: this.parts.execCommon, base, blockchain: blockHashChain(this.parts.blockHash), maxVms: 1 }))
      const runner = await this.runner
      const gas = callGas(args.gas, overrideBlock(ctx, args.blockOverrides).ctx.gasLimit, gasCap)
      const res = await runner.call(args, ctx, root, gasCap, session)
      // The message never ran: less gas than its intrinsic cost or its calldata floor.
      if (!session.attached && res.error !== undefined) throw new TraceError(TraceErrorCode.INVALID_CALL, res.error.message)
      return session.result({ gas, gasUsed: res.gasUsed, failed: res.error !== undefined, reverted: res.error?.reverted === true, returnValue: res.returnValue })
    })
  }

  /** Runs `run` with the tracer of `kind` listening to `vm`'s EVM. */
  private async traced(vm: VM, kind: TraceKind, budget: TraceBudget, deadline: Deadline, run: () => Promise<TracedRun>): Promise<TraceResult> {
    const session = new TraceSession(kind, budget, deadline)
    session.attach(vm)
    let out: TracedRun
    try {
      out = await run()
    } finally {
      session.detach(vm)
    }
    return session.result(out)
  }
}

/** What the traced run gave: its gas limit and charged gas, and how it ended. */
interface TracedRun {
  gas: bigint
  gasUsed: bigint
  failed: boolean
  reverted: boolean
  returnValue: Uint8Array
}

/**
 * One trace: the tracer of its kind fed by an EVM's events while attached (a CallObserver, so
 * CallRunner can attach it around the message it runs).
 */
class TraceSession implements CallObserver {
  private readonly struct: StructLogger | undefined
  private readonly calls: CallTracer | undefined
  /** Depths of the open messages: afterMessage does not say whose result it is. */
  private readonly depths: number[] = []
  /** A failure inside an asynchronous part of a step (a storage read): thrown at the next step. */
  private failure: Error | undefined
  private readonly deadline: Deadline
  attached = false

  constructor(kind: TraceKind, budget: TraceBudget, deadline: Deadline) {
    this.deadline = deadline
    this.struct = kind.tracer === 'struct' ? new StructLogger(kind.config, budget.maxBytes) : undefined
    this.calls = kind.tracer === 'call' ? new CallTracer(kind.onlyTopCall) : undefined
  }

  // Two parameters: ethereumjs then awaits the listener until it calls `resolve` (a yield, a storage read).
  private readonly onStep = (s: InterpreterStep, next?: (result?: unknown) => void): void => {
    const resolve = next ?? (() => undefined)
    if (this.failure !== undefined) throw this.failure
    this.deadline.check()
    this.calls?.step(s.depth, s.opcode.name)
    const pending = this.struct?.step(s)
    const done = (): void => {
      if (this.deadline.slice.due()) void this.deadline.slice.yield().then(() => resolve())
      else resolve()
    }
    if (pending === undefined) done()
    else
      pending.then(done, (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err))
        resolve()
      })
  }
  private readonly onBefore = (m: Message): void => {
    this.depths.push(m.depth)
    this.struct?.beforeMessage(m)
    this.calls?.beforeMessage(m)
  }
  private readonly onAfter = (r: EVMResult): void => {
    const depth = this.depths.pop() ?? 0
    this.struct?.afterMessage(r, depth)
    this.calls?.afterMessage(r)
  }

  attach(vm: VM): void {
    this.attached = true
    const events = vm.evm.events!
    events.on('step', this.onStep)
    events.on('beforeMessage', this.onBefore)
    events.on('afterMessage', this.onAfter)
  }

  detach(vm: VM): void {
    const events = vm.evm.events!
    events.off('step', this.onStep)
    events.off('beforeMessage', this.onBefore)
    events.off('afterMessage', this.onAfter)
  }

  result(out: TracedRun): TraceResult {
    if (this.failure !== undefined) throw this.failure
    if (this.struct !== undefined) return { tracer: 'struct', trace: this.struct.result(out.gasUsed, out.failed, out.reverted, out.returnValue) }
    return { tracer: 'call', frame: this.calls!.result(out.gas, out.gasUsed) }
  }
}

function txOpts(tx: SenderTx['tx'], block: Block, blockGasUsed: bigint): Parameters<typeof runTx>[1] {
  return { tx, block, blockGasUsed, skipHardForkValidation: true, skipBlockGasLimitValidation: true }
}
