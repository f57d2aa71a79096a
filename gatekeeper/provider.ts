import { getAddress, type Address, type Hex } from 'viem'
import { bountyQuery as checkBounty, randomSalt, recordQuery as checkRecordQuery, type BountyQuery, type MedRecClient, type RecordQuery } from '../contracts/client/index.ts'
import type { AddPatientParams, AddPatientResult, AddRecordParams, AddRecordResult, ApproveParams, ApproveResult, ConsentRequest, ImportParams, ImportResult, RequireConsentParams, UpdateParams, UpdateResult } from './api.ts'
import { commitRecords } from './commitment.ts'
import type { SqliteRecordStore } from './db/index.ts'
import type { DelegateAccounts } from './delegates/index.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from './errors.ts'
import { servableRecordQuery } from './grammar.ts'
import type { IdentityBook } from './identity-book.ts'
import { createPublisher, createUnstagedPublisher } from './publish.ts'
import type { RelationshipMap } from './state.ts'
import type { FhirResource } from './types.ts'

/** The fields a pointer lists when the provider names none: the clinically meaningful elements of each type. */
export const DEFAULT_FIELDS: Record<string, string[]> = {
  Patient: ['gender', 'birthDate'],
  Encounter: ['status', 'class', 'type', 'period'],
  Observation: ['status', 'category', 'code', 'effectiveDateTime', 'valueQuantity'],
  Condition: ['clinicalStatus', 'code', 'onsetDateTime'],
  MedicationRequest: ['status', 'medicationCodeableConcept', 'authoredOn', 'dosageInstruction'],
  Immunization: ['status', 'vaccineCode', 'occurrenceDateTime'],
  DocumentReference: ['status', 'type', 'date', 'description'],
}

export interface ProviderModules {
  client: MedRecClient
  store: SqliteRecordStore
  relationships: RelationshipMap
  secret: Uint8Array
  /** The endpoint new relationships record (gatekeeper URL or multiaddr). */
  endpoint(): string
  /** Per-relationship delegate accounts; absent: every relationship is the provider account's. */
  delegates?: DelegateAccounts
  /** The provider's own database (PostgreSQL), when the records live there rather than in `store`. */
  external?: ExternalRecords
}

/**
 * Records in the provider's own database: its patients exist there already (add-patient only
 * binds one to a MedRec identity, in the gatekeeper's state), and records are written into it at
 * once, not staged (see createUnstagedPublisher).
 */
export interface ExternalRecords {
  query(patientId: string, q: RecordQuery): Promise<FhirResource[]>
  hasPatient(patientId: string): Promise<boolean>
  /** Writes the records (all or nothing); they are served from then on. */
  write(resources: readonly FhirResource[]): Promise<void>
  identities: IdentityBook
}

/**
 * The provider's flows: registering a patient, adding records and keeping the pointers' hashes
 * on chain equal to what the gatekeeper will serve (the paper's Figure 2, steps 1–3).
 */
