import type { Address } from 'viem'
import { parseRecordQuery, type MedRecClient } from '../../contracts/client/index.ts'
import type { RelationshipMap } from '../state.ts'

/**
 * What the chain lets an identity read at this gatekeeper, at the head: the relationships it
 * serves in which the identity is the patient, or a viewer with an active, unexpired grant, and
 * the resource types of the pointers it may read in each. A token's scope is narrowed to this at
 * issue; every FHIR request is decided again from the chain by the API itself.
 */

export interface ReadableRelationship {
  relationship: string
  /** The serving account (the authority's or a delegate's): its audit chain is the one the patient reads. */
  provider: Address
  /** The relationship's patient (chain identity). */
  patient: Address
  role: 'patient' | 'viewer'
  resourceTypes: string[]
}

export interface ReadablePatient {
  /** The provider's local patient id (the FHIR Patient id). */
  patientId: string
  relationships: ReadableRelationship[]
  resourceTypes: string[]
}

export interface AccessModules {
  client: MedRecClient
  relationships: RelationshipMap
  /** Whether this gatekeeper serves as `address` (its authority account or one of its delegates). */
  ours(address: string): boolean
  /** Unix seconds (grant expiry is judged by the wall clock, as serve.ts does). */
  now(): number
}

/** At most this many relationships are looked at for one sign-in (an identity with a Summary: its entries; else the served ones). */
const MAX_CANDIDATES = 5000

export function createAccessReader(m: AccessModules) {
  const { client, relationships } = m

  /** The relationships to examine: the identity's Summary entries served here, or (no Summary: an unregistered viewer) every served one. */
  async function candidates(identity: Address): Promise<string[]> {
    const summary = await client.registrar.summaryOf(identity)
    if (summary === undefined) return relationships.all().slice(0, MAX_CANDIDATES).map((r) => r.relationship)
    const out: string[] = []
    const s = client.summary(summary)
    for (let offset = 0; offset < MAX_CANDIDATES; offset += 200) {
      const page = await s.entries({ offset, limit: 200 })
      for (const e of page) if (relationships.get(e.relationship) !== undefined) out.push(e.relationship.toLowerCase())
      if (page.length < 200) break
    }
    return out
  }

  async function typeOf(ppr: ReturnType<MedRecClient['relationship']>, pointerId: number): Promise<string | undefined> {
    try {
      return parseRecordQuery((await ppr.pointer(pointerId)).query).query.resourceType
    } catch {
      return undefined // a pointer whose query is not servable is never served, so it grants nothing
    }
  }

  async function one(identity: Address, rel: string): Promise<ReadableRelationship | undefined> {
    const ppr = client.relationship(rel)
    if (!(await client.relationships.isRelationship(rel))) return undefined
    const provider = await ppr.provider()
    if (!m.ours(provider)) return undefined
    const patient = await ppr.patient()
    const types = new Set<string>()
    if (patient.toLowerCase() === identity.toLowerCase()) {
      for (const p of await ppr.pointers({ limit: 1000 })) {
        if (p.fieldCount === 0 || !(await ppr.canRead(identity, p.pointerId, Array.from({ length: p.fieldCount }, (_, i) => i)))) continue
        const t = await typeOf(ppr, p.pointerId)
        if (t !== undefined) types.add(t)
      }
      return types.size === 0 ? undefined : { relationship: rel, provider, patient, role: 'patient', resourceTypes: [...types].sort() }
    }
    const grant = await ppr.grantOf(identity)
    if (!grant.active || (grant.expiresAt !== 0 && m.now() >= grant.expiresAt)) return undefined
    for (const item of grant.items) {
      if (item.fields.length === 0 || !(await ppr.canRead(identity, item.pointerId, item.fields))) continue
      const t = await typeOf(ppr, item.pointerId)
      if (t !== undefined) types.add(t)
    }
    return types.size === 0 ? undefined : { relationship: rel, provider, patient, role: 'viewer', resourceTypes: [...types].sort() }
  }

  return {
    /** Every patient here whose records `identity` may read now, with what it may read; [] when none. */
    async readableBy(identity: Address): Promise<ReadablePatient[]> {
      const byPatient = new Map<string, ReadablePatient>()
      for (const rel of await candidates(identity)) {
        const r = await one(identity, rel).catch(() => undefined)
        if (r === undefined) continue
        const patientId = relationships.get(rel)!
        const p = byPatient.get(patientId) ?? { patientId, relationships: [], resourceTypes: [] }
        p.relationships.push(r)
        p.resourceTypes = [...new Set([...p.resourceTypes, ...r.resourceTypes])].sort()
        byPatient.set(patientId, p)
      }
      return [...byPatient.values()]
    },
  }
}

export type AccessReader = ReturnType<typeof createAccessReader>
