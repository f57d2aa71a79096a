/**
 * The call workers: eth_call and eth_estimateGas from RPC clients run here, so a call cannot stall
 * block production, import, gossip or other requests. With `inline`, a call first runs on the main
 * thread when it is idle, for a budget of a few ms (call-inline.ts): a small call then costs no
 * hop to a worker; one still running at the budget is stopped and run here from the start.
 *
 * Two lanes, so long calls cannot starve short ones. Every job first runs in the fast lane with
 * FAST_BUDGET_MS of execution: a view call finishes well inside it. A job still running then is
 * stopped by its worker (an interrupt check at every jump, call, KECCAK256 and opcode the inlined loop hands back: evm/call.ts, fast-opcodes.ts) and re-run from
 * the start in the slow lane, where at most `workers - 1` jobs run at once: one worker is always
 * left for fast jobs, which also go first. The timeout counts from the job's first start (as geth
 * counts from the call's start): a job running at its deadline is stopped the same way, one still
 * waiting in the slow lane is dropped, and both are answered with geth's "execution aborted (timeout = …)". A worker that does not stop
 * within GRACE_MS of its budget is terminated and replaced. Each lane's queue is bounded; a full
 * queue refuses at once.
 */
import { Worker } from 'node:worker_threads'
import { createLogger } from '../common/logger.ts'
import { errorMessage } from '../common/errors.ts'
import { CALL_WORKER_TAG, toWireArgs, toWireContext, type CallDbLayout, type CallJob, type CallMessage, type CallWorkerData } from './call-worker.ts'
import { formatDuration } from '../common/duration.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import type { AccessListResult } from './call.ts'
import type { CallArgs, CallResult, ExecutionContext } from './types.ts'
import type { SimBase, SimulatedBlock, SimulateRequest } from './simulate.ts'
import { Address } from '@ethereumjs/util'
import type { Level } from 'level'
import { createInlineCalls, type InlineCallStats, type InlineCalls } from './call-inline.ts'
import { DEFAULT_FORK, type ChainFork } from './forks.ts'

const log = createLogger('evm:calls')

export interface CallPoolOptions {
  db: CallDbLayout
  chainId: bigint
  /** The chain's fork (its genesis); default shanghai. */
  hardfork?: ChainFork
  /** Worker threads, ≥ 1. */
  workers: number
  /** Longest a job may run on its worker, in ms; 0: no limit (geth's --rpc.evmtimeout 0). */
  timeoutMs: number
  /** Gas cap of every call; 0n: none (geth's --rpc.gascap 0). */
  gasCap: bigint
  /** Jobs that may wait in each lane beyond one per worker; default 64. */
  maxQueue?: number
  /** Each worker's clean trie-node cache; default 16 MiB. */
  cacheBytes?: number
  /** The worker module; default ./call-worker.ts. */
  workerUrl?: URL
  /**
   * Small calls on this thread when it is idle (call-inline.ts): the chain's LevelDB handle, and
   * each call's budget here (default DEFAULT_INLINE_BUDGET_MS). Absent: every call goes to a worker.
   */
  inline?: { db: Level<Uint8Array, Uint8Array>; budgetMs?: number; busyShare?: number; share?: number }
}

export interface CallPoolStats {
  workers: number
  busy: number
  queued: number
  /** Workers replaced so far (timeouts and crashes). */
  restarts: number
  timeouts: number
  /** Calls tried on the main thread (zeros without `inline`). */
  inline: InlineCallStats
}

export interface CallPool {
  call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<CallResult>
  estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<bigint>
  createAccessList(args: CallArgs, ctx: ExecutionContext, root: Uint8Array): Promise<AccessListResult>
  /** eth_simulateV1 on the base block's state (evm/simulate.ts), in the same lanes and under the same timeout as calls. */
  simulate(req: SimulateRequest, base: SimBase): Promise<SimulatedBlock[]>
  stats(): CallPoolStats
  /** Refuses queued and running jobs and terminates every worker. */
  close(): Promise<void>
}

