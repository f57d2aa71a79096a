/**
 * Mining worker threads. One job at a time: every thread searches its own slice of the nonce
 * space from a random 64-bit start, the first valid nonce wins, and a new job, an abort or a find
 * stops the others through a generation number in shared memory (mine-worker.ts).
 */
import { randomBytes } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { createLogger } from '../../common/logger.ts'
import { errorMessage } from '../../common/errors.ts'
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'
import { meetsDifficulty, powHash, powTarget, NONCE_BYTES } from './hashcash.ts'
import { MINE_WORKER_TAG, SHARED_BYTES, sharedViews, type MineJob, type MineMessage, type MineWorkerData } from './mine-worker.ts'

const log = createLogger('consensus:miner')

export interface MinerPool {
  readonly threads: number
  /** A nonce meeting `difficulty` for `sealHash`, or undefined once `signal` aborts or another `mine` call replaces this one. */
  mine(sealHash: Uint8Array, difficulty: bigint, signal: AbortSignal): Promise<Uint8Array | undefined>
  /** Hashes per second over the last ~2 s; 0 when idle. */
  hashrate(): number
  setThreads(n: number): void
  /** Stops the running job (it resolves undefined) and terminates every thread. */
  close(): Promise<void>
}

export interface MinerPoolOptions {
  /** Mining threads, ≥ 1 (the node passes availableParallelism()). */
  threads: number
  /** The worker module; tests substitute one. Default: ./mine-worker.ts. */
  workerUrl?: URL
}

interface Slot {
  worker: Worker
  dead: boolean
  /** Terminated on purpose (close, fewer threads): its exit is not a crash. */
  stopping: boolean
}

interface Job {
  generation: number
  sealHash: Uint8Array
  difficulty: bigint
  /** Worker deaths during this job; too many and the job fails rather than wait forever. */
  crashes: number
  settle(result: Uint8Array | undefined, err?: Error): void
}

const NONCE_SPACE = 1n << 64n
const RATE_WINDOW_MS = 2000
const SAMPLE_MS = 250

function checkThreads(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ConsensusError(ConsensusErrorCode.INVALID_POW_PARAMS, `mining needs at least 1 thread, got ${n}; pass a whole number ≥ 1 (e.g. availableParallelism())`, { threads: n })
  }
}

function randomNonce(): bigint {
  return randomBytes(NONCE_BYTES).readBigUInt64BE(0)
}

