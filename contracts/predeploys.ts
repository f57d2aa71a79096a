import { keccak_256 } from '@noble/hashes/sha3.js'
import { AUTHORITY_SET_ADDRESS, REGISTRAR_ADDRESS } from './addresses.ts'
import { authoritySetDeployedBytecode } from './generated/authority-set.ts'
import { registrarDeployedBytecode } from './generated/registrar.ts'

/** A storage write: 32-byte slot, 32-byte value (all zeros clears the slot). */
export type StorageEntry = [slot: Uint8Array, value: Uint8Array]

function word(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  let v = n
  for (let i = 31; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}
function toBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`)
}
function padAddress(a: Uint8Array): Uint8Array {
  const out = new Uint8Array(32)
  out.set(a, 12)
  return out
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const sorted = (list: Uint8Array[]) => [...list].sort((a, b) => Buffer.compare(a, b))

// AuthoritySet layout: slot 0 = address[] (length; elements from keccak256(0)),
// slot 1 = mapping(address => indexPlusOne).
const ARRAY_BASE = toBig(keccak_256(word(0n)))
const elementSlot = (i: number) => word(ARRAY_BASE + BigInt(i))
const mappingSlot = (a: Uint8Array) => keccak_256(Buffer.concat([padAddress(a), word(1n)]))

/** The storage of AuthoritySet holding `authorities` (sorted, the EIP-225 signer order). */
export function authoritySetStorage(authorities: Uint8Array[]): StorageEntry[] {
  const list = sorted(authorities)
  const out: StorageEntry[] = [[word(0n), word(BigInt(list.length))]]
  list.forEach((a, i) => {
    out.push([elementSlot(i), padAddress(a)])
    out.push([mappingSlot(a), word(BigInt(i + 1))])
  })
  return out
}

/**
 * The writes that turn AuthoritySet's storage for `prev` into exactly its storage for `next`:
 * new values, and 32 zero bytes for every slot that `next` no longer uses.
 */
export function authoritySetStorageUpdate(prev: Uint8Array[], next: Uint8Array[]): StorageEntry[] {
  const have = new Map(authoritySetStorage(prev).map(([k, v]) => [hex(k), v]))
  const want = new Map(authoritySetStorage(next).map(([k, v]) => [hex(k), v]))
  const slot = (k: string) => new Uint8Array(Buffer.from(k, 'hex'))
  const out: StorageEntry[] = []
  for (const k of have.keys()) if (!want.has(k)) out.push([slot(k), new Uint8Array(32)])
  for (const [k, v] of want) if (have.get(k) === undefined || hex(have.get(k)!) !== hex(v)) out.push([slot(k), v])
  return out
}

export interface Predeploy {
  code: Uint8Array
  storage: StorageEntry[]
}

/** The system contracts placed in every MedRec genesis, keyed by lowercase 0x address. */
export function predeployAlloc(authorities: Uint8Array[]): Map<string, Predeploy> {
  const code = (h: string) => new Uint8Array(Buffer.from(h.slice(2), 'hex'))
  return new Map([
    [AUTHORITY_SET_ADDRESS, { code: code(authoritySetDeployedBytecode), storage: authoritySetStorage(authorities) }],
    [REGISTRAR_ADDRESS, { code: code(registrarDeployedBytecode), storage: [] }],
  ])
}