export const DEFAULT_CALL_QUEUE = 64
/** Execution a job gets in the fast lane; a warm view call takes well under 1 ms. */
export const FAST_BUDGET_MS = 25
/** How long past its budget a worker may take to stop a call before it is terminated. */
const GRACE_MS = 1000
export const DEFAULT_CALL_CACHE_BYTES = 16 * 1024 * 1024

interface Job {
  msg: CallJob
  lane: 'fast' | 'slow'
  /**
   * Execution time it already had on the main thread (its budget there, when it was stopped): the
   * timeout counts it. Not the time since: a worker still starting up does not count (see deadline).
   */
  spentMs: number
  /**
   * performance.now() at which the timeout fires: set when the job first starts (as geth counts
   * from the call's start; a worker still starting up does not count), so it includes any wait in
   * the slow lane. Infinity until then, and with no timeout.
   */
  deadline: number
  /** Answers the job if it is still waiting at its deadline. */
  expiry: NodeJS.Timeout | undefined
  settle(result: CallMessage & { type: 'result' }): void
  fail(err: Error): void
}

interface Slot {
  worker: Worker
  ready: boolean
  job: Job | undefined
  timer: NodeJS.Timeout | undefined
  /** Terminated on purpose (timeout, close): its exit is not a crash. */
  stopping: boolean
}

const EVM_CODES = new Set<string>(Object.values(EvmErrorCode))
function isEvmCode(code: string | undefined): code is EvmErrorCode {
  return code !== undefined && EVM_CODES.has(code)
}