export function createProviderOps(modules: ProviderModules) {
  const { client, store, relationships, external } = modules
  // Records change only together with their hash on chain (publish.ts); the provider's own database is written directly.
  const { settle, publish } = external === undefined ? createPublisher(store) : createUnstagedPublisher()
  const hasPatient = (patientId: string): boolean | Promise<boolean> => external?.hasPatient(patientId) ?? store.hasPatientSync(patientId)
  const patientByIdentity = (identity: string): string | undefined => (external === undefined ? store.patientByIdentity(identity)?.id : external.identities.patientOf(identity))
  const identityOf = (patientId: string): string | undefined => (external === undefined ? store.identityOf(patientId) : external.identities.identityOf(patientId))
  /** The client that stewards `rel`: its delegate's, else the provider account's. */
  const clientOf = (rel: string): MedRecClient => modules.delegates?.ofRelationship(rel)?.client ?? client

  async function patientIdOf(p: { identity?: string; patientId?: string }): Promise<string> {
    if (p.patientId !== undefined) {
      if (!(await hasPatient(p.patientId))) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `no local patient ${JSON.stringify(p.patientId)}: add it with "medrec provider add-patient"`)
      return p.patientId
    }
    if (p.identity === undefined) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'name the patient by identity or patientId')
    const found = patientByIdentity(p.identity)
    if (found === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `no local patient with identity ${JSON.stringify(p.identity)}: add it with "medrec provider add-patient"`)
    return found
  }

  async function chainAddressOf(patientId: string): Promise<{ identity: string; address: Address }> {
    const identity = identityOf(patientId)
    if (identity === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `local patient ${patientId} has no MedRec identity: add it with "medrec provider add-patient"`)
    const resolved = await client.registrar.resolve(identity)
    if (resolved === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `identity ${JSON.stringify(identity)} is not registered on chain`)
    return { identity, address: resolved.participant }
  }

  /** The hash a pointer's query over the patient's records (with `adding` upserted, when given) commits to, at pointer version `version`. */
  async function hashAt(relationship: Address, pointerId: number, version: number, patientId: string, query: RecordQuery, adding?: readonly FhirResource[]): Promise<Hex> {
    // The provider's own database holds the added records already (written before the chain update).
    const resources = external !== undefined ? await external.query(patientId, query) : adding === undefined ? await store.query(patientId, query) : store.preview(adding, patientId, query)
    return commitRecords(modules.secret, relationship, pointerId, version, [...query.fields], resources).dataHash
  }

  /**
   * Hashes depend on the pointer version the update will create (current + 1), so one patient's
   * updates run one at a time: two in flight would both compute the same next version.
   */
  const locks = new Map<string, Promise<unknown>>()
  function serial<T>(patientId: string, fn: () => Promise<T>): Promise<T> {
    const run = (locks.get(patientId) ?? Promise.resolve()).then(fn)
    const tail = run.catch(() => undefined)
    locks.set(patientId, tail)
    void tail.then(() => {
      if (locks.get(patientId) === tail) locks.delete(patientId)
    })
    return run
  }

  function defaultBounty(resourceType: string): BountyQuery {
    return { resourceType: resourceType as BountyQuery['resourceType'], aggregate: 'count', groupBy: ['code'] }
  }

  async function update(p: UpdateParams): Promise<UpdateResult> {
    // Checked before any transaction: a bad bounty fails the call, not its fifth pointer.
    if (p.bounty !== undefined) checkBounty(p.bounty)
    const patients = p.identity !== undefined || p.patientId !== undefined ? [await patientIdOf(p)] : [...new Set(relationships.all().map((r) => r.patientId))]
    const out: UpdateResult = { updated: [], unchanged: 0 }
    for (const patientId of patients) await serial(patientId, () => updatePatient(patientId, p, out))
    return out
  }

  /** The patient's relationships that are not terminated, each with its pointers. */
  async function* liveRelationships(patientId: string) {
    for (const rel of relationships.ofPatient(patientId)) {
      const ppr = clientOf(rel).relationship(rel)
      if ((await ppr.info()).terminated) continue
      yield { rel: rel as Address, ppr, pointers: await ppr.pointers({ limit: 1000 }) }
    }
  }

  /** A pointer's stored query; one outside the grammar (a hand-made transaction) is never served, so it is reported and skipped. */
  function storedQuery(rel: Address, pointer: { pointerId: number; query: string }, out: UpdateResult): RecordQuery | undefined {
    try {
      return servableRecordQuery(pointer.query, rel, pointer.pointerId).query
    } catch (err) {
      if (!isGatekeeperError(err)) throw err
      out.outsideGrammar = [...(out.outsideGrammar ?? []), { relationship: rel, pointerId: pointer.pointerId, reason: err.message }]
      return undefined
    }
  }

  async function updatePatient(patientId: string, p: UpdateParams, out: UpdateResult): Promise<void> {
    for await (const { rel, ppr, pointers } of liveRelationships(patientId)) {
      for (const pointer of pointers) {
        const q = storedQuery(rel, pointer, out)
        if (q === undefined) continue
        settle(rel, pointer.pointerId, pointer) // a staged version the chain already holds is served first
        if ((await hashAt(rel, pointer.pointerId, pointer.version, patientId, q)) === pointer.dataHash) {
          out.unchanged++
          continue
        }
        const hash = await hashAt(rel, pointer.pointerId, pointer.version + 1, patientId, q)
        await modules.delegates?.ensureFunds(await ppr.provider())
        await ppr.updatePointer(pointer.pointerId, { dataHash: hash, bountyQuery: p.bounty ?? defaultBounty(q.resourceType) })
        out.updated.push({ relationship: rel, pointerId: pointer.pointerId, dataHash: hash })
      }
    }
  }

  /**
   * A relationship this gatekeeper serves, with the client that holds its provider key (its
   * delegate's, else the provider account's), checked against the chain: the node refuses before
   * any transaction what the chain would revert (a relationship it does not serve or hold the key
   * of, one that has ended).
   */
  async function stewarded(relationship: string) {
    const rel = relationship.toLowerCase()
    if (relationships.get(rel) === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `this gatekeeper does not serve relationship ${rel}: only the provider's own gatekeeper acts for it (see "medrec provider consent")`, { relationship: rel })
    const steward = clientOf(rel)
    const ppr = steward.relationship(rel)
    const info = await ppr.info()
    if (info.provider.toLowerCase() !== steward.address.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `relationship ${rel} is held by ${info.provider}, whose key this gatekeeper does not have`, { relationship: rel })
    if (info.terminated) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `relationship ${rel} has ended: nothing can be approved or changed on it`, { relationship: rel })
    return { rel: rel as Address, ppr, info }
  }

  /** The grants on `rel` (which requires consent) that wait for this provider's approval. */
  async function pendingOn(rel: Address, ppr: ReturnType<MedRecClient['relationship']>, patient: string, now: number): Promise<ConsentRequest[]> {
    const out: ConsentRequest[] = []
    for (const viewer of await ppr.viewers({ limit: 1000 })) {
      const g = await ppr.grantOf(viewer)
      if (!g.active || g.providerApproved || (g.expiresAt !== 0 && g.expiresAt <= now)) continue
      out.push({ relationship: rel, patient, viewer: viewer.toLowerCase(), grantId: g.grantId, grantedAt: g.grantedAt, expiresAt: g.expiresAt, items: g.items.map((i) => ({ pointerId: i.pointerId, fields: [...i.fields] })) })
    }
    return out
  }

  return {
    /** Grants waiting for this provider's consent, on every relationship it serves that requires consent. */
    async consentRequests(): Promise<ConsentRequest[]> {
      const now = Math.floor(Date.now() / 1000)
      const out: ConsentRequest[] = []
      for (const { relationship } of relationships.all()) {
        const ppr = clientOf(relationship).relationship(relationship)
        const info = await ppr.info()
        if (info.consentRequired && !info.terminated) out.push(...(await pendingOn(relationship as Address, ppr, info.patient.toLowerCase(), now)))
      }
      return out
    },

    /** Makes a patient's later (and waiting) shares on `relationship` need this provider's approval, or stops it. */
    async requireConsent(p: RequireConsentParams): Promise<{ relationship: string; required: boolean; transaction: string }> {
      const { rel, ppr, info } = await stewarded(p.relationship)
      await modules.delegates?.ensureFunds(info.provider)
      return { relationship: rel, required: p.required, transaction: (await ppr.setConsentRequired(p.required)).hash }
    },

    /**
     * The provider's half of a two-party grant (PatientProviderRelationship.approveGrant), for the
     * grant the caller saw: a grant the patient replaced since (a new grant id, perhaps wider)
     * is refused, so an approval never covers more than was shown.
     */
    async approve(p: ApproveParams): Promise<ApproveResult> {
      const { rel, ppr, info } = await stewarded(p.relationship)
      if (!info.consentRequired) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `relationship ${rel} does not require the provider's consent, so its grants need no approval (medrec_requireConsent turns it on)`, { relationship: rel })
      const g = await ppr.grantOf(p.viewer)
      if (!g.active) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${p.viewer} holds no active grant on ${rel}: nothing to approve`, { relationship: rel })
      if (g.grantId !== p.grantId) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `grant ${p.grantId} is not the grant ${p.viewer} holds on ${rel} now (grant ${g.grantId}: the patient replaced it, or it was never made): list the consent requests again and approve what the current grant shares`, { relationship: rel })
      if (g.providerApproved) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `grant ${g.grantId} to ${p.viewer} on ${rel} is approved already`, { relationship: rel })
      await modules.delegates?.ensureFunds(info.provider)
      const tx = await ppr.approveGrant(p.viewer, g.grantId)
      return { relationship: rel, viewer: p.viewer.toLowerCase(), grantId: g.grantId, transaction: tx.hash }
    },

    async addPatient(p: AddPatientParams): Promise<AddPatientResult> {
      if (typeof p.identity !== 'string' || p.identity.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'identity must be a non-empty string')
      let address: Address
      try {
        address = getAddress(p.address)
      } catch {
        throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `address must be a 0x account address, got ${JSON.stringify(p.address)}`)
      }
      if (external === undefined && p.patientId !== undefined) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'patientId names a patient of the provider\'s PostgreSQL database (--gatekeeper.records); with the embedded store, give the Patient resource (--patient FILE)')
      const resource: FhirResource = external !== undefined ? await externalPatient(external, p) : p.patient ?? store.patientByIdentity(p.identity) ?? { resourceType: 'Patient', id: `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}` }
      if (resource.resourceType !== 'Patient') throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `patient must be a FHIR Patient resource, got ${String(resource.resourceType)}`)
      let registered = false
      let resolved = await client.registrar.resolve(p.identity)
      if (resolved === undefined) {
        // With delegates, the authority that verifies this patient's delegate registers the
        // identity in the same job: registeredBy then names it, not this provider. The delegate
        // is kept for the patient's first relationship.
        const delegate = await modules.delegates?.acquire({ patientId: resource.id, register: { identity: p.identity, participant: address } })
        if (delegate !== undefined) modules.delegates!.release(delegate)
        else await client.registrar.registerIdentity(p.identity, address)
        registered = true
        resolved = await client.registrar.resolve(p.identity)
      }
      if (resolved === undefined || resolved.participant.toLowerCase() !== address.toLowerCase()) {
        throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `identity ${JSON.stringify(p.identity)} is registered to ${resolved?.participant}, not ${address}`)
      }
      if (external !== undefined) external.identities.bind(p.identity, resource.id)
      else store.upsertPatient(resource, p.identity)
      return { patientId: resource.id, identity: p.identity, address, summary: resolved.summary, registered }
    },

    async addRecord(p: AddRecordParams): Promise<AddRecordResult> {
      const patientId = await patientIdOf(p)
      return serial(patientId, () => addRecord(patientId, p))
    },
    update,
    async import(p: ImportParams): Promise<ImportResult> {
      let result: { imported: number; byType: Record<string, number> }
      if (p.bundle !== undefined) result = store.importBundle(p.bundle)
      else if (p.csv !== undefined && p.resourceType !== undefined) result = store.importCsv(p.resourceType, p.csv)
      else throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'give a FHIR bundle, or CSV text with its resourceType')
      return p.publish === true ? { ...result, update: await update({}) } : result
    },
  }

  /**
   * add-patient on the provider's own database names a patient it holds already (by the Patient's
   * id, or the identity bound before); the Patient body is not written: demographics are the
   * provider's systems' (or "medrec provider import"'s) to write, not a side effect of going on chain.
   */
  async function externalPatient(ext: ExternalRecords, p: AddPatientParams): Promise<FhirResource> {
    if (p.patient !== undefined) {
      const extra = Object.keys(p.patient).filter((k) => k !== 'resourceType' && k !== 'id')
      if (extra.length > 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `with a PostgreSQL record database, add-patient names an existing patient and writes no Patient data (got ${extra.join(', ')}): give its key alone as patientId (--patient-id ID), and write demographics with your own systems or "medrec provider import"`)
    }
    const id = p.patientId ?? p.patient?.id ?? ext.identities.patientOf(p.identity)
    if (typeof id !== 'string' || id.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'with a PostgreSQL record database, add-patient names an existing patient: give its key as patientId (--patient-id ID)')
    if (!(await ext.hasPatient(id))) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `the provider's PostgreSQL database has no patient ${JSON.stringify(id)}: add-patient puts an existing patient on chain; write the patient with your own systems or "medrec provider import" first`, { patientId: id })
    // Before any chain transaction: a patient or identity bound to another is refused without registering anything.
    ext.identities.check(p.identity, id)
    return { resourceType: 'Patient', id }
  }

  async function addRecord(patientId: string, p: AddRecordParams): Promise<AddRecordResult> {
    if (!Array.isArray(p.resources) || p.resources.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'resources must list at least one FHIR resource')
    if (p.resources.some((r) => r === null || typeof r !== 'object')) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'each resource must be a FHIR resource object')
    // The queries go on chain: checked by the query grammar before anything is stored or sent.
    const q = checkRecordQuery(p.query ?? { resourceType: p.resources[0]!.resourceType, fields: DEFAULT_FIELDS[p.resources[0]!.resourceType] ?? ['status'] })
    const bounty = checkBounty(p.bounty ?? defaultBounty(q.query.resourceType)).query
    const ref = `Patient/${patientId}`
    const resources = p.resources.map((r): FhirResource => {
      if (r.resourceType === 'Patient') throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'add-record takes clinical resources; the Patient itself is stored by add-patient')
      return r.resourceType === 'Immunization' ? { ...r, patient: { reference: ref } } : { ...r, subject: { reference: ref } }
    })
    // Nothing is stored yet: the records are served only once the chain holds their hash (publish).
    // Validated now, before any chain read or transaction.
    if (external === undefined) store.preview(resources, patientId, q.query)
    const { identity, address } = await chainAddressOf(patientId)
    // The provider's own database is written at once, no staging (createUnstagedPublisher says why); the hash below is over what it then holds.
    if (external !== undefined) await external.write(resources)
    const staged = (relationship: Address, pointerId: number, version: number, dataHash: Hex) => ({ patientId, relationship, pointerId, version, dataHash, resources })

    // The first live relationship holds the pointer: the same query gets a new hash, a new query a new pointer.
    for await (const { rel, ppr, pointers } of liveRelationships(patientId)) {
      const pointer = pointers.find((x) => x.query === q.json)
      // A delegate low on gas is topped up by its verifier first.
      await modules.delegates?.ensureFunds(await ppr.provider())
      if (pointer === undefined) {
        const hash = await hashAt(rel, pointers.length, 1, patientId, q.query, resources)
        const tx = await publish(staged(rel, pointers.length, 1, hash), () => ppr.addPointer({ query: q.query, dataHash: hash, bountyQuery: bounty }))
        return { relationship: rel, pointerId: tx.pointerId, dataHash: hash, action: 'added', transactions: [tx.hash] }
      }
      settle(rel, pointer.pointerId, pointer)
      const same = await hashAt(rel, pointer.pointerId, pointer.version, patientId, q.query, resources)
      if (same === pointer.dataHash) {
        // What the pointer serves does not change: the hash on chain stays right.
        if (external === undefined) store.upsertAll(resources)
        return { relationship: rel, pointerId: pointer.pointerId, dataHash: same, action: 'unchanged', transactions: [] }
      }
      const hash = await hashAt(rel, pointer.pointerId, pointer.version + 1, patientId, q.query, resources)
      const tx = await publish(staged(rel, pointer.pointerId, pointer.version + 1, hash), () => ppr.updatePointer(pointer.pointerId, { dataHash: hash, bountyQuery: bounty }))
      return { relationship: rel, pointerId: pointer.pointerId, dataHash: hash, action: 'updated', transactions: [tx.hash] }
    }

    // A new relationship: its CREATE2 address is known before it exists, so the hash (whose
    // salts depend on it) can go into the same back-to-back transactions.
    // By default the relationship is created by a fresh delegate account another authority verified,
    // so the chain does not name this provider as the patient's (see delegates/).
    const delegate = await modules.delegates?.acquire({ patientId })
    const steward = delegate?.client ?? client
    try {
      const salt = randomSalt()
      // A delegate's relationship records its verifier's endpoint, which relays to this gatekeeper
      // (delegates/relay.ts): this gatekeeper's own URL would name the provider.
      const endpoint = delegate !== undefined && delegate.relay !== '' ? delegate.relay : modules.endpoint()
      const relationship = (await steward.relationships.predictAddress(steward.address, address, endpoint, salt)).toLowerCase() as Address
      const hash = await hashAt(relationship, 0, 1, patientId, q.query, resources)
      relationships.set(relationship, patientId)
      if (delegate !== undefined) modules.delegates!.bind(delegate, relationship)
      const res = await publish(staged(relationship, 0, 1, hash), () => steward.addRecordForNewPatient({ identity, endpoint, salt, query: q.query, dataHash: hash, bountyQuery: bounty }))
      const t = res.transactions
      return { relationship, provider: steward.address, pointerId: res.pointerId, dataHash: hash, action: 'created', transactions: [t.create.hash, t.addPointer.hash, t.linkPatient.hash] }
    } catch (err) {
      if (delegate !== undefined) modules.delegates!.release(delegate)
      throw err
    }
  }
}

export type ProviderOps = ReturnType<typeof createProviderOps>
