/**
 * A call worker: runs eth_call / eth_estimateGas / eth_createAccessList off the main thread, so a long call can hold
 * only this thread, and the pool can stop it by terminating the thread (a loop inside the EVM is
 * plain JavaScript and cannot be interrupted otherwise). It opens the chain's LevelDB itself
 * (classic-level's `multithreading` option: the same database handle as the main thread's, so
 * every batch the main thread has written is visible here) and reads state trie nodes straight
 * from it, through the same CallRunner as the main thread.
 * Run as a worker (workerData.tag === CALL_WORKER_TAG) it serves the pool on its parent port.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { Address } from '@ethereumjs/util'
import { Level } from 'level'
import { errorMessage, isCodedError } from '../common/errors.ts'
import { EvmError, EvmErrorCode } from './errors.ts'
import type { AccessListResult } from './call.ts'
import { createCallHost, type CallHost } from './call-host.ts'
import type { ChainFork } from './forks.ts'
import type { BytesLevel } from './state-db.ts'
import type { CallArgs, CallResult, ExecutionContext } from './types.ts'
import type { SimBase, SimulatedBlock, SimulateRequest } from './simulate.ts'

export const CALL_WORKER_TAG = 'medrec-call-worker'

/** Where the chain store keeps what a call reads (see node/chain/store.ts). */
export interface CallDbLayout {
  /** The chain's LevelDB directory. */
  path: string
  /** Sublevel of state trie nodes (key: node hash). */
  state: string
  /** Sublevel of canonical hashes, keyed by the block number as 8 bytes big-endian (BLOCKHASH). */
  canonical: string
}

/** What the pool passes as workerData. */
export interface CallWorkerData {
  tag: typeof CALL_WORKER_TAG
  db: CallDbLayout
  chainId: bigint
  hardfork: ChainFork
  /** This worker's clean trie-node cache (see state-db.ts CleanCache). */
  cacheBytes: number
}

/** CallArgs and ExecutionContext with addresses as bytes: structured clone drops class prototypes. */
export interface WireCallArgs extends Omit<CallArgs, 'from' | 'to'> {
  from?: Uint8Array
  to?: Uint8Array
}
export interface WireContext extends Omit<ExecutionContext, 'author' | 'systemWrites'> {
  author: Uint8Array
}

/** Pool → worker. */
export interface CallJob {
  id: number
  kind: 'call' | 'estimate' | 'accessList' | 'simulate'
  /** eth_simulateV1's request and base block (kind 'simulate'; `args` is then empty). */
  sim?: { req: SimulateRequest; base: SimBase }
  args: WireCallArgs
  ctx: WireContext
  root: Uint8Array
  gasCap: bigint
  /** Execution time allowed, in ms; absent: none. Past it the call is stopped (CALL_INTERRUPTED). */
  budgetMs?: number
}

/** Worker → pool. */
export type CallMessage =
  | { type: 'ready' }
  | { type: 'start-failed'; message: string }
  | { type: 'result'; id: number; call?: CallResult; gas?: bigint; accessList?: AccessListResult; simulated?: SimulatedBlock[] }
  | { type: 'error'; id: number; code: string | undefined; message: string; context: Record<string, unknown> | undefined }

export function toWireArgs(args: CallArgs): WireCallArgs {
  return { ...args, from: args.from?.bytes, to: args.to?.bytes }
}
export function toWireContext(ctx: ExecutionContext): WireContext {
  return { number: ctx.number, timestamp: ctx.timestamp, gasLimit: ctx.gasLimit, baseFeePerGas: ctx.baseFeePerGas, difficulty: ctx.difficulty, author: ctx.author.bytes, reward: ctx.reward }
}
function fromWireArgs(w: WireCallArgs): CallArgs {
  return { ...w, from: w.from === undefined ? undefined : new Address(w.from), to: w.to === undefined ? undefined : new Address(w.to) }
}
function fromWireContext(w: WireContext): ExecutionContext {
  return { ...w, author: new Address(w.author) }
}

/** Opens the database and answers jobs one at a time (the pool sends one per worker). */
export async function serveCalls(port: MessagePort, data: CallWorkerData): Promise<void> {
  let host: CallHost
  /** The running job's deadline (performance.now() ms); one job at a time. */
  let deadline = Infinity
  try {
    // Every opener of one LevelDB in this process must pass `multithreading` (the chain store does).
    const db = new Level<Uint8Array, Uint8Array>(data.db.path, { keyEncoding: 'view', valueEncoding: 'view', multithreading: true })
    await db.open()
    const sub = (name: string): BytesLevel => db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
    // The clock read every 16th check: a loop meets one at every jump, and reading it there cost
    // ~7% of a long loop; 16 jumps of a loop run in microseconds.
    let checks = 0
    const interrupt = () => {
      if ((++checks & 15) !== 0) return
      if (performance.now() > deadline) throw new EvmError(EvmErrorCode.CALL_INTERRUPTED, 'the call ran past its time budget and was stopped')
    }
    host = await createCallHost({ state: sub(data.db.state), canonical: sub(data.db.canonical), chainId: data.chainId, hardfork: data.hardfork, cacheBytes: data.cacheBytes, interrupt })
  } catch (err) {
    port.postMessage({ type: 'start-failed', message: errorMessage(err) } satisfies CallMessage)
    return
  }
  const { runner, simulate } = host
  port.on('message', (job: CallJob) => {
    void (async () => {
      deadline = job.budgetMs === undefined ? Infinity : performance.now() + job.budgetMs
      try {
        const args = fromWireArgs(job.args)
        const ctx = fromWireContext(job.ctx)
        const msg: CallMessage =
          job.kind === 'simulate'
            ? { type: 'result', id: job.id, simulated: await simulate(job.sim!, job.gasCap) }
            : job.kind === 'call'
            ? { type: 'result', id: job.id, call: await runner.call(args, ctx, job.root, job.gasCap) }
            : job.kind === 'estimate'
              ? { type: 'result', id: job.id, gas: await runner.estimateGas(args, ctx, job.root, job.gasCap) }
              : { type: 'result', id: job.id, accessList: await runner.createAccessList(args, ctx, job.root, job.gasCap) }
        port.postMessage(msg)
      } catch (err) {
        const msg: CallMessage = { type: 'error', id: job.id, code: isCodedError(err) ? err.code : undefined, message: errorMessage(err), context: isCodedError(err) ? err.context : undefined }
        port.postMessage(msg)
      }
    })()
  })
  port.postMessage({ type: 'ready' } satisfies CallMessage)
}

if (parentPort !== null && (workerData as CallWorkerData | undefined)?.tag === CALL_WORKER_TAG) void serveCalls(parentPort, workerData as CallWorkerData)
