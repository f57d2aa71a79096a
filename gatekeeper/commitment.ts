import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Address, Hex } from 'viem'
import { fromHex, toData } from '../common/hex.ts'
import { canonicalJson } from '../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { project, valueAt } from './fhir-path.ts'
import type { FhirResource, FieldProof } from './types.ts'

/**
 * Field commitments: how a viewer checks the fields it was granted against the pointer's
 * on-chain `dataHash` without seeing the others.
 *
 * A pointer's records are cut into columns, one per field of its query: the canonical JSON of
 * `[[id, value], ...]` over the records sorted by id (null where a record lacks the field). Each
 * column is committed with a secret salt, `keccak256(salt ‖ column)`, and the `dataHash` on chain
 * is `keccak256(commitment_0 ‖ … ‖ commitment_{n-1})`. A reply carries the granted columns'
 * salts (the receiver recomputes those commitments from the records it got) and the withheld
 * columns' commitments (which reveal nothing without their salt). Every column lists every
 * record id, so adding, removing or changing a record changes every granted column.
 *
 * Salts are derived, not stored: HMAC-SHA256(secret, relationship ‖ uint256 pointerId ‖ uint8 field).
 */

const encoder = new TextEncoder()

function byId(a: FhirResource, b: FhirResource): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** One field's column: canonical JSON of `[id, value ?? null]` per record, records sorted by id. */
export function column(resources: readonly FhirResource[], path: string): string {
  return canonicalJson([...resources].sort(byId).map((r) => [r.id, valueAt(r, path) ?? null]))
}

/**
 * The salt of one field of one pointer version: HMAC-SHA256(secret, relationship(20) ‖ uint256
 * pointerId ‖ uint32 version ‖ uint8 field). The version is in it so that a viewer who once held
 * a field's salt cannot test guesses of that field's later values against later hashes.
 */
export function fieldSalt(secret: Uint8Array, relationship: Address, pointerId: number, version: number, field: number): Uint8Array {
  if (!/^0x[0-9a-fA-F]{40}$/.test(relationship)) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `fieldSalt: relationship must be a 20-byte address, got ${String(relationship).slice(0, 60)}`)
  if (!Number.isSafeInteger(pointerId) || pointerId < 0) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `fieldSalt: pointerId must be a non-negative integer, got ${pointerId}`)
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `fieldSalt: version must be 1..2^32-1, got ${version}`)
  if (!Number.isInteger(field) || field < 0 || field > 255) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `fieldSalt: field must be 0..255, got ${field}`)
  const msg = new Uint8Array(20 + 32 + 4 + 1)
  msg.set(fromHex(relationship), 0)
  let id = BigInt(pointerId)
  for (let i = 51; i >= 20 && id > 0n; i--, id >>= 8n) msg[i] = Number(id & 0xffn)
  new DataView(msg.buffer).setUint32(52, version)
  msg[56] = field
  return hmac(sha256, secret, msg)
}

/** keccak256(salt ‖ utf8(columnJson)). */
export function commitField(salt: Uint8Array, columnJson: string): Uint8Array {
  const text = encoder.encode(columnJson)
  const buf = new Uint8Array(salt.length + text.length)
  buf.set(salt, 0)
  buf.set(text, salt.length)
  return keccak_256(buf)
}

/** keccak256 of the concatenated field commitments, in field order: the pointer's `dataHash`. */
export function dataHash(commitments: readonly Uint8Array[]): Hex {
  const buf = new Uint8Array(commitments.length * 32)
  commitments.forEach((c, i) => {
    if (c.length !== 32) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `a field commitment is 32 bytes, got ${c.length}`)
    buf.set(c, i * 32)
  })
  return toData(keccak_256(buf))
}

export interface FieldCommitments {
  dataHash: Hex
  /** One per field, in field order. */
  commitments: Uint8Array[]
  salts: Uint8Array[]
}

/** Provider side: the commitments of a pointer's records and the `dataHash` that goes on chain. */
export function commitRecords(secret: Uint8Array, relationship: Address, pointerId: number, version: number, fields: readonly string[], resources: readonly FhirResource[]): FieldCommitments {
  const salts = fields.map((_, i) => fieldSalt(secret, relationship, pointerId, version, i))
  const commitments = fields.map((path, i) => commitField(salts[i]!, column(resources, path)))
  return { dataHash: dataHash(commitments), commitments, salts }
}

