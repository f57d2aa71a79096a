/**
 * Small calls on the main thread. Handing a call to a worker costs a message each way and the
 * worker's scheduling (2–16 ms on a loaded machine), far more than a view call or a small
 * estimate takes; so when the main thread is idle, a call first runs here, on the same CallRunner
 * setup as the workers' (call-host.ts), within a short time budget. A call still running at the
 * budget is stopped (the interrupt check runs at every jump, call, KECCAK256 and opcode the
 * inlined loop hands back; long-running precompiles refuse to run here) and the pool runs it
 * again from the start on a worker: a call has no side effects.
 *
 * It never stalls the node: one call at a time; none while the thread was busy in the last
 * window (block building, import, other requests: event-loop utilisation, less this module's own
 * runs, above BUSY_SHARE); and its runs may take at most SHARE of the thread over time (a token
 * bucket), so a client sending only long calls costs the node at most that share.
 */
import { bytesToHex } from '@ethereumjs/util'
import type { Level } from 'level'
import { isCodedError } from '../common/errors.ts'
import { createLogger } from '../common/logger.ts'
import type { AccessListResult } from './call.ts'
import { createCallHost, type CallHost } from './call-host.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import type { ChainFork } from './forks.ts'
import type { BytesLevel } from './state-db.ts'
import type { CallArgs, CallResult, ExecutionContext } from './types.ts'

const log = createLogger('evm:calls')

/** A main-thread call's execution budget: a view call or a small estimate takes well under it. */
export const DEFAULT_INLINE_BUDGET_MS = 10
/** Share of the main thread that main-thread calls may take over time. */
const SHARE = 0.5
/** Event-loop utilisation (besides main-thread calls) above which the thread counts as busy. */
const BUSY_SHARE = 0.5
/** The busy window: utilisation is sampled this often. */
const WINDOW_MS = 50
/** Calls stopped here that go straight to a worker for a while, and for how long (ms). */
const MAX_LONG = 256
const LONG_FOR_MS = 30_000
/** Stops in a row before a call counts as long: the first calls in a thread run before the JIT warms up. */
const LONG_AFTER_STOPS = 3
/** Calldata bytes in a call's key: the selector and the first arguments. */
const KEY_BYTES = 68
/** Each thread's clean trie-node cache here (the workers have their own). */
const INLINE_CACHE_BYTES = 8 * 1024 * 1024

export interface InlineCallsOptions {
  /** The chain's LevelDB (its sublevels by `state` and `canonical`'s names). */
  db: Level<Uint8Array, Uint8Array>
  state: string
  canonical: string
  chainId: bigint
  hardfork: ChainFork
  /** Execution a call may take here before it goes to a worker, in ms. */
  budgetMs?: number
  /** Event-loop utilisation above which the thread counts as busy; default BUSY_SHARE (tests: > 1, never busy). */
  busyShare?: number
  /** Share of the thread these calls may take over time; default SHARE (tests: large, no limit). */
  share?: number
}

export type InlineKind = 'call' | 'estimate' | 'accessList'
export type InlineResult = { call?: CallResult; gas?: bigint; accessList?: AccessListResult }

export interface InlineCallStats {
  /** Answered here. */
  ran: number
  /** Stopped at the budget (or at a long-running precompile) and handed to a worker. */
  stopped: number
  /** Sent to a worker without trying here (busy, another call running, share used up, stopped here lately). */
  skipped: number
}

export interface InlineCalls {
  /**
   * Runs the call here if the thread is free: its result (or its error, as a worker would give it);
   * 'skipped' when it did not run here, 'stopped' when it was stopped at `budgetMs` (then run it
   * on a worker).
   */
  run(kind: InlineKind, args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint, budgetMs: number): Promise<InlineResult | 'skipped' | 'stopped'>
  readonly budgetMs: number
  stats(): InlineCallStats
  close(): void
}

