import { secp256k1 } from '@noble/curves/secp256k1.js'

/** One signature to recover, packed as 97 bytes: msgHash(32) r(32) s(32) recovery(1). */
export const ITEM_BYTES = 97
export const PUBKEY_BYTES = 64
const HALF_N = secp256k1.Point.CURVE().n / 2n

/**
 * Recovers uncompressed public keys (64 bytes, without the 0x04 prefix) for a packed batch.
 * A failed item (high s, invalid point) leaves its 64 output bytes zero and its flag 0.
 * Shared by the worker threads and the main-thread fallback, so both behave the same.
 */
export function recoverBatch(items: Uint8Array): { pubkeys: Uint8Array; ok: Uint8Array } {
  const n = items.length / ITEM_BYTES
  const pubkeys = new Uint8Array(n * PUBKEY_BYTES)
  const ok = new Uint8Array(n)
  const sig = new Uint8Array(65)
  for (let i = 0; i < n; i++) {
    const item = items.subarray(i * ITEM_BYTES, (i + 1) * ITEM_BYTES)
    const s = BigInt('0x' + Buffer.from(item.subarray(64, 96)).toString('hex'))
    if (s === 0n || s > HALF_N) continue // EIP-2: high-s signatures are invalid
    sig[0] = item[96]!
    sig.set(item.subarray(32, 96), 1)
    try {
      const pub = secp256k1.recoverPublicKey(sig, item.subarray(0, 32), { prehash: false })
      pubkeys.set(secp256k1.Point.fromBytes(pub).toBytes(false).subarray(1), i * PUBKEY_BYTES)
      ok[i] = 1
    } catch {
      // invalid signature: flag stays 0
    }
  }
  return { pubkeys, ok }
}
