import { Worker } from 'node:worker_threads'
import type { TypedTransaction } from '@ethereumjs/tx'
import { createLogger } from '../../common/logger.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { admitBatch, type IntakeItem, type IntakeResult } from './intake.ts'
import { defaultMaxBatch, type SenderRecoveryOptions } from './options.ts'
import { RECOVER_WORKER_TAG, type AdmitRequest, type AdmitResponse, type RecoverRequest, type RecoverResponse, type WorkerReady } from './recover-worker.ts'
import { ITEM_BYTES, PUBKEY_BYTES, packInto, recoverBatch } from './signature.ts'
import type { SenderRecovery } from './types.ts'

export { recoveryId } from './signature.ts'

const log = createLogger('recovery')

interface RecoverReq {
  tx: TypedTransaction
  resolve(pubkey: Uint8Array): void
  reject(err: unknown): void
}

interface AdmitReq {
  item: IntakeItem
  resolve(result: IntakeResult): void
  reject(err: unknown): void
}

/** A batch in flight: signatures to recover, or raw transactions to admit. */
type Batch = { kind: 'recover'; reqs: RecoverReq[] } | { kind: 'admit'; reqs: AdmitReq[] }

interface Slot {
  worker: Worker
  /** Batches sent and not yet answered, by message id. */
  inflight: Map<number, Batch>
  /** Transactions in flight: the least loaded worker gets the next batch. */
  load: number
  dead: boolean
  /** The worker has loaded its modules (it says so once): until then its batches would wait on its start-up. */
  ready: boolean
}

function cachedKey(tx: TypedTransaction): Uint8Array | undefined {
  return tx.cache.senderPubKey
}

function closedError(): MempoolError {
  return new MempoolError(MempoolErrorCode.RECOVERY_FAILED, 'sender recovery is closed (the node is shutting down); the transaction was not checked')
}