export function createInlineCalls(opts: InlineCallsOptions): InlineCalls {
  const budgetMs = opts.budgetMs ?? DEFAULT_INLINE_BUDGET_MS
  const busyShare = opts.busyShare ?? BUSY_SHARE
  const share = opts.share ?? SHARE
  const sub = (name: string): BytesLevel => opts.db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
  // The budget counts from the call's first check (its first jump or handed-back opcode), so
  // setting up a VM for a new head's root (a few ms, mostly awaited reads) does not use it up. It
  // is wall time (what a stall costs the node; this thread's CPU time is only known to a scheduler
  // tick), the clock read every 8th check.
  let budget = Infinity
  let deadline = Infinity
  let checks = 0
  const interrupt = (): void => {
    if ((++checks & 7) !== 0 && deadline !== Infinity) return
    const now = performance.now()
    if (deadline === Infinity) deadline = now + budget
    else if (now > deadline) throw new EvmError(EvmErrorCode.CALL_INTERRUPTED, 'the call ran past its main-thread budget and was stopped')
  }
  // Reads from LevelDB are awaited: the thread is free meanwhile, so their time is given back to
  // the call (a cold call's reads would otherwise use up its budget and send it to a worker).
  const credited = (level: BytesLevel): BytesLevel => ({
    async get(key) {
      const from = performance.now()
      try {
        return await level.get(key)
      } finally {
        if (deadline !== Infinity) deadline += performance.now() - from
      }
    },
  })
  let host: CallHost | undefined
  // Built in the background: calls go to the workers until it is ready.
  void createCallHost({ state: credited(sub(opts.state)), canonical: credited(sub(opts.canonical)), chainId: opts.chainId, hardfork: opts.hardfork, cacheBytes: INLINE_CACHE_BYTES, interrupt, inline: true })
    .then((h) => (host = h))
    .catch(() => undefined) // the workers report a state that cannot be opened
  let running = false
  const stats: InlineCallStats = { ran: 0, stopped: 0, skipped: 0 }

  // Share: a token bucket of main-thread ms, refilled at SHARE per ms. It holds 20 budgets, so a
  // client's burst of small calls (a script's reads, an estimate's 4–6 runs each) stays here: with
  // 4, back-to-back estimates of ~3 ms each emptied it within a dozen calls and then alternated
  // with the worker hop (p50 5 ms vs 2 ms). The long-run share is still SHARE.
  const capacity = 20 * budgetMs
  let tokens = capacity
  let filledAt = performance.now()
  // Busy: the last window's utilisation without this module's own runs.
  let inlineMs = 0
  let busy = false
  let mark = performance.eventLoopUtilization()
  let markInline = 0
  let markAt = performance.now()
  const sample = setInterval(() => {
    const now = performance.now()
    const elu = performance.eventLoopUtilization(mark)
    busy = (elu.active - (inlineMs - markInline)) / Math.max(1, now - markAt) > busyShare
    mark = performance.eventLoopUtilization()
    markInline = inlineMs
    markAt = now
  }, WINDOW_MS)
  sample.unref()

  // Calls stopped here lately, by kind, target, gas and calldata's head: a repeated long call (a
  // client polling a heavy view) goes straight to a worker instead of paying the budget each time.
  // Two calls may share a key: the other then runs on a worker too, which answers the same.
  const long = new Map<string, { at: number; stops: number }>()
  const keyOf = (kind: InlineKind, args: CallArgs): string => {
    const data = args.data ?? new Uint8Array()
    return `${kind}/${args.to?.toString() ?? ''}/${args.gas ?? ''}/${data.length}/${bytesToHex(data.subarray(0, KEY_BYTES))}`
  }
  const knownLong = (key: string): boolean => {
    const e = long.get(key)
    if (e === undefined || e.stops < LONG_AFTER_STOPS) return false
    if (performance.now() - e.at < LONG_FOR_MS) return true
    long.delete(key)
    return false
  }

  const free = (budget: number): boolean => {
    if (host === undefined || running || busy || budget <= 0) return false
    const now = performance.now()
    tokens = Math.min(capacity, tokens + (now - filledAt) * share)
    filledAt = now
    return tokens >= budget
  }

  return {
    budgetMs,
    async run(kind, args, ctx, root, gasCap, budgetMs) {
      const key = keyOf(kind, args)
      if (knownLong(key) || !free(budgetMs)) {
        stats.skipped++
        log.debug('Call sent to a worker without trying it on the main thread', { kind, busy, running, tokens, known: knownLong(key) })
        return 'skipped'
      }
      const runner = host!.runner
      running = true
      const started = performance.now()
      budget = budgetMs
      deadline = Infinity
      try {
        const out: InlineResult =
          kind === 'call' ? { call: await runner.call(args, ctx, root, gasCap) } : kind === 'estimate' ? { gas: await runner.estimateGas(args, ctx, root, gasCap) } : { accessList: await runner.createAccessList(args, ctx, root, gasCap) }
        stats.ran++
        long.delete(key)
        return out
      } catch (err) {
        if (isCodedError(err) && err.code === EvmErrorCode.CALL_INTERRUPTED) {
          stats.stopped++
          log.debug('Call stopped on the main thread; a worker runs it', { kind, ms: performance.now() - started })
          const stops = (long.get(key)?.stops ?? 0) + 1
          long.delete(key)
          if (long.size >= MAX_LONG) long.delete(long.keys().next().value as string)
          long.set(key, { at: performance.now(), stops })
          return 'stopped'
        }
        stats.ran++
        throw err
      } finally {
        // Its wall time, awaited reads included: conservative.
        const took = performance.now() - started
        inlineMs += took
        tokens -= took
        budget = Infinity
        deadline = Infinity
          running = false
      }
    },
    stats: () => ({ ...stats }),
    close() {
      clearInterval(sample)
    },
  }
}
