import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { KeyError, KeyErrorCode } from './errors.ts'

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/

function assertPrivateKey(pk: Uint8Array): void {
  if (!(pk instanceof Uint8Array) || pk.length !== 32 || !secp256k1.utils.isValidSecretKey(pk)) {
    throw new KeyError(KeyErrorCode.INVALID_PRIVATE_KEY, 'invalid private key: expected 32 bytes in the secp256k1 range (1..n-1)')
  }
}

/** keccak256 of the uncompressed public key without its 0x04 prefix, last 20 bytes. */
export function privateKeyToAddress(pk: Uint8Array): Uint8Array {
  assertPrivateKey(pk)
  return keccak_256(secp256k1.getPublicKey(pk, false).subarray(1)).slice(12)
}

/** EIP-55 mixed-case checksum encoding. */
export function toChecksumAddress(addr: Uint8Array | string): string {
  let lower: string
  if (typeof addr === 'string') {
    const s = /^0x/i.test(addr) ? addr : `0x${addr}`
    if (!ADDRESS_RE.test(s)) {
      throw new KeyError(KeyErrorCode.INVALID_ADDRESS, `invalid address "${addr.slice(0, 80)}": expected 0x followed by 40 hex digits`)
    }
    lower = s.slice(2).toLowerCase()
  } else {
    if (addr.length !== 20) throw new KeyError(KeyErrorCode.INVALID_ADDRESS, `invalid address: expected 20 bytes, got ${addr.length}`)
    lower = hex(addr)
  }
  const hash = hex(keccak_256(new TextEncoder().encode(lower)))
  let out = '0x'
  for (let i = 0; i < 40; i++) out += parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!
  return out
}

/**
 * Parses a 0x address. All-lowercase and all-uppercase are accepted as is; a mixed-case one
 * must carry a valid EIP-55 checksum, which catches most single-character typos.
 */
export function parseAddress(s: string, what = 'address'): Uint8Array {
  const t = typeof s === 'string' ? s.trim() : s
  if (typeof t !== 'string' || !ADDRESS_RE.test(t)) {
    const shown = typeof s === 'string' ? `"${s.slice(0, 80)}"` : String(s)
    throw new KeyError(KeyErrorCode.INVALID_ADDRESS, `invalid ${what} ${shown}: expected 0x followed by 40 hex digits`)
  }
  const body = t.slice(2)
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase()
  if (mixed) {
    const want = toChecksumAddress(body)
    if (want !== `0x${body}`) {
      throw new KeyError(
        KeyErrorCode.BAD_CHECKSUM,
        `invalid ${what} ${t}: EIP-55 checksum mismatch (the correctly checksummed form is ${want}); check the address for a typo, or write it all lowercase to skip the check`,
      )
    }
  }
  return new Uint8Array(Buffer.from(body, 'hex'))
}

/** A private key as 64 hex digits (0x optional). The key itself never appears in messages. */
export function parsePrivateKey(s: string): Uint8Array {
  const body = typeof s === 'string' ? s.trim().replace(/^0x/i, '') : ''
  if (!/^[0-9a-fA-F]{64}$/.test(body)) {
    throw new KeyError(KeyErrorCode.INVALID_PRIVATE_KEY, 'invalid private key: expected 32 bytes as 64 hex digits (0x optional)')
  }
  const pk = new Uint8Array(Buffer.from(body, 'hex'))
  if (!secp256k1.utils.isValidSecretKey(pk)) {
    throw new KeyError(KeyErrorCode.INVALID_PRIVATE_KEY, 'invalid private key: outside the secp256k1 range (must be 1..n-1)')
  }
  return pk
}
