import { Worker } from 'node:worker_threads'
import { Capability, type TypedTransaction } from '@ethereumjs/tx'
import { createLogger } from '../../common/logger.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { defaultMaxBatch, type SenderRecoveryOptions } from './options.ts'
import {
  BAD_RECOVERY_ID,
  ITEM_BYTES,
  PUBKEY_BYTES,
  RECOVER_WORKER_TAG,
  recoverBatch,
  type RecoverRequest,
  type RecoverResponse,
} from './recover-worker.ts'
import type { SenderRecovery } from './types.ts'

const log = createLogger('recovery')
const WORD = 1n << 256n

interface Request {
  tx: TypedTransaction
  resolve(pubkey: Uint8Array): void
  reject(err: unknown): void
}

interface Slot {
  worker: Worker
  /** Batches sent and not yet answered, by message id. */
  inflight: Map<number, Request[]>
  /** Transactions in flight: the least loaded worker gets the next batch. */
  load: number
  dead: boolean
}

/** The recovery id (0/1) of a signature: yParity for typed transactions, from v for legacy. */
export function recoveryId(tx: TypedTransaction): number {
  const v = tx.v
  if (v === undefined) return BAD_RECOVERY_ID
  let rec: bigint
  if (tx.type !== 0) rec = v
  else if (v === 27n || v === 28n) rec = v - 27n
  else if (tx.supports(Capability.EIP155ReplayProtection)) rec = v - 35n - 2n * tx.common.chainId() // EIP-155
  else return BAD_RECOVERY_ID
  return rec === 0n || rec === 1n ? Number(rec) : BAD_RECOVERY_ID
}

function putWord(out: Uint8Array, at: number, n: bigint): void {
  out.set(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'), at)
}

/** Packs what the worker needs; false when the signature cannot be valid (missing or > 256 bits). */
function packInto(out: Uint8Array, at: number, tx: TypedTransaction): boolean {
  const { r, s } = tx
  if (r === undefined || s === undefined || r >= WORD || s >= WORD) return false
  out.set(tx.getHashedMessageToSign(), at)
  putWord(out, at + 32, r)
  putWord(out, at + 64, s)
  out[at + 96] = recoveryId(tx)
  return true
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
function settle(reqs: readonly Request[], pubkeys: Uint8Array, ok: Uint8Array): void {
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
  let queue: Request[] = []
  let scheduled = false
  let closed = false
  let nextId = 1
  const slots: Slot[] = []

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
    for (const reqs of slot.inflight.values()) for (const req of reqs) req.reject(err)
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
    const slot: Slot = { worker, inflight: new Map(), load: 0, dead: false }
    worker.unref() // an idle pool must not keep the process alive; ref'd while busy
    worker.on('message', (msg: RecoverResponse) => {
      const reqs = slot.inflight.get(msg.id)
      if (reqs === undefined) return
      slot.inflight.delete(msg.id)
      slot.load -= reqs.length
      if (slot.load === 0) worker.unref()
      crashes = 0
      settle(reqs, msg.pubkeys, msg.ok)
    })
    worker.on('error', (err) => fail(slot, err.message))
    worker.on('exit', (code) => fail(slot, `exit code ${code}`))
    return slot
  }
  for (let i = 0; i < workers; i++) slots.push(spawn())

  const dispatch = (reqs: Request[], items: Uint8Array): void => {
    if (slots.length === 0) {
      const { pubkeys, ok } = recoverBatch(items)
      settle(reqs, pubkeys, ok)
      return
    }
    let slot = slots[0]!
    for (const s of slots) if (s.load < slot.load) slot = s
    const id = nextId++
    slot.inflight.set(id, reqs)
    if (slot.load === 0) slot.worker.ref()
    slot.load += reqs.length
    const msg: RecoverRequest = { id, items }
    slot.worker.postMessage(msg, [items.buffer as ArrayBuffer])
  }

  const flush = (): void => {
    scheduled = false
    const all = queue
    queue = []
    if (closed) {
      for (const req of all) req.reject(closedError())
      return
    }
    // Spread a burst over every worker, in messages of at most maxBatch.
    const size = Math.min(maxBatch, Math.max(1, Math.ceil(all.length / Math.max(1, slots.length))))
    for (let start = 0; start < all.length; start += size) {
      const part = all.slice(start, start + size)
      const items = new Uint8Array(part.length * ITEM_BYTES)
      const reqs: Request[] = []
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

  const recover = (tx: TypedTransaction): Promise<Uint8Array> => {
    const cached = cachedKey(tx)
    if (cached !== undefined) return Promise.resolve(cached) // recovered once already
    if (closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      queue.push({ tx, resolve, reject })
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    })
  }

  return {
    recover,
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
