import type { Address } from '@ethereumjs/util'

/**
 * The authorisation state at a block (EIP-225 "snapshot"): the sorted signer list and who
 * sealed the most recent blocks. Immutable: `apply` in the engine returns a new one.
 */
export interface PoaSnapshot {
  number: bigint
  hash: Uint8Array
  /** Lowercase 0x addresses, sorted ascending (the in-turn order). */
  signers: string[]
  /** Block number → signer, for the last floor(N/2)+1 blocks. */
  recents: Map<bigint, string>
}

export function signerLimit(snap: PoaSnapshot): bigint {
  return BigInt(Math.floor(snap.signers.length / 2) + 1)
}

/** In turn: the signer at index number mod N of the sorted list. */
export function isInTurn(snap: PoaSnapshot, number: bigint, signer: Address | string): boolean {
  const s = typeof signer === 'string' ? signer : signer.toString()
  const i = snap.signers.indexOf(s)
  return i >= 0 && BigInt(i) === number % BigInt(snap.signers.length)
}

/** The signer sealed one of the last floor(N/2) blocks, so may not seal block `number`. */
export function signedRecently(snap: PoaSnapshot, number: bigint, signer: string): boolean {
  const limit = signerLimit(snap)
  for (const [n, s] of snap.recents) {
    if (s === signer && number < limit + n) return true
  }
  return false
}
