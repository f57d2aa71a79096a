/**
 * A mining thread. It takes jobs from the pool and hashes in chunks of ~20 ms, checking between
 * chunks whether the job's generation is still current in shared memory: aborting a job is one
 * Atomics.add in the pool, with no message round trip. Hashes done are added to a shared counter.
 * Run as a worker (workerData.tag === MINE_WORKER_TAG) it serves the pool on its parent port.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { searchNonce } from './hashcash.ts'

export const MINE_WORKER_TAG = 'medrec-pow-miner'

/** What the pool passes as workerData. */
export interface MineWorkerData {
  tag: typeof MINE_WORKER_TAG
  /** SHARED_BYTES: the current job generation (Int32 at 0) and the hashes done (BigInt64 at 8). */
  shared: SharedArrayBuffer
}
export const SHARED_BYTES = 16
const HASHES_OFFSET = 8

/** Views on the pool's shared memory: control[0] is the current job generation, hashes[0] the hashes done. */
export function sharedViews(shared: SharedArrayBuffer): { control: Int32Array; hashes: BigInt64Array } {
  return { control: new Int32Array(shared, 0, 1), hashes: new BigInt64Array(shared, HASHES_OFFSET, 1) }
}

/** Pool → worker: search from `start` until a nonce is found or the generation moves on. */
export interface MineJob {
  generation: number
  sealHash: Uint8Array
  difficulty: bigint
  start: bigint
}
/** Worker → pool. */
export type MineMessage = { type: 'ready' } | { type: 'found'; generation: number; nonce: Uint8Array }

const CHUNK_MS = 20
const MIN_CHUNK = 64
const MAX_CHUNK = 1 << 20
const NONCE_MASK = (1n << 64n) - 1n

/** Searches `job` until a nonce is found (posted) or control[0] no longer equals its generation. */
export function runJob(job: MineJob, views: { control: Int32Array; hashes: BigInt64Array }, post: (msg: MineMessage) => void): void {
  let cursor = job.start
  // Start small (the first chunk also pays for JIT warm-up), then size chunks to ~CHUNK_MS.
  let chunk = 1024
  while (Atomics.load(views.control, 0) === job.generation) {
    const t0 = performance.now()
    const { nonce, tried } = searchNonce(job.sealHash, job.difficulty, cursor, chunk)
    Atomics.add(views.hashes, 0, BigInt(tried))
    if (nonce !== undefined) {
      post({ type: 'found', generation: job.generation, nonce })
      return
    }
    cursor = (cursor + BigInt(tried)) & NONCE_MASK
    const ms = performance.now() - t0
    const scale = ms <= 0 ? 2 : Math.min(2, Math.max(0.5, CHUNK_MS / ms))
    chunk = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.round(chunk * scale)))
  }
}

/** Serves jobs from the pool on `port`. */
export function serveMining(port: MessagePort, shared: SharedArrayBuffer): void {
  const views = sharedViews(shared)
  const post = (msg: MineMessage): void => port.postMessage(msg)
  port.on('message', (job: MineJob) => runJob(job, views, post))
  post({ type: 'ready' })
}

function isWorkerData(d: unknown): d is MineWorkerData {
  return typeof d === 'object' && d !== null && (d as MineWorkerData).tag === MINE_WORKER_TAG && (d as MineWorkerData).shared instanceof SharedArrayBuffer
}

if (parentPort !== null && isWorkerData(workerData)) serveMining(parentPort, workerData.shared)
