/**
 * The recovery worker: run as a worker (workerData === RECOVER_WORKER_TAG) it answers batches
 * from the pool, of packed signatures (sender recovery) or of raw transactions (intake.ts:
 * decoding, the stateless checks and recovery).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { admitBatch, type IntakeItem, type IntakeResult } from './intake.ts'
import { recoverBatch } from './signature.ts'

export { BAD_RECOVERY_ID, ITEM_BYTES, PUBKEY_BYTES, recoverBatch } from './signature.ts'
export const RECOVER_WORKER_TAG = 'medrec-sender-recovery'

export interface RecoverRequest {
  id: number
  items: Uint8Array
}
export interface AdmitRequest {
  id: number
  admit: IntakeItem[]
}
export interface RecoverResponse {
  id: number
  pubkeys: Uint8Array
  /** 1 where the item recovered, 0 where the signature is invalid. */
  ok: Uint8Array
}
export interface AdmitResponse {
  id: number
  results: IntakeResult[]
}
/** Sent once, when the worker's modules are loaded and it answers batches. */
export interface WorkerReady {
  ready: true
}

/** Answers recovery and admission requests on `port`; recovery's output buffers are transferred, not copied. */
export function serveRecovery(port: MessagePort): void {
  port.on('message', (msg: RecoverRequest | AdmitRequest) => {
    if ('admit' in msg) {
      const res: AdmitResponse = { id: msg.id, results: admitBatch(msg.admit) }
      port.postMessage(res)
      return
    }
    const { pubkeys, ok } = recoverBatch(msg.items)
    const res: RecoverResponse = { id: msg.id, pubkeys, ok }
    port.postMessage(res, [pubkeys.buffer as ArrayBuffer, ok.buffer as ArrayBuffer])
  })
}

if (parentPort !== null && workerData === RECOVER_WORKER_TAG) {
  serveRecovery(parentPort)
  parentPort.postMessage({ ready: true } satisfies WorkerReady)
}