function badSignature(): MempoolError {
  return new MempoolError(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature')
}

/** Stores each recovered key in its transaction's cache, where ethereumjs looks first. */
function settle(reqs: readonly RecoverReq[], pubkeys: Uint8Array, ok: Uint8Array): void {
  for (let i = 0; i < reqs.length; i++) {
    const req = reqs[i]!
    if (ok[i] !== 1) {
      req.reject(badSignature())
      continue
    }
    const key = pubkeys.slice(i * PUBKEY_BYTES, (i + 1) * PUBKEY_BYTES)
    req.tx.cache.senderPubKey = key
    req.resolve(key)
  }
}

function settleAdmit(reqs: readonly AdmitReq[], results: readonly IntakeResult[]): void {
  for (const [i, req] of reqs.entries()) {
    const r = results[i]
    if (r === undefined) req.reject(new MempoolError(MempoolErrorCode.RECOVERY_FAILED, 'sender recovery answered a batch short (a worker bug); the transaction was not checked, resubmit it'))
    else req.resolve(r)
  }
}

/**
 * Recovers transaction senders in a pool of worker threads. Requests made in the same tick are
 * coalesced into batches of at most `maxBatch` (one message each) sent to the least loaded
 * worker, so an RPC burst costs few messages and both cores share a block's worth.
 * `workers: 0` runs the same batches on the calling thread.
 */
export function createSenderRecovery(opts: SenderRecoveryOptions): SenderRecovery {
  const workers = Math.max(0, Math.floor(opts.workers))
  const maxBatch = Math.max(1, opts.maxBatch ?? defaultMaxBatch)
  const workerUrl = opts.workerUrl ?? new URL('./recover-worker.ts', import.meta.url)
  let queue: RecoverReq[] = []
  let admitQueue: AdmitReq[] = []
  let scheduled = false
  let closed = false
  let nextId = 1
  const slots: Slot[] = []
  const readyWaiters: Array<() => void> = []

  // Consecutive deaths without an answer in between: a worker that cannot even start is
  // respawned with a growing delay instead of in a hot loop.
  let crashes = 0
  const timers = new Set<NodeJS.Timeout>()

  const fail = (slot: Slot, reason: string): void => {
    if (slot.dead) return
    slot.dead = true
    const err = closed
      ? closedError()
      : new MempoolError(MempoolErrorCode.RECOVERY_FAILED, `sender recovery worker crashed (${reason}); the transaction was not checked, resubmit it`)
    for (const batch of slot.inflight.values()) for (const req of batch.reqs) req.reject(err)
    slot.inflight.clear()
    slot.load = 0
    const at = slots.indexOf(slot)
    if (at >= 0) slots.splice(at, 1)
    if (closed) return
    crashes++
    const delay = crashes <= 1 ? 0 : Math.min(10_000, 100 * 2 ** (crashes - 2))
    log.error('Sender recovery worker died; replacing it', { reason, delayMs: delay })
    if (delay === 0) {
      slots.push(spawn())
      return
    }
    // Meanwhile, with no live worker, batches run on the main thread rather than stall.
    const timer = setTimeout(() => {
      timers.delete(timer)
      if (!closed) slots.push(spawn())
    }, delay)
    timer.unref()
    timers.add(timer)
  }

  const spawn = (): Slot => {
    const worker = new Worker(workerUrl, { workerData: RECOVER_WORKER_TAG })
    const slot: Slot = { worker, inflight: new Map(), load: 0, dead: false, ready: false }
    worker.unref() // an idle pool must not keep the process alive; ref'd while busy
    worker.on('message', (msg: RecoverResponse | AdmitResponse | WorkerReady) => {
      if ('ready' in msg) {
        slot.ready = true
        if (slots.every((s) => s.ready)) for (const resolve of readyWaiters.splice(0)) resolve()
        return
      }
      const batch = slot.inflight.get(msg.id)
      if (batch === undefined) return
      slot.inflight.delete(msg.id)
      slot.load -= batch.reqs.length
      if (slot.load === 0) worker.unref()
      crashes = 0
      if (batch.kind === 'admit' && 'results' in msg) settleAdmit(batch.reqs, msg.results)
      else if (batch.kind === 'recover' && 'pubkeys' in msg) settle(batch.reqs, msg.pubkeys, msg.ok)
    })
    worker.on('error', (err) => fail(slot, err.message))
    worker.on('exit', (code) => fail(slot, `exit code ${code}`))
    return slot
  }
  for (let i = 0; i < workers; i++) slots.push(spawn())

  /** The least loaded worker, marked as carrying `batch`; undefined when none is alive. */
  const assign = (batch: Batch): { slot: Slot; id: number } | undefined => {
    // A worker still loading ethereumjs (a second or more of CPU on a busy machine, right after the
    // node starts) would hold the first transactions that long: until one is ready, this thread works.
    let slot: Slot | undefined
    for (const s of slots) if (s.ready && (slot === undefined || s.load < slot.load)) slot = s
    if (slot === undefined) return undefined
    const id = nextId++
    slot.inflight.set(id, batch)
    if (slot.load === 0) slot.worker.ref()
    slot.load += batch.reqs.length
    return { slot, id }
  }

  const dispatch = (reqs: RecoverReq[], items: Uint8Array): void => {
    const to = assign({ kind: 'recover', reqs })
    if (to === undefined) {
      const { pubkeys, ok } = recoverBatch(items)
      settle(reqs, pubkeys, ok)
      return
    }
    const msg: RecoverRequest = { id: to.id, items }
    to.slot.worker.postMessage(msg, [items.buffer as ArrayBuffer])
  }

  const dispatchAdmit = (reqs: AdmitReq[]): void => {
    const to = assign({ kind: 'admit', reqs })
    if (to === undefined) {
      settleAdmit(reqs, admitBatch(reqs.map((r) => r.item)))
      return
    }
    const msg: AdmitRequest = { id: to.id, admit: reqs.map((r) => r.item) }
    to.slot.worker.postMessage(msg)
  }

  /** Batch size that spreads `count` requests over every worker, in messages of at most maxBatch. */
  const batchSize = (count: number): number => Math.min(maxBatch, Math.max(1, Math.ceil(count / Math.max(1, slots.length))))

  const flush = (): void => {
    scheduled = false
    const all = queue
    queue = []
    const admits = admitQueue
    admitQueue = []
    if (closed) {
      for (const req of [...all, ...admits]) req.reject(closedError())
      return
    }
    const step = batchSize(admits.length)
    for (let start = 0; start < admits.length; start += step) dispatchAdmit(admits.slice(start, start + step))
    const size = batchSize(all.length)
    for (let start = 0; start < all.length; start += size) {
      const part = all.slice(start, start + size)
      const items = new Uint8Array(part.length * ITEM_BYTES)
      const reqs: RecoverReq[] = []
      for (const req of part) {
        let packed: boolean
        try {
          packed = packInto(items, reqs.length * ITEM_BYTES, req.tx)
        } catch {
          packed = false // e.g. an unsigned transaction has no message hash to recover from
        }
        if (packed) reqs.push(req)
        else req.reject(badSignature())
      }
      if (reqs.length === part.length) dispatch(reqs, items)
      else if (reqs.length > 0) dispatch(reqs, items.slice(0, reqs.length * ITEM_BYTES))
    }
  }

  const schedule = (): void => {
    if (scheduled) return
    scheduled = true
    setImmediate(flush)
  }

  const recover = (tx: TypedTransaction): Promise<Uint8Array> => {
    const cached = cachedKey(tx)
    if (cached !== undefined) return Promise.resolve(cached) // recovered once already
    if (closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      queue.push({ tx, resolve, reject })
      schedule()
    })
  }

  return {
    recover,
    ready() {
      return slots.every((s) => s.ready) ? Promise.resolve() : new Promise((resolve) => readyWaiters.push(resolve))
    },
    admit(item) {
      if (closed) return Promise.reject(closedError())
      return new Promise((resolve, reject) => {
        admitQueue.push({ item, resolve, reject })
        schedule()
      })
    },
    async recoverMany(txs) {
      const results = await Promise.allSettled(txs.map(recover))
      const keys: Uint8Array[] = []
      for (const [index, r] of results.entries()) {
        if (r.status === 'fulfilled') {
          keys.push(r.value)
          continue
        }
        const e = r.reason as MempoolError
        throw new MempoolError(e.code, `${e.message} (transaction ${index} of ${txs.length})`, { ...e.context, index }, e.cause)
      }
      return keys
    },
    async close() {
      if (closed) return
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      const live = [...slots]
      await Promise.all(live.map((s) => s.worker.terminate()))
      for (const s of live) fail(s, 'closed')
    },
  }
}
