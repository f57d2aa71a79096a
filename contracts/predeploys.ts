import { keccak_256 } from '@noble/hashes/sha3.js'
import { AUTHORITY_SET_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, REGISTRAR_ADDRESS, RELATIONSHIPS_ADDRESS, SUMMARY_IMPLEMENTATION_ADDRESS } from './addresses.ts'
import { ContractsError, ContractsErrorCode } from './errors.ts'
import { authoritySetDeployedBytecode } from './generated/authority-set.ts'
import { patientProviderRelationshipDeployedBytecode } from './generated/patient-provider-relationship.ts'
import { registrarDeployedBytecode } from './generated/registrar.ts'
import { relationshipsDeployedBytecode } from './generated/relationships.ts'
import { summaryDeployedBytecode } from './generated/summary.ts'
import type { Predeploy, StorageEntry } from './types.ts'

export type { Predeploy, StorageEntry } from './types.ts'

/**
 * Storage entries are always 32-byte slot keys with 32-byte left-padded values; a value of
 * 32 zero bytes means "clear this slot" (state managers delete zero-valued slots).
 */
function word(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  let v = n
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))
function padAddress(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  out.set(a, 12)
  return out
}

// AuthoritySet layout (contracts/src/AuthoritySet.sol): slot 0 = address[] _authorities
// (length at slot 0, element i at keccak256(pad32(0)) + i), slot 1 = mapping(address =>
// indexPlusOne) (entry at keccak256(pad32(addr) ++ pad32(1))).
const ARRAY_BASE = BigInt(`0x${hex(keccak_256(word(0n)))}`)
const elementSlot = (i: number): Uint8Array => word(ARRAY_BASE + BigInt(i))
const mappingSlot = (a: Uint8Array): Uint8Array => keccak_256(Buffer.concat([padAddress(a), word(1n)]))

/** Validates and sorts ascending: the EIP-225 signer order, so every node writes the same storage. */
function canonical(authorities: Uint8Array[]): Uint8Array[] {
  const seen = new Set<string>()
  for (const a of authorities) {
    if (a.length !== 20) {
      throw new ContractsError(ContractsErrorCode.INVALID_AUTHORITY, `authority must be a 20-byte address, got ${a.length} bytes (0x${hex(a)})`, { length: a.length })
    }
    if (seen.has(hex(a))) {
      throw new ContractsError(ContractsErrorCode.DUPLICATE_AUTHORITY, `authority 0x${hex(a)} is listed twice: pass each signer once`, { authority: `0x${hex(a)}` })
    }
    seen.add(hex(a))
  }
  return [...authorities].sort((a, b) => Buffer.compare(a, b))
}

/**
 * The complete storage of AuthoritySet holding `authorities` (stored sorted ascending).
 * Only non-zero slots are returned; values are 32-byte left-padded words.
 */
export function authoritySetStorage(authorities: Uint8Array[]): StorageEntry[] {
  const list = canonical(authorities)
  const out: StorageEntry[] = []
  if (list.length > 0) out.push([word(0n), word(BigInt(list.length))])
  list.forEach((a, i) => {
    out.push([elementSlot(i), padAddress(a)])
    out.push([mappingSlot(a), word(BigInt(i + 1))])
  })
  return out
}

/**
 * The writes that turn AuthoritySet's storage for `prev` into exactly its storage for `next`:
 * changed or new slots with their value, and 32 zero bytes for every slot `next` no longer
 * uses. Unchanged slots are omitted, so an unchanged set yields no writes.
 */
export function authoritySetStorageUpdate(prev: Uint8Array[], next: Uint8Array[]): StorageEntry[] {
  const have = new Map(authoritySetStorage(prev).map(([k, v]) => [hex(k), hex(v)]))
  const want = new Map(authoritySetStorage(next).map(([k, v]) => [hex(k), hex(v)]))
  const out: StorageEntry[] = []
  for (const k of have.keys()) if (!want.has(k)) out.push([fromHex(k), new Uint8Array(32)])
  for (const [k, v] of want) if (have.get(k) !== v) out.push([fromHex(k), fromHex(v)])
  return out
}

/** The system contracts (and the two clone implementations) placed in every MedRec genesis, keyed by lowercase 0x address. */
export function predeployAlloc(authorities: Uint8Array[]): Map<string, Predeploy> {
  return new Map<string, Predeploy>([
    [AUTHORITY_SET_ADDRESS, { code: fromHex(authoritySetDeployedBytecode), storage: authoritySetStorage(authorities) }],
    [REGISTRAR_ADDRESS, { code: fromHex(registrarDeployedBytecode), storage: [] }],
    [RELATIONSHIPS_ADDRESS, { code: fromHex(relationshipsDeployedBytecode), storage: [] }],
    // the implementations relationship and Summary clones forward to (no storage, no initialiser)
    [PPR_IMPLEMENTATION_ADDRESS, { code: fromHex(patientProviderRelationshipDeployedBytecode), storage: [] }],
    [SUMMARY_IMPLEMENTATION_ADDRESS, { code: fromHex(summaryDeployedBytecode), storage: [] }],
  ])
}
