import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite'
import { RESOURCE_TYPES, type BountyQuery, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { ImportResult } from '../api.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from '../errors.ts'
import type { AggregateCell, FhirResource, RecordSource } from '../types.ts'
import { planAggregate, type CohortCell } from './aggregate.ts'
import { openReader, openWriter } from './connections.ts'
import { csvEntries, type ImportEntry as Entry } from './csv-resources.ts'
import { extractRow } from './extract.ts'
import { FHIR_ID_RE, checkJson, invalid, isPlainObject, isWellFormed, optDate, optObject, optString, patientIdOfReference } from './fhir.ts'
import { TABLES, migrate, tableOf, type TableSpec } from './schema.ts'
import { recordFilter } from './search.ts'
import { createStagingTable, type StagedRecords, type StagedBatch } from './staging.ts'

const log = createLogger('gatekeeper:db')

/**
 * The default provider database: one SQLite file (node:sqlite) with the schema of schema.ts.
 * Writes (upsert, imports) go through a writable connection, one transaction per call; reads
 * (query, aggregate, hasPatient, lookups) through a second connection opened read-only, so
 * nothing a request triggers can change the records even if a query were mis-built.
 */

export interface SqliteRecordStoreOptions {
  /** The database file (created with its folder when missing). A file, not ':memory:': two connections share it. */
  path: string
}

export interface UpsertOptions {
  /** Patient only: the MedRec identity to index (else Patient.identifier with system urn:medrec:identity). */
  identity?: string
}

export interface BundleImportOptions {
  /** Skip entries of resource types this database does not store (counted in `skipped`) instead of refusing the bundle. */
  skipUnsupported?: boolean
}

export type BundleImportResult = ImportResult & { skipped: Record<string, number> }

export interface SqliteRecordStore extends RecordSource {
  readonly path: string
  /** Inserts or replaces one resource. Throws INVALID_IMPORT naming the problem. */
  upsert(resource: FhirResource, opts?: UpsertOptions): void
  /** A FHIR Bundle (collection, transaction or searchset), all or nothing. */
  importBundle(bundle: unknown, opts?: BundleImportOptions): BundleImportResult
  /** CSV text with a header row (columns: CSV_COLUMNS), all or nothing. */
  importCsv(resourceType: string, csvText: string): ImportResult
  /** Stores a Patient with its MedRec identity (upsert with `{ identity }`). */
  upsertPatient(resource: FhirResource, identity: string): void
  /** The Patient resource with a MedRec identity. */
  patientByIdentity(identity: string): FhirResource | undefined
  /** The MedRec identity of a local patient. */
  identityOf(patientId: string): string | undefined
  /** hasPatient without the Promise, for the provider's own flows. */
  hasPatientSync(patientId: string): boolean
  patientCount(): number
  /** How many resources are stored (of one type, or all). */
  resourceCount(resourceType?: ResourceType): number
  /** `aggregate` with each cell's patient ids, in one read (bounty releases compare cohorts). */
  aggregateWithCohorts(q: BountyQuery): Promise<CohortCell[]>
  /**
   * What `query` would return with `resources` upserted, validated as upsert validates them;
   * nothing is written (the provider hashes a new version before the chain has it).
   */
  preview(resources: readonly FhirResource[], patientId: string, q: RecordQuery): FhirResource[]
  /** Upserts several resources in one transaction. */
  upsertAll(resources: readonly FhirResource[]): void
  /** Keeps `batch` aside (durably, not served) until the chain names its hash: its id. */
  stage(batch: StagedRecords): number
  /** The batches kept aside for one pointer. */
  staged(relationship: string, pointerId: number): StagedBatch[]
  /** Upserts a staged batch's resources and forgets the batch, in one transaction; false when it is gone already. */
  promote(id: number): boolean
  discard(id: number): void
}

function internal(message: string, err: unknown, context?: Record<string, unknown>): GatekeeperError {
  return new GatekeeperError(GatekeeperErrorCode.INTERNAL, `${message}: ${errorMessage(err)}`, context, err)
}

function unsupported(message: string): never {
  throw new GatekeeperError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, message)
}

/** A record query as SQL: the text (constants and placeholders only) and its bound values. */
interface PlannedQuery {
  sql: string
  params: SQLInputValue[]
}

// Every served read plans its pointers' queries: a deep-frozen query (grammar.ts shares each stored
// query so) cannot change, so its grammar check and SQL are kept with it; anything else is planned anew.
const plans = new WeakMap<object, PlannedQuery>()