export function createMinerPool(opts: MinerPoolOptions): MinerPool {
  checkThreads(opts.threads)
  let threads = opts.threads
  const workerUrl = opts.workerUrl ?? new URL('./mine-worker.ts', import.meta.url)
  const shared = new SharedArrayBuffer(SHARED_BYTES)
  const { control, hashes } = sharedViews(shared)
  const slots: Slot[] = []
  let started = false
  let closed = false
  let active: Job | undefined

  // Consecutive deaths without a worker starting in between: respawn with a growing delay.
  let crashStreak = 0
  const timers = new Set<NodeJS.Timeout>()

  // (time, hash counter) samples over the last RATE_WINDOW_MS, taken while a job runs and on every read.
  let samples: { t: number; n: number }[] = []
  let sampler: NodeJS.Timeout | undefined
  const sample = (): { t: number; n: number } => {
    const s = { t: performance.now(), n: Number(Atomics.load(hashes, 0)) }
    samples = samples.filter((x) => x.t >= s.t - RATE_WINDOW_MS)
    samples.push(s)
    return s
  }

  /** Moves the shared generation on: every thread stops after its current chunk. */
  const bumpGeneration = (): number => Atomics.add(control, 0, 1) + 1

  const send = (slot: Slot, job: Job, start: bigint): void => {
    const msg: MineJob = { generation: job.generation, sealHash: job.sealHash, difficulty: job.difficulty, start }
    slot.worker.postMessage(msg)
  }

  const onMessage = (msg: MineMessage): void => {
    if (msg.type === 'ready') {
      crashStreak = 0
      return
    }
    const job = active
    if (job === undefined || msg.generation !== job.generation) return // a job already over
    // A worker module is code we load: check its answer like any header's proof of work.
    if (msg.nonce.length !== NONCE_BYTES || !meetsDifficulty(powHash(job.sealHash, msg.nonce), job.difficulty)) {
      log.error('Mining worker reported a nonce that does not meet the difficulty; ignored', { nonce: msg.nonce, difficulty: job.difficulty })
      return
    }
    job.settle(msg.nonce)
  }

  const onDeath = (slot: Slot, reason: string): void => {
    if (slot.dead) return
    slot.dead = true
    const at = slots.indexOf(slot)
    if (at >= 0) slots.splice(at, 1)
    if (closed || slot.stopping) return
    crashStreak++
    const delay = crashStreak <= 1 ? 0 : Math.min(10_000, 100 * 2 ** (crashStreak - 2))
    log.error('Mining worker died; replacing it', { reason, delayMs: delay })
    const job = active
    if (job !== undefined && ++job.crashes > 3 * threads) {
      job.settle(undefined, new ConsensusError(ConsensusErrorCode.MINER_FAILED, `mining threads keep crashing (${job.crashes} deaths in this job, last: ${reason}); see the log for the cause`))
    }
    const respawn = (): void => {
      if (closed || slots.length >= threads) return
      const fresh = spawn()
      if (active !== undefined) {
        fresh.worker.ref()
        send(fresh, active, randomNonce())
      }
    }
    if (delay === 0) return respawn()
    const timer = setTimeout(() => {
      timers.delete(timer)
      respawn()
    }, delay)
    if (active === undefined) timer.unref() // a running job's promise must not be left without a way to settle
    timers.add(timer)
  }

  const spawn = (): Slot => {
    const data: MineWorkerData = { tag: MINE_WORKER_TAG, shared }
    const worker = new Worker(workerUrl, { workerData: data })
    const slot: Slot = { worker, dead: false, stopping: false }
    worker.unref() // ref'd only while a job runs: an idle pool never keeps the process alive
    worker.on('message', onMessage)
    worker.on('error', (err) => onDeath(slot, errorMessage(err)))
    worker.on('exit', (code) => onDeath(slot, `exit code ${code}`))
    slots.push(slot)
    return slot
  }

  const startSampling = (): void => {
    sample()
    if (sampler !== undefined) return
    sampler = setInterval(sample, SAMPLE_MS)
    sampler.unref()
  }
  const stopSampling = (): void => {
    sample()
    if (sampler !== undefined) clearInterval(sampler)
    sampler = undefined
  }

  const mine = (sealHash: Uint8Array, difficulty: bigint, signal: AbortSignal): Promise<Uint8Array | undefined> => {
    if (closed) return Promise.reject(new ConsensusError(ConsensusErrorCode.MINER_FAILED, 'the mining pool is closed (the node is shutting down); no nonce was searched'))
    try {
      powTarget(difficulty)
      powHash(sealHash, new Uint8Array(NONCE_BYTES)) // checks the seal hash's size
    } catch (err) {
      return Promise.reject(err)
    }
    active?.settle(undefined) // one job at a time: the newer header wins
    if (signal.aborted) return Promise.resolve(undefined)
    return new Promise((resolve, reject) => {
      const onAbort = (): void => job.settle(undefined)
      const job: Job = {
        generation: bumpGeneration(),
        sealHash: Uint8Array.from(sealHash),
        difficulty,
        crashes: 0,
        settle(result, err) {
          if (active !== job) return
          active = undefined
          bumpGeneration()
          signal.removeEventListener('abort', onAbort)
          for (const s of slots) s.worker.unref()
          for (const timer of timers) timer.unref()
          stopSampling()
          if (err !== undefined) reject(err)
          else resolve(result)
        },
      }
      active = job
      signal.addEventListener('abort', onAbort, { once: true })
      if (!started) {
        started = true
        for (let i = 0; i < threads; i++) spawn()
      }
      // Threads take equal slices of the nonce space from one random start.
      const start = randomNonce()
      const stride = NONCE_SPACE / BigInt(slots.length || 1)
      slots.forEach((slot, i) => {
        slot.worker.ref()
        send(slot, job, (start + BigInt(i) * stride) % NONCE_SPACE)
      })
      for (const timer of timers) timer.ref()
      startSampling()
    })
  }

  return {
    get threads() {
      return threads
    },
    mine,
    hashrate() {
      const now = sample()
      const base = samples[0]!
      const ms = now.t - base.t
      return ms < 50 ? 0 : ((now.n - base.n) * 1000) / ms
    },
    setThreads(n) {
      checkThreads(n)
      threads = n
      if (!started || closed) return
      for (const slot of slots.slice(n)) {
        slot.stopping = true
        void slot.worker.terminate()
      }
      slots.splice(n)
      while (slots.length < n) {
        const slot = spawn()
        if (active !== undefined) {
          slot.worker.ref()
          send(slot, active, randomNonce())
        }
      }
    },
    async close() {
      if (closed) return
      active?.settle(undefined)
      closed = true
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      stopSampling()
      const live = slots.splice(0)
      for (const slot of live) slot.stopping = true
      await Promise.all(live.map((slot) => slot.worker.terminate()))
    },
  }
}
