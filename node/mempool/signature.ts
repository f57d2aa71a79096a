import { Capability, type TypedTransaction } from '@ethereumjs/tx'
import { bytesToNumberBE } from '@noble/curves/utils.js'
import { SECP256K1_HALF_N, recoverPublicKey } from '../../common/secp256k1.ts'

// Signature recovery, shared by the worker threads (recover-worker.ts) and the main-thread
// fallback (sender-recovery.ts, intake.ts) so both behave the same.

/** One signature to recover, packed: msgHash(32) r(32) s(32) recoveryId(1). */
export const ITEM_BYTES = 97
/** Uncompressed public key without the 0x04 prefix, as ethereumjs caches it. */
export const PUBKEY_BYTES = 64
/** Recovery id value the packer writes when v/yParity is not 0 or 1. */
export const BAD_RECOVERY_ID = 0xff
const WORD = 1n << 256n

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

/** Packs what recovery needs; false when the signature cannot be valid (missing or > 256 bits). */
export function packInto(out: Uint8Array, at: number, tx: TypedTransaction): boolean {
  const { r, s } = tx
  if (r === undefined || s === undefined || r >= WORD || s >= WORD) return false
  out.set(tx.getHashedMessageToSign(), at)
  putWord(out, at + 32, r)
  putWord(out, at + 64, s)
  out[at + 96] = recoveryId(tx)
  return true
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