export function createCallPool(opts: CallPoolOptions): CallPool {
  if (!Number.isSafeInteger(opts.workers) || opts.workers < 1) {
    throw new EvmError(EvmErrorCode.CALL_WORKER_FAILED, `the call pool needs at least 1 worker, got ${opts.workers}`)
  }
  const workerUrl = opts.workerUrl ?? new URL('./call-worker.ts', import.meta.url)
  const maxQueue = opts.maxQueue ?? DEFAULT_CALL_QUEUE
  const slots: Slot[] = []
  const fastQueue: Job[] = []
  const slowQueue: Job[] = []
  /** Slow jobs at once: one worker stays free for the fast lane (with a single worker, no reserve is possible). */
  const maxSlow = Math.max(1, opts.workers - 1)
  let nextId = 1
  let closed = false
  let restarts = 0
  let timeouts = 0
  // Consecutive deaths without a worker becoming ready: respawn with a growing delay.
  let crashStreak = 0
  const timers = new Set<NodeJS.Timeout>()

  const queueFull = (): EvmError =>
    new EvmError(EvmErrorCode.CALL_QUEUE_FULL, `too many eth_call/eth_estimateGas requests in flight (${fastQueue.length} waiting, ${slowQueue.length} long-running waiting): retry later`, {
      queued: fastQueue.length + slowQueue.length,
    })
  const timeoutError = (): EvmError => new EvmError(EvmErrorCode.EXECUTION_TIMEOUT, `execution aborted (timeout = ${formatDuration(opts.timeoutMs)})`, { timeoutMs: opts.timeoutMs })

  /** Execution time left before the timeout; Infinity with no timeout. */
  const leftMs = (job: Job): number => job.deadline - performance.now()

  const send = (slot: Slot, job: Job): void => {
    if (opts.timeoutMs > 0 && job.deadline === Infinity) {
      job.deadline = performance.now() + opts.timeoutMs - job.spentMs
      job.expiry = setTimeout(() => {
        const at = slowQueue.indexOf(job)
        if (at < 0) return // running: its worker stops it at the same deadline
        slowQueue.splice(at, 1)
        timeouts++
        job.fail(timeoutError())
      }, Math.max(0, leftMs(job)))
    }
    const budget = job.lane === 'fast' ? Math.min(FAST_BUDGET_MS, leftMs(job)) : leftMs(job)
    slot.job = job
    slot.worker.postMessage({ ...job.msg, budgetMs: Number.isFinite(budget) ? budget : undefined } satisfies CallJob)
    if (Number.isFinite(budget)) slot.timer = setTimeout(() => onStuck(slot), budget + GRACE_MS)
  }

  const dispatch = (): void => {
    for (const slot of slots) {
      if (!slot.ready || slot.job !== undefined || slot.stopping) continue
      const slowRunning = slots.filter((s) => s.job?.lane === 'slow').length
      const job = fastQueue.shift() ?? (slowRunning < maxSlow ? slowQueue.shift() : undefined)
      if (job === undefined) return
      send(slot, job)
    }
  }

  /** A job stopped at its budget: fast → the slow lane (or refused if it is full), slow → timed out. */
  const overBudget = (job: Job): void => {
    if (job.lane === 'slow' || leftMs(job) <= 0) {
      timeouts++
      return job.fail(timeoutError())
    }
    if (slowQueue.length >= maxQueue) return job.fail(queueFull())
    job.lane = 'slow'
    slowQueue.push(job)
  }

  const retire = (slot: Slot): void => {
    slot.stopping = true
    clearTimeout(slot.timer)
    const at = slots.indexOf(slot)
    if (at >= 0) slots.splice(at, 1)
    void slot.worker.terminate()
  }

  /** The worker did not stop its call (one long step: a precompile, a huge copy): terminate and replace it. */
  const onStuck = (slot: Slot): void => {
    const job = slot.job
    slot.job = undefined
    restarts++
    retire(slot)
    if (job !== undefined) {
      timeouts++
      job.fail(timeoutError())
    }
    if (!closed) spawn()
    dispatch()
  }

  const onMessage = (slot: Slot, msg: CallMessage): void => {
    if (msg.type === 'ready') {
      crashStreak = 0
      slot.ready = true
      return dispatch()
    }
    if (msg.type === 'start-failed') {
      // Nothing can run until a worker starts; waiting callers get the reason now, not a timeout.
      log.error('Call worker could not start', { reason: msg.message })
      for (const job of [...fastQueue.splice(0), ...slowQueue.splice(0)]) job.fail(new EvmError(EvmErrorCode.CALL_WORKER_FAILED, `call workers cannot start: ${msg.message}`))
      return
    }
    const job = slot.job
    if (job === undefined || job.msg.id !== msg.id) return // answered already (timed out)
    clearTimeout(slot.timer)
    slot.timer = undefined
    slot.job = undefined
    if (msg.type === 'result') job.settle(msg)
    else if (msg.code === EvmErrorCode.CALL_INTERRUPTED) overBudget(job)
    else job.fail(isEvmCode(msg.code) ? new EvmError(msg.code, msg.message, msg.context) : new Error(msg.message))
    dispatch()
  }

  const onDeath = (slot: Slot, reason: string): void => {
    if (slot.stopping) return
    retire(slot)
    slot.job?.fail(new EvmError(EvmErrorCode.CALL_WORKER_FAILED, `the call worker stopped (${reason}); the call was not completed, retry it`))
    slot.job = undefined
    if (closed) return
    restarts++
    crashStreak++
    const delay = crashStreak <= 1 ? 0 : Math.min(10_000, 100 * 2 ** (crashStreak - 2))
    log.error('Call worker died; replacing it', { reason, delayMs: delay })
    if (delay === 0) return void spawn()
    const timer = setTimeout(() => {
      timers.delete(timer)
      if (!closed) spawn()
    }, delay)
    timer.unref()
    timers.add(timer)
  }

  const spawn = (): void => {
    const data: CallWorkerData = { tag: CALL_WORKER_TAG, db: opts.db, chainId: opts.chainId, hardfork: opts.hardfork ?? DEFAULT_FORK, cacheBytes: opts.cacheBytes ?? DEFAULT_CALL_CACHE_BYTES }
    const worker = new Worker(workerUrl, { workerData: data })
    const slot: Slot = { worker, ready: false, job: undefined, timer: undefined, stopping: false }
    worker.unref() // an idle pool never keeps the process alive; pending jobs hold their callers' promises
    worker.on('message', (msg: CallMessage) => onMessage(slot, msg))
    worker.on('error', (err) => onDeath(slot, errorMessage(err)))
    worker.on('exit', (code) => onDeath(slot, `exit code ${code}`))
    slots.push(slot)
  }

  const submit = async (kind: CallJob['kind'], args: CallArgs, ctx: ExecutionContext, root: Uint8Array, sim?: CallJob['sim']): Promise<CallMessage & { type: 'result' }> => {
    if (closed) throw new EvmError(EvmErrorCode.CALL_POOL_CLOSED, 'the node is shutting down: calls are no longer served')
    // maxQueue may wait beyond one per worker (workers still starting count as free).
    if (fastQueue.length >= maxQueue + opts.workers) throw queueFull()
    start()
    let spentMs = 0
    if (inline !== undefined && kind !== 'simulate') {
      const budget = opts.timeoutMs > 0 ? Math.min(inline.budgetMs, opts.timeoutMs) : inline.budgetMs
      const done = await inline.run(kind, args, ctx, root, opts.gasCap, budget)
      if (done === 'stopped') spentMs = budget
      else if (done !== 'skipped') return { type: 'result', id: 0, ...done }
      if (closed) throw new EvmError(EvmErrorCode.CALL_POOL_CLOSED, 'the node is shutting down: calls are no longer served')
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        msg: { id: nextId++, kind, args: toWireArgs(args), ctx: toWireContext(ctx), root, gasCap: opts.gasCap, ...(sim === undefined ? {} : { sim }) },
        lane: 'fast',
        spentMs,
        deadline: Infinity,
        expiry: undefined,
        settle: (r) => (clearTimeout(job.expiry), resolve(r)),
        fail: (err) => (clearTimeout(job.expiry), reject(err)),
      }
      fastQueue.push(job)
      dispatch()
    })
  }

  // Started at the first call: a thread loads the EVM's modules (~1.5 s of CPU) and holds ~70 MB,
  // which a node whose RPC clients never call should not pay.
  let started = false
  let inline: InlineCalls | undefined
  const start = (): void => {
    if (started) return
    started = true
    for (let i = 0; i < opts.workers; i++) spawn()
    if (opts.inline !== undefined) inline = createInlineCalls({ db: opts.inline.db, state: opts.db.state, canonical: opts.db.canonical, chainId: opts.chainId, hardfork: opts.hardfork ?? DEFAULT_FORK, budgetMs: opts.inline.budgetMs, busyShare: opts.inline.busyShare, share: opts.inline.share })
  }

  return {
    async call(args, ctx, root) {
      return (await submit('call', args, ctx, root)).call!
    },
    async estimateGas(args, ctx, root) {
      return (await submit('estimate', args, ctx, root)).gas!
    },
    async createAccessList(args, ctx, root) {
      return (await submit('accessList', args, ctx, root)).accessList!
    },
    async simulate(req, base) {
      const ctx: ExecutionContext = { ...base.ctx, author: new Address(base.ctx.author) }
      return (await submit('simulate', {}, ctx, base.stateRoot, { req, base })).simulated!
    },
    stats() {
      return { workers: slots.length, busy: slots.filter((s) => s.job !== undefined).length, queued: fastQueue.length + slowQueue.length, restarts, timeouts, inline: inline?.stats() ?? { ran: 0, stopped: 0, skipped: 0 } }
    },
    async close() {
      if (closed) return
      closed = true
      inline?.close()
      for (const t of timers) clearTimeout(t)
      const gone = new EvmError(EvmErrorCode.CALL_POOL_CLOSED, 'the node is shutting down: the call was not completed')
      for (const job of [...fastQueue.splice(0), ...slowQueue.splice(0)]) job.fail(gone)
      const workers = slots.splice(0)
      for (const slot of workers) {
        slot.stopping = true
        clearTimeout(slot.timer)
        slot.job?.fail(gone)
      }
      await Promise.all(workers.map((s) => s.worker.terminate()))
    },
  }
}