function checkGranted(granted: readonly number[], fieldCount: number): void {
  const seen = new Set<number>()
  for (const f of granted) {
    if (!Number.isInteger(f) || f < 0 || f >= fieldCount || seen.has(f)) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `granted fields must be distinct indexes below the pointer's ${fieldCount} fields, got [${granted.join(',')}]`)
    }
    seen.add(f)
  }
}

/**
 * Provider side of a reply: the records sorted by id and projected to the granted fields, the
 * granted fields' salts and the withheld fields' commitments. With no field granted nothing is
 * released, not even record ids.
 */
export function buildProof(
  secret: Uint8Array,
  relationship: Address,
  pointerId: number,
  version: number,
  fields: readonly string[],
  resources: readonly FhirResource[],
  granted: readonly number[],
): { bundleResources: FhirResource[]; proof: FieldProof } {
  checkGranted(granted, fields.length)
  const { commitments, salts } = commitRecords(secret, relationship, pointerId, version, fields, resources)
  const grantedSet = new Set(granted)
  const proof: FieldProof = { salts: {}, commitments: {} }
  fields.forEach((_, i) => {
    if (grantedSet.has(i)) proof.salts[String(i)] = toData(salts[i]!)
    else proof.commitments[String(i)] = toData(commitments[i]!)
  })
  const paths = [...grantedSet].sort((a, b) => a - b).map((i) => fields[i]!)
  const bundleResources = paths.length === 0 ? [] : [...resources].sort(byId).map((r) => project(r, paths))
  return { bundleResources, proof }
}

export interface VerifyRecordsParams {
  /** The pointer's query fields, as read from this node's chain. */
  fields: readonly string[]
  /** The records received (already projected by the gatekeeper). */
  resources: readonly unknown[]
  /** Indexes of the fields the reply claims to carry. */
  granted: readonly number[]
  proof: unknown
  /** The pointer's dataHash, as read from this node's chain. */
  dataHash: string
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Receiver side: true when the records, the salts of the granted fields and the commitments of
 * the withheld ones hash to `dataHash`. False (never a throw) for anything else: a changed,
 * added or removed record, a granted field without its salt, a proof entry too many or too few,
 * or a record carrying data outside the granted fields (it would not be covered by the hash).
 */
export function verifyRecords(p: VerifyRecordsParams): boolean {
  try {
    const { fields, granted } = p
    checkGranted(granted, fields.length)
    if (!BYTES32.test(p.dataHash)) return false
    if (!isPlainRecord(p.proof)) return false
    const proof = p.proof
    if (Object.keys(proof).length !== 2 || !isPlainRecord(proof.salts) || !isPlainRecord(proof.commitments)) return false
    const salts = proof.salts
    const commitments = proof.commitments
    const grantedSet = new Set(granted)
    const expectSalts = fields.map((_, i) => String(i)).filter((k) => grantedSet.has(Number(k)))
    const expectCommitments = fields.map((_, i) => String(i)).filter((k) => !grantedSet.has(Number(k)))
    if (!sameKeys(salts, expectSalts) || !sameKeys(commitments, expectCommitments)) return false

    if (!Array.isArray(p.resources)) return false
    if (granted.length === 0 && p.resources.length > 0) return false
    const resources: FhirResource[] = []
    const paths = [...grantedSet].sort((a, b) => a - b).map((i) => fields[i]!)
    for (const r of p.resources) {
      if (!isPlainRecord(r) || typeof r.id !== 'string' || typeof r.resourceType !== 'string') return false
      const resource = r as FhirResource
      // Everything delivered must be inside the granted fields, else the hash would not cover it.
      if (canonicalJson(project(resource, paths)) !== canonicalJson(resource)) return false
      resources.push(resource)
    }

    const all: Uint8Array[] = []
    for (let i = 0; i < fields.length; i++) {
      const key = String(i)
      if (grantedSet.has(i)) {
        const salt = salts[key]
        if (typeof salt !== 'string' || !BYTES32.test(salt)) return false
        all.push(commitField(fromHex(salt), column(resources, fields[i]!)))
      } else {
        const c = commitments[key]
        if (typeof c !== 'string' || !BYTES32.test(c)) return false
        all.push(fromHex(c))
      }
    }
    return dataHash(all) === p.dataHash.toLowerCase()
  } catch {
    return false
  }
}

function sameKeys(o: Record<string, unknown>, expected: readonly string[]): boolean {
  const keys = Object.keys(o)
  return keys.length === expected.length && expected.every((k) => Object.hasOwn(o, k))
}
