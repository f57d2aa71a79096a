import type { BlockHeader } from '@ethereumjs/block'
import { RLP } from '@ethereumjs/rlp'
import { Address } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak256 } from '../../common/keccak.ts'
import { recoverPublicKey } from '../../common/secp256k1.ts'
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'

/** EIP-225: 32 bytes of signer vanity, then (at checkpoints) signers, then a 65-byte seal. */
export const EXTRA_VANITY = 32
export const EXTRA_SEAL = 65
const EXTRA_DATA_INDEX = 12

/** keccak256 of the header's RLP with the seal cut off extraData (geth's SealHash). */
export function sealHash(header: BlockHeader): Uint8Array {
  const raw = header.raw()
  const extra = header.extraData
  if (extra.length < EXTRA_SEAL) throw new ConsensusError(ConsensusErrorCode.MISSING_SIGNATURE, `extra-data ${extra.length} bytes long, missing the 65-byte signature suffix`)
  raw[EXTRA_DATA_INDEX] = extra.subarray(0, extra.length - EXTRA_SEAL)
  return keccak256(RLP.encode(raw))
}

/** The 65-byte seal r || s || v (v = recovery id 0 or 1), as geth writes it. */
export function signSeal(hash: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const sig = secp256k1.sign(hash, privateKey, { prehash: false, format: 'recovered' })
  const out = new Uint8Array(EXTRA_SEAL)
  out.set(sig.subarray(1, 65), 0)
  out[64] = sig[0]!
  return out
}

/** Address of a secp256k1 public key, compressed (as noble recovers it) or not. */
export function addressOfPublicKey(pub: Uint8Array): Address {
  const full = pub.length === 33 ? secp256k1.Point.fromBytes(pub).toBytes(false) : pub
  return new Address(keccak256(full.subarray(1)).subarray(12))
}

// Signer recovery is the costly part of header checks; geth caches 4096 recent ones.
const recovered = new Map<string, Address>()
const CACHE_SIZE = 4096

/** The address that sealed `header`; throws BAD_SEAL when the signature does not recover. */
export function recoverSigner(header: BlockHeader): Address {
  const key = Buffer.from(header.hash()).toString('hex')
  const hit = recovered.get(key)
  if (hit !== undefined) return hit
  const extra = header.extraData
  if (extra.length < EXTRA_VANITY + EXTRA_SEAL) {
    throw new ConsensusError(ConsensusErrorCode.MISSING_SIGNATURE, `extra-data ${extra.length} bytes long, need at least ${EXTRA_VANITY + EXTRA_SEAL}`)
  }
  const seal = extra.subarray(extra.length - EXTRA_SEAL)
  const v = seal[64]!
  if (v > 1) throw new ConsensusError(ConsensusErrorCode.BAD_SEAL, `invalid seal recovery id ${v}`)
  const pub = recoverPublicKey(sealHash(header), seal.subarray(0, 64), v)
  if (pub === undefined) throw new ConsensusError(ConsensusErrorCode.BAD_SEAL, 'block seal does not recover to a public key (r or s out of range, or r not on the curve)')
  const signer = addressOfPublicKey(pub)
  if (recovered.size >= CACHE_SIZE) recovered.delete(recovered.keys().next().value as string)
  recovered.set(key, signer)
  return signer
}
