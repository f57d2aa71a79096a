import type { Address } from 'viem'
import { fieldMask, type RecordQuery } from '../../contracts/client/index.ts'
import { createLogger } from '../../common/index.ts'
import type { ChainReads } from '../chain-reads.ts'
import { isGatekeeperError } from '../errors.ts'
import { servableRecordQuery } from '../grammar.ts'
import type { FhirPrincipal } from './principal.ts'

const log = createLogger('gatekeeper:fhir')

/**
 * What a principal may read, decided from chain state at the head on every request (never from
 * the token): in each of the token's relationships that points to the launch patient and is
 * served here, the pointers `canRead` lets the identity read, with the fields. The patient and the
 * provider read every field of every pointer; a viewer the fields of its grant, while the grant is
 * active and unexpired by the wall clock (canRead judges expiry by the head block's timestamp,
 * which may lag) and the relationship is not terminated.
 */

export interface ReadablePointer {
  pointerId: number
  query: RecordQuery
  /** Indexes of the query's fields the identity may read. */
  fields: number[]
  /** Their paths, for projection. */
  paths: string[]
  /** 0x mask of `fields`, for the audit entry. */
  mask: string
  /** The pointer's version and hash at the head (a staged update is settled against them). */
  onChain: { version: number; dataHash: string }
}

export interface ReadableRelationship {
  relationship: string
  /** The serving account: its audit chain gets the entry. */
  provider: Address
  /** The relationship's patient (chain identity). */
  patient: Address
  patientId: string
  pointers: ReadablePointer[]
}

/** At most this many relationships of one token are looked at (a token is issued for a handful). */
const MAX_RELATIONSHIPS = 64
/** A pointer's fieldCount is a uint8, and a relationship's pointers are few; more are not served over FHIR. */
const MAX_POINTERS = 256

export function createReadableReader(modules: { chain: ChainReads; now: () => number }) {
  const { chain, now } = modules

  /** The token's relationships that are the launch patient's and served here (the audit chains a refusal is written to). */
  async function relationshipsOf(p: FhirPrincipal): Promise<{ relationship: string; provider: Address; patientId: string; ppr: Awaited<ReturnType<ChainReads['served']>>['ppr'] }[]> {
    const out = []
    for (const rel of [...new Set(p.relationships.map((r) => r.toLowerCase()))].slice(0, MAX_RELATIONSHIPS)) {
      try {
        const s = await chain.served(rel)
        // A relationship of another local patient never serves this token, whatever it says.
        if (s.patientId !== p.patient) continue
        out.push({ relationship: rel, provider: s.provider, patientId: s.patientId, ppr: s.ppr })
      } catch (err) {
        if (!isGatekeeperError(err)) throw err
      }
    }
    return out
  }

  async function readable(p: FhirPrincipal): Promise<{ served: ReadableRelationship[]; considered: { relationship: string; provider: Address }[] }> {
    const identity = p.identity.toLowerCase() as Address
    const rels = await relationshipsOf(p)
    const served: ReadableRelationship[] = []
    for (const { relationship: rel, provider, patientId, ppr } of rels) {
      const patient = await chain.atHead(`patient:${rel}`, () => ppr.patient())
      const party = identity === patient.toLowerCase() || identity === provider.toLowerCase()
      let items: Map<number, number[]> | undefined
      if (!party) {
        const grant = await chain.atHead(`grant:${rel}:${identity}`, () => ppr.grantOf(identity))
        if (!grant.active || (grant.expiresAt !== 0 && now() >= grant.expiresAt)) continue
        items = new Map(grant.items.map((i) => [i.pointerId, i.fields]))
      }
      const count = Math.min(MAX_POINTERS, await chain.atHead(`pointerCount:${rel}`, () => ppr.pointerCount()))
      const pointers: ReadablePointer[] = []
      for (let pointerId = 0; pointerId < count; pointerId++) {
        if (items !== undefined && !items.has(pointerId)) continue
        const pointer = await chain.atHead(`pointer:${rel}:${pointerId}`, () => ppr.pointer(pointerId))
        let query: RecordQuery
        try {
          query = servableRecordQuery(pointer.query, rel, pointerId).query
        } catch (err) {
          log.warn('A pointer outside the query grammar is not served', { relationship: rel, pointerId }, err)
          continue
        }
        const all = query.fields.map((_, i) => i)
        const fields = items === undefined ? all : [...new Set(items.get(pointerId)!)].filter((f) => f < query.fields.length).sort((a, b) => a - b)
        if (fields.length === 0) continue
        const mask = fieldMask(fields)
        if (!(await chain.atHead(`canRead:${rel}:${identity}:${pointerId}:${mask}`, () => ppr.canRead(identity, pointerId, fields)))) continue
        pointers.push({ pointerId, query, fields, paths: fields.map((f) => query.fields[f]!), mask: `0x${mask.toString(16)}`, onChain: { version: pointer.version, dataHash: pointer.dataHash } })
      }
      if (pointers.length > 0) served.push({ relationship: rel, provider, patient, patientId, pointers })
    }
    return { served, considered: rels.map((r) => ({ relationship: r.relationship, provider: r.provider })) }
  }

  return { readable, relationshipsOf }
}
