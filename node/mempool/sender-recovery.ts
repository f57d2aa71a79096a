import { Worker } from 'node:worker_threads'
import { Capability, type TypedTransaction } from '@ethereumjs/tx'
import { createLogger } from '../../common/logger.ts'
import { MempoolError, MempoolErrorCode } from './errors.ts'
import { ITEM_BYTES, PUBKEY_BYTES, recoverBatch } from './recover.ts'

const log = createLogger('recovery')

export interface SenderRecovery {
  /** Recovers each sender once and stores the public key in the transaction's cache. */
  recover(tx: TypedTransaction): Promise<void>
  recoverMany(txs: TypedTransaction[]): Promise<void>
  close(): Promise<void>
}

function word(n: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'))
}

/** The recovery id of a signature: yParity for typed transactions, from v for legacy. */
function recoveryId(tx: TypedTransaction): number {
  const v = tx.v!
  if (tx.type !== 0) return Number(v)
  if (v === 27n || v === 28n) return Number(v - 27n)
  if (tx.supports(Capability.EIP155ReplayProtection)) return Number(v - 35n - 2n * tx.common.chainId())
  return -1
}

function pack(txs: TypedTransaction[]): Uint8Array {
  const out = new Uint8Array(txs.length * ITEM_BYTES)
  txs.forEach((tx, i) => {
    const at = i * ITEM_BYTES
    if (tx.r === undefined || tx.s === undefined || tx.v === undefined || tx.r >= 1n << 256n || tx.s >= 1n << 256n) {
      out[at + 96] = 0xff // unsigned or malformed: the worker cannot recover it
      return
    }
    out.set(tx.getHashedMessageToSign(), at)
    out.set(word(tx.r), at + 32)
    out.set(word(tx.s), at + 64)
    const rec = recoveryId(tx)
    out[at + 96] = rec === 0 || rec === 1 ? rec : 0xff
  })
  return out
}

function apply(txs: TypedTransaction[], pubkeys: Uint8Array, ok: Uint8Array): void {
  txs.forEach((tx, i) => {
    if (ok[i] !== 1) return
    ;(tx as unknown as { cache: { senderPubKey?: Uint8Array } }).cache.senderPubKey = pubkeys.slice(i * PUBKEY_BYTES, (i + 1) * PUBKEY_BYTES)
  })
}

function failures(txs: TypedTransaction[], ok: Uint8Array): TypedTransaction[] {
  return txs.filter((_, i) => ok[i] !== 1)
}

interface Job {
  txs: TypedTransaction[]
  resolve: () => void
  reject: (e: unknown) => void
}

/**
 * A pool of worker threads that recover transaction senders. Requests made in the same tick
 * are coalesced and split across workers, so RPC bursts cost few messages.
 * `workers: 0` recovers on the calling thread through the same code.
 */
export function createSenderRecovery(opts: { workers: number }): SenderRecovery {
  if (opts.workers <= 0) {
    return {
      async recover(tx) {
        await this.recoverMany([tx])
      },
      async recoverMany(txs) {
        const { pubkeys, ok } = recoverBatch(pack(txs))
        apply(txs, pubkeys, ok)
        if (failures(txs, ok).length > 0) throw badSignature(failures(txs, ok))
      },
      async close() {},
    }
  }

  interface Slot {
    worker: Worker
    inflight: Map<number, { txs: TypedTransaction[]; jobs: Job[] }>
  }
  let nextId = 1
  let closed = false
  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(new URL('./recover-worker.ts', import.meta.url)), inflight: new Map() }
    slot.worker.unref()
    slot.worker.on('message', (msg: { id: number; pubkeys: Uint8Array; ok: Uint8Array }) => {
      const batch = slot.inflight.get(msg.id)
      if (batch === undefined) return
      slot.inflight.delete(msg.id)
      apply(batch.txs, msg.pubkeys, msg.ok)
      for (const job of batch.jobs) {
        const bad = job.txs.filter((tx) => (tx as unknown as { cache: { senderPubKey?: Uint8Array } }).cache.senderPubKey === undefined)
        if (bad.length > 0) job.reject(badSignature(bad))
        else job.resolve()
      }
    })
    slot.worker.on('error', (err) => {
      log.error('Sender recovery worker crashed; replacing it', undefined, err)
      for (const batch of slot.inflight.values()) {
        for (const job of batch.jobs) job.reject(new MempoolError(MempoolErrorCode.RECOVERY_FAILED, `sender recovery worker crashed: ${err.message}`))
      }
      slot.inflight.clear()
      if (!closed) slots[slots.indexOf(slot)] = spawn()
    })
    return slot
  }
  const slots: Slot[] = Array.from({ length: opts.workers }, spawn)
  let queue: Job[] = []
  let scheduled = false

  const flush = () => {
    scheduled = false
    const jobs = queue
    queue = []
    const txs = jobs.flatMap((j) => j.txs)
    if (txs.length === 0) return
    // Split the coalesced batch evenly over the workers, least loaded first.
    const order = [...slots].sort((a, b) => a.inflight.size - b.inflight.size)
    const parts = Math.min(order.length, Math.max(1, Math.ceil(txs.length / 8)))
    const per = Math.ceil(jobs.length / parts)
    for (let p = 0; p < parts; p++) {
      const part = jobs.slice(p * per, (p + 1) * per)
      if (part.length === 0) continue
      const partTxs = part.flatMap((j) => j.txs)
      const id = nextId++
      const slot = order[p]!
      slot.inflight.set(id, { txs: partTxs, jobs: part })
      const items = pack(partTxs)
      slot.worker.postMessage({ id, items }, [items.buffer as ArrayBuffer])
    }
  }

  const submit = (txs: TypedTransaction[]) =>
    new Promise<void>((resolve, reject) => {
      if (closed) return reject(new MempoolError(MempoolErrorCode.RECOVERY_FAILED, 'sender recovery is closed'))
      queue.push({ txs, resolve, reject })
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    })

  return {
    recover: (tx) => submit([tx]),
    recoverMany: async (txs) => {
      // Large batches are split so both workers share them.
      const chunk = Math.ceil(txs.length / slots.length)
      await Promise.all(Array.from({ length: slots.length }, (_, i) => submit(txs.slice(i * chunk, (i + 1) * chunk))))
    },
    async close() {
      closed = true
      await Promise.all(slots.map((s) => s.worker.terminate()))
    },
  }
}

function badSignature(txs: TypedTransaction[]): MempoolError {
  return new MempoolError(MempoolErrorCode.BAD_SIGNATURE, 'invalid sender: invalid signature', { count: txs.length })
}
