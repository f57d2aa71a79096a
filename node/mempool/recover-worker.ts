/**
 * Signature recovery, shared by the worker threads and the main-thread fallback so both behave
 * the same. Run as a worker (workerData === RECOVER_WORKER_TAG) it answers batches from the pool.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { bytesToNumberBE } from '@noble/curves/utils.js'
import { SECP256K1_HALF_N, recoverPublicKey } from '../../common/secp256k1.ts'

/** One signature to recover, packed: msgHash(32) r(32) s(32) recoveryId(1). */
export const ITEM_BYTES = 97
/** Uncompressed public key without the 0x04 prefix, as ethereumjs caches it. */
export const PUBKEY_BYTES = 64
/** Recovery id value the packer writes when v/yParity is not 0 or 1. */
export const BAD_RECOVERY_ID = 0xff
export const RECOVER_WORKER_TAG = 'medrec-sender-recovery'

export interface RecoverRequest {
  id: number
  items: Uint8Array
}
export interface RecoverResponse {
  id: number
  pubkeys: Uint8Array
  /** 1 where the item recovered, 0 where the signature is invalid. */
  ok: Uint8Array
}

/**
 * Recovers a packed batch. A failed item (r or s out of range, high s per EIP-2, bad recovery
 * id, no point) leaves its 64 output bytes zero and its flag 0.
 */
export function recoverBatch(items: Uint8Array): { pubkeys: Uint8Array; ok: Uint8Array } {
  const count = Math.floor(items.length / ITEM_BYTES)
  const pubkeys = new Uint8Array(count * PUBKEY_BYTES)
  const ok = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const at = i * ITEM_BYTES
    const rec = items[at + 96]!
    if (rec !== 0 && rec !== 1) continue
    if (bytesToNumberBE(items.subarray(at + 64, at + 96)) > SECP256K1_HALF_N) continue
    const key = recoverPublicKey(items.subarray(at, at + 32), items.subarray(at + 32, at + 96), rec)
    if (key === undefined) continue // r or s out of range, r off the curve: the flag stays 0
    pubkeys.set(key.subarray(1), i * PUBKEY_BYTES)
    ok[i] = 1
  }
  return { pubkeys, ok }
}

/** Answers recovery requests on `port`; output buffers are transferred, not copied. */
export function serveRecovery(port: MessagePort): void {
  port.on('message', (msg: RecoverRequest) => {
    const { pubkeys, ok } = recoverBatch(msg.items)
    const res: RecoverResponse = { id: msg.id, pubkeys, ok }
    port.postMessage(res, [pubkeys.buffer as ArrayBuffer, ok.buffer as ArrayBuffer])
  })
}

if (parentPort !== null && workerData === RECOVER_WORKER_TAG) serveRecovery(parentPort)