function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true
  return Object.isFrozen(v) && Object.values(v).every(deepFrozen)
}

function planQuery(q: RecordQuery): PlannedQuery {
  if (!isPlainObject(q)) unsupported('a record query must be an object such as {"resourceType":"Observation","fields":["code"]}')
  const known = plans.get(q)
  if (known !== undefined) return known
  const spec = tableOf(q.resourceType) ?? unsupported(`resource type ${JSON.stringify(q.resourceType)} is not stored by this database; supported: ${RESOURCE_TYPES.join(', ')}`)
  const { where } = recordFilter(spec, q)
  // The patient scope comes first and is always there: a search can only narrow it.
  const plan = { sql: `SELECT resource FROM ${spec.table} r WHERE r.patient_id = ?${where.map((c) => ` AND ${c.sql}`).join('')} ORDER BY r.id`, params: where.flatMap((c) => c.params) }
  if (deepFrozen(q)) plans.set(q, plan)
  return plan
}

/** Per connection, its record queries' statements by SQL text (built from constants, so there are few): prepared once. */
const statementsOf = new WeakMap<DatabaseSync, Map<string, StatementSync>>()
const MAX_STATEMENTS = 256

function prepared(db: DatabaseSync, sql: string): StatementSync {
  let cache = statementsOf.get(db)
  if (cache === undefined) statementsOf.set(db, (cache = new Map()))
  let st = cache.get(sql)
  if (st === undefined) {
    if (cache.size >= MAX_STATEMENTS) cache.clear()
    cache.set(sql, (st = db.prepare(sql)))
  }
  return st
}

/** A record query on one connection: the reader's for requests, the writer's for a preview. */
function runQuery(db: DatabaseSync, patientId: string, q: RecordQuery): FhirResource[] {
  if (typeof patientId !== 'string') throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a record query needs a patient id string')
  const { sql, params } = planQuery(q)
  return prepared(db, sql)
    .all(patientId, ...params)
    .map((row) => JSON.parse(String(row.resource)) as FhirResource)
}

