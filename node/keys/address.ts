import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { KeyError, KeyErrorCode } from './errors.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

export function privateKeyToAddress(pk: Uint8Array): Uint8Array {
  return keccak_256(secp256k1.getPublicKey(pk, false).subarray(1)).subarray(12)
}

/** EIP-55 mixed-case checksum encoding. */
export function toChecksumAddress(addr: Uint8Array | string): string {
  const lower = typeof addr === 'string' ? addr.toLowerCase().replace(/^0x/, '') : hex(addr)
  const hash = hex(keccak_256(new TextEncoder().encode(lower)))
  let out = '0x'
  for (let i = 0; i < lower.length; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]
  return out
}

/** Parses a 0x address; a mixed-case one must carry a valid EIP-55 checksum. */
export function parseAddress(s: string, what = 'address'): Uint8Array {
  if (typeof s !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(s.trim())) {
    throw new KeyError(KeyErrorCode.INVALID_ADDRESS, `invalid ${what} "${String(s)}": expected 0x followed by 40 hex digits`)
  }
  const body = s.trim().slice(2)
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase()
  if (mixed && toChecksumAddress(body) !== `0x${body}`) {
    throw new KeyError(KeyErrorCode.BAD_CHECKSUM, `invalid ${what} ${s}: EIP-55 checksum mismatch (expected ${toChecksumAddress(body)}); check for a typo`)
  }
  return new Uint8Array(Buffer.from(body, 'hex'))
}

export function parsePrivateKey(s: string): Uint8Array {
  const body = s.trim().replace(/^0x/, '')
  if (!/^[0-9a-fA-F]{64}$/.test(body)) throw new KeyError(KeyErrorCode.INVALID_PRIVATE_KEY, 'invalid private key: expected 32 bytes as 64 hex digits')
  const pk = new Uint8Array(Buffer.from(body, 'hex'))
  if (!secp256k1.utils.isValidSecretKey(pk)) throw new KeyError(KeyErrorCode.INVALID_PRIVATE_KEY, 'invalid private key: outside the secp256k1 range')
  return pk
}
