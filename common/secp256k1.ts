/**
 * ECDSA public-key recovery on secp256k1, the node's per-transaction ceiling: every node
 * recovers every sender once. It runs libsecp256k1 (bitcoin-core's C library, the one geth
 * uses) compiled to WebAssembly by tiny-secp256k1, about five times @noble/curves' pure
 * JavaScript on this machine (`npm run bench -- recovery`). @noble/curves stays for signing,
 * key derivation and verification against cached keys.
 */
import { recover } from 'tiny-secp256k1'

/** The curve order n. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
/** n / 2: a larger s is invalid in transactions since Homestead (EIP-2). */
export const SECP256K1_HALF_N = SECP256K1_N >> 1n

/**
 * The uncompressed public key (65 bytes, 0x04 first) that signed `hash` with `rs` (r ‖ s, 32
 * bytes each, big-endian) and recovery id 0 or 1, or undefined when no key recovers: r or s zero
 * or not below n, r not the x of a curve point, a bad recovery id. High s is accepted here;
 * callers that follow EIP-2 check it themselves.
 */
export function recoverPublicKey(hash: Uint8Array, rs: Uint8Array, recovery: number): Uint8Array | undefined {
  if (hash.length !== 32 || rs.length !== 64 || (recovery !== 0 && recovery !== 1)) return undefined
  try {
    return recover(hash, rs, recovery, false) ?? undefined
  } catch {
    return undefined // tiny-secp256k1 throws on r or s out of range and on r off the curve
  }
}