export function createSqliteRecordStore(opts: SqliteRecordStoreOptions): SqliteRecordStore {
  const { path } = opts
  if (typeof path !== 'string' || path === '' || path === ':memory:' || path.startsWith('file:')) {
    throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the record store needs a database file path, got ${JSON.stringify(path)}: reads use a second, read-only connection to the same file`, { path })
  }
  let writer: DatabaseSync | undefined
  let reader: DatabaseSync | undefined
  try {
    writer = openWriter(path)
    migrate(writer, path)
    reader = openReader(path)
  } catch (err) {
    reader?.close()
    writer?.close()
    throw isGatekeeperError(err) ? err : internal(`cannot open the record database ${path}`, err, { path })
  }
  const w = writer
  const r = reader
  let closed = false
  const staging = createStagingTable(w)

  const statements = new Map<string, StatementSync>()
  /** Fixed statements only (their SQL is built from constants); search SQL is prepared per call. */
  function stmt(sql: string): StatementSync {
    let s = statements.get(sql)
    if (s === undefined) statements.set(sql, (s = w.prepare(sql)))
    return s
  }

  function ensureOpen(): void {
    if (closed) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the record database ${path} is closed`)
  }

  function transaction<T>(fn: () => T): T {
    if (w.isTransaction) return fn()
    w.exec('BEGIN IMMEDIATE')
    try {
      const out = fn()
      w.exec('COMMIT')
      return out
    } catch (err) {
      w.exec('ROLLBACK')
      throw err
    }
  }

  function upsertSql(spec: TableSpec): string {
    const cols = ['id', 'patient_id', 'resource', 'last_updated', ...spec.columns.map((c) => c.name)]
    const updates = cols.slice(1).map((c) => (c === 'identity' ? 'identity = COALESCE(excluded.identity, identity)' : `${c} = excluded.${c}`))
    return `INSERT INTO ${spec.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ON CONFLICT(id) DO UPDATE SET ${updates.join(', ')}`
  }

  /** The Patient id a non-Patient resource belongs to, from subject.reference or patient.reference. */
  function patientOf(resource: Record<string, unknown>, type: string): string {
    const refs = ['subject', 'patient']
      .map((key) => {
        const o = optObject(resource, key, type)
        return o === undefined ? undefined : optString(o, 'reference', `${type}.${key}`)
      })
      .filter((x): x is string => x !== undefined)
    if (refs.length === 0) invalid(`${type} names no patient: set subject.reference (patient.reference for Immunization) to "Patient/<id>"`)
    if (refs.length === 2 && refs[0] !== refs[1]) invalid(`${type} names two different patients (subject ${JSON.stringify(refs[0])}, patient ${JSON.stringify(refs[1])})`)
    const id = patientIdOfReference(refs[0]!)
    if (id === undefined) invalid(`${type} references ${JSON.stringify(refs[0]!.slice(0, 80))}; the patient reference must be "Patient/<id>" with a FHIR id`)
    return id
  }

  function upsertOne(input: unknown, identityOpt: string | undefined): FhirResource {
    if (!isPlainObject(input)) invalid('a resource must be a FHIR resource object such as {"resourceType":"Observation","id":"bp-1",...}')
    const spec = tableOf(input.resourceType)
    if (spec === undefined) invalid(`resourceType ${JSON.stringify(input.resourceType)} is not stored by this database; supported: ${RESOURCE_TYPES.join(', ')}`)
    const type = spec.resourceType
    const id = input.id
    if (typeof id !== 'string' || !FHIR_ID_RE.test(id)) invalid(`${type}.id must be a FHIR id (letters, digits, '-' and '.', 1 to 64 characters), got ${JSON.stringify(typeof id === 'string' ? id.slice(0, 80) : id)}`)
    checkJson(input, type)
    const resource = input as FhirResource

    let patientId = id
    if (type !== 'Patient') {
      patientId = patientOf(resource, type)
      if (stmt('SELECT 1 FROM patient WHERE id = ?').get(patientId) === undefined) {
        invalid(`${type}/${id} references Patient/${patientId}, which is not stored; store the Patient first (or put it in the same bundle)`, { patientId })
      }
    }
    const row = extractRow(type, resource, type)
    const meta = optObject(resource, 'meta', type)
    const lastUpdated = (meta === undefined ? undefined : optDate(meta, 'lastUpdated', `${type}.meta`)?.start) ?? Date.now()

    if (identityOpt !== undefined && row.identity !== undefined && identityOpt !== row.identity) {
      invalid(`Patient/${id} carries the MedRec identity ${JSON.stringify(row.identity.slice(0, 80))} in its identifier but is stored as ${JSON.stringify(String(identityOpt).slice(0, 80))}; make them agree`)
    }
    const identity = identityOpt ?? row.identity
    if (identity !== undefined) {
      if (type !== 'Patient') invalid(`only a Patient has a MedRec identity, not ${type}`)
      if (typeof identity !== 'string' || identity === '' || !isWellFormed(identity)) invalid('a MedRec identity must be a non-empty, well-formed string')
      const other = stmt('SELECT id FROM patient WHERE identity = ? AND id <> ?').get(identity, id)
      if (other !== undefined) invalid(`the MedRec identity is already that of Patient/${String(other.id)}; an identity names one patient`, { patientId: String(other.id) })
      row.columns.identity = identity
    }

    const values: SQLInputValue[] = [id, patientId, JSON.stringify(resource), lastUpdated, ...spec.columns.map((c) => row.columns[c.name] ?? null)]
    stmt(upsertSql(spec)).run(...values)
    stmt('DELETE FROM search_token WHERE resource_type = ? AND resource_id = ?').run(type, id)
    const insertToken = stmt('INSERT INTO search_token (resource_type, resource_id, param, system, code) VALUES (?, ?, ?, ?, ?)')
    for (const t of row.tokens) insertToken.run(type, id, t.param, t.system, t.code)
    return resource
  }

  /** Upserts entries in one transaction; the first failure rolls all back and names its entry. */
  function importEntries(entries: Entry[], what: string): ImportResult {
    const byType: Record<string, number> = {}
    transaction(() => {
      for (const e of entries) {
        try {
          upsertOne(e.resource, undefined)
        } catch (err) {
          const message = `${e.where}: ${isGatekeeperError(err) ? err.message : errorMessage(err)}; nothing was imported`
          const code = isGatekeeperError(err) ? err.code : GatekeeperErrorCode.INTERNAL
          throw new GatekeeperError(code, message, { ...e.context, ...(isGatekeeperError(err) ? err.context : {}) }, err)
        }
        byType[e.resource.resourceType] = (byType[e.resource.resourceType] ?? 0) + 1
      }
    })
    log.info(`Imported ${what}`, { imported: entries.length, ...byType })
    return { imported: entries.length, byType }
  }

  function rejectDuplicates(entries: Entry[]): void {
    const seen = new Map<string, string>()
    for (const e of entries) {
      const key = `${e.resource.resourceType}/${e.resource.id}`
      const first = seen.get(key)
      if (first !== undefined) invalid(`${e.where} repeats ${key} (already in ${first}); nothing was imported`, e.context)
      seen.set(key, e.where)
    }
  }

  function bundleEntries(bundle: unknown, opts: BundleImportOptions): { entries: Entry[]; skipped: Record<string, number> } {
    if (!isPlainObject(bundle) || bundle.resourceType !== 'Bundle') invalid('expected a FHIR Bundle: an object with "resourceType": "Bundle"')
    const type = bundle.type
    if (type !== 'collection' && type !== 'transaction' && type !== 'searchset') {
      invalid(`Bundle.type ${JSON.stringify(type)} is not importable; use collection, transaction or searchset (imports are all or nothing)`)
    }
    const raw = bundle.entry ?? []
    if (!Array.isArray(raw)) invalid('Bundle.entry must be an array')
    const skipped: Record<string, number> = {}
    const entries: Entry[] = []
    /** fullUrl → `Type/id`, so urn:uuid references between entries resolve. */
    const byFullUrl = new Map<string, string>()
    raw.forEach((entry: unknown, index: number) => {
      const at = `bundle entry ${index}`
      const context = { entry: index }
      if (!isPlainObject(entry) || !isPlainObject(entry.resource)) invalid(`${at} has no resource object; nothing was imported`, context)
      const res = entry.resource
      const rt = res.resourceType
      if (tableOf(rt) === undefined) {
        if (opts.skipUnsupported === true && typeof rt === 'string') {
          skipped[rt] = (skipped[rt] ?? 0) + 1
          return
        }
        invalid(`${at}: resourceType ${JSON.stringify(rt)} is not stored by this database (supported: ${RESOURCE_TYPES.join(', ')}); remove the entry or import with skipUnsupported; nothing was imported`, context)
      }
      if (type === 'transaction') {
        const method = isPlainObject(entry.request) ? entry.request.method : undefined
        if (method !== 'POST' && method !== 'PUT') invalid(`${at}: transaction entries must be POST or PUT, got ${JSON.stringify(method)}; nothing was imported`, context)
      }
      const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined
      let resource = res as FhirResource
      // A POSTed resource may have no id yet; its urn:uuid fullUrl is the natural one.
      if (res.id === undefined && fullUrl?.startsWith('urn:uuid:') === true) resource = { ...resource, id: fullUrl.slice('urn:uuid:'.length) }
      const where = `${at} (${String(rt)}/${typeof resource.id === 'string' ? resource.id.slice(0, 64) : '?'})`
      if (fullUrl !== undefined && typeof resource.id === 'string') byFullUrl.set(fullUrl, `${String(rt)}/${resource.id}`)
      entries.push({ where, resource, context })
    })
    for (const e of entries) {
      if (e.resource.resourceType === 'Patient') continue
      for (const key of ['subject', 'patient']) {
        const ref = e.resource[key]
        if (!isPlainObject(ref) || typeof ref.reference !== 'string') continue
        const target = byFullUrl.get(ref.reference)
        if (target === undefined) continue
        if (!target.startsWith('Patient/')) invalid(`${e.where}: ${key} refers to ${target}, not to a Patient; nothing was imported`, e.context)
        // Stored with the local form, as a FHIR server resolves a transaction's references.
        e.resource = { ...e.resource, [key]: { ...ref, reference: target } }
      }
    }
    // Patients first, so resources may come before their Patient in the bundle.
    return { entries: [...entries.filter((e) => e.resource.resourceType === 'Patient'), ...entries.filter((e) => e.resource.resourceType !== 'Patient')], skipped }
  }

  function csvEntriesOf(resourceType: string, csvText: string): Entry[] {
    const spec = tableOf(resourceType)
    if (spec === undefined) invalid(`CSV import: resource type ${JSON.stringify(resourceType)} is not stored by this database; supported: ${RESOURCE_TYPES.join(', ')}`)
    return csvEntries(spec.resourceType, csvText)
  }

  function read<T>(what: string, fn: () => T): T {
    ensureOpen()
    try {
      return fn()
    } catch (err) {
      throw isGatekeeperError(err) ? err : internal(`the record database could not ${what}`, err)
    }
  }

  function hasPatientSync(patientId: string): boolean {
    return read('look up a patient', () => typeof patientId === 'string' && r.prepare('SELECT 1 FROM patient WHERE id = ?').get(patientId) !== undefined)
  }

  return {
    path,

    upsert(resource, upsertOpts) {
      ensureOpen()
      transaction(() => upsertOne(resource, upsertOpts?.identity))
    },

    importBundle(bundle, importOpts = {}) {
      ensureOpen()
      const { entries, skipped } = bundleEntries(bundle, importOpts)
      rejectDuplicates(entries)
      return { ...importEntries(entries, 'FHIR bundle'), skipped }
    },

    importCsv(resourceType, csvText) {
      ensureOpen()
      const entries = csvEntriesOf(resourceType, csvText)
      rejectDuplicates(entries)
      return importEntries(entries, `${resourceType} CSV`)
    },

    upsertPatient(resource, identity) {
      ensureOpen()
      if (!isPlainObject(resource) || resource.resourceType !== 'Patient') invalid(`upsertPatient takes a FHIR Patient, got ${JSON.stringify(isPlainObject(resource) ? resource.resourceType : typeof resource)}`)
      transaction(() => upsertOne(resource, identity))
    },

    patientByIdentity(identity) {
      return read('look up an identity', () => {
        if (typeof identity !== 'string') return undefined
        const row = r.prepare('SELECT resource FROM patient WHERE identity = ?').get(identity)
        return row === undefined ? undefined : (JSON.parse(String(row.resource)) as FhirResource)
      })
    },

    identityOf(patientId) {
      return read('look up an identity', () => {
        // As a BLOB: node:sqlite would cut a text value at an embedded NUL.
        const row = r.prepare('SELECT CAST(identity AS BLOB) AS identity FROM patient WHERE id = ?').get(patientId)
        const v = row?.identity
        return v instanceof Uint8Array ? new TextDecoder().decode(v) : undefined
      })
    },

    hasPatientSync,

    patientCount() {
      return read('count patients', () => Number(r.prepare('SELECT COUNT(*) AS n FROM patient').get()!.n))
    },

    resourceCount(resourceType) {
      return read('count resources', () => {
        const specs = resourceType === undefined ? Object.values(TABLES) : [tableOf(resourceType) ?? unsupported(`resource type ${JSON.stringify(resourceType)} is not stored by this database`)]
        return specs.reduce((sum, s) => sum + Number(r.prepare(`SELECT COUNT(*) AS n FROM ${s.table}`).get()!.n), 0)
      })
    },

    async query(patientId: string, q: RecordQuery): Promise<FhirResource[]> {
      return read('run a record query', () => runQuery(r, patientId, q))
    },

    preview(resources, patientId, q) {
      ensureOpen()
      // Applied and read back on the writer connection inside a transaction that is always rolled back.
      w.exec('BEGIN IMMEDIATE')
      try {
        for (const res of resources) upsertOne(res, undefined)
        return runQuery(w, patientId, q)
      } finally {
        w.exec('ROLLBACK')
      }
    },

    upsertAll(resources) {
      ensureOpen()
      transaction(() => {
        for (const res of resources) upsertOne(res, undefined)
      })
    },

    stage(batch) {
      ensureOpen()
      return staging.add(batch)
    },

    staged(relationship, pointerId) {
      return read('read staged records', () => staging.of(relationship, pointerId))
    },

    promote(id) {
      ensureOpen()
      return transaction(() => {
        const batch = staging.get(id)
        if (batch === undefined) return false
        for (const res of batch.resources) upsertOne(res, undefined)
        staging.remove(id)
        return true
      })
    },

    discard(id) {
      ensureOpen()
      staging.remove(id)
    },

    async hasPatient(patientId: string): Promise<boolean> {
      return hasPatientSync(patientId)
    },

    async aggregate(q: BountyQuery): Promise<AggregateCell[]> {
      return read('compute an aggregate', () => {
        const plan = planAggregate(q)
        return r
          .prepare(plan.sql)
          .all(...plan.params)
          .map((row) => plan.cell(row))
      })
    },

    async aggregateWithCohorts(q: BountyQuery): Promise<CohortCell[]> {
      return read('compute an aggregate', () => {
        const plan = planAggregate(q, { withCohorts: true })
        return r
          .prepare(plan.sql)
          .all(...plan.params)
          .map((row) => ({ cell: plan.cell(row), patientIds: plan.cohort(row) }))
      })
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      statements.clear()
      r.close()
      w.close()
    },
  }
}
