import type { DatabaseSync } from 'node:sqlite'
import type { ResourceType } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * The record database's schema, modelled on FHIR R4. One table per resource type, each with
 *   id TEXT PRIMARY KEY, patient_id (the Patient it belongs to; a Patient's own id),
 *   resource (the full FHIR JSON, what reads return), last_updated (ms since epoch),
 * plus typed, indexed columns for the search parameters and groupBy fields of that type.
 * Codes of CodeableConcepts (which may carry several codings) are also kept one row per
 * coding in `search_token`, so a token search matches any coding, as FHIR says.
 *
 * Every table and column name used in SQL comes from the constants below, never from input:
 * a query names a FHIR search parameter or field, and this map turns it into a column.
 */

export const SCHEMA_VERSION = 1

export type ColumnType = 'TEXT' | 'INTEGER' | 'REAL'
export interface ColumnSpec {
  readonly name: string
  readonly type: ColumnType
}

/** How one FHIR search parameter is applied. Column names and SQL expressions are constants over the alias `r`. */
export type SearchSpec =
  /** CodeableConcept / Coding: `system|code`, `code`, `|code`, `system|`, via search_token. */
  | { readonly kind: 'token'; readonly param: string }
  /** A plain `code` element held in one column (status, gender, intent). */
  | { readonly kind: 'code'; readonly column: string }
  | { readonly kind: 'boolean'; readonly column: string }
  /** Date prefixes eq/ne/gt/lt/ge/le against the stored range [start, end). */
  | { readonly kind: 'date'; readonly start: string; readonly end: string }
  /** `[prefix]number[|system|code]` against a numeric column and its unit. */
  | { readonly kind: 'quantity'; readonly value: string; readonly unit: string; readonly unitCode: string; readonly unitSystem: string }

export type GroupType = 'text' | 'integer' | 'boolean'
export interface GroupSpec {
  readonly column: string
  readonly type: GroupType
}

export interface TableSpec {
  readonly resourceType: ResourceType
  readonly table: string
  readonly columns: readonly ColumnSpec[]
  /** FHIR search parameter → how it is applied. */
  readonly search: Readonly<Record<string, SearchSpec>>
  /** BountyQuery groupBy field → column. */
  readonly groupBy: Readonly<Record<string, GroupSpec>>
  /** BountyQuery numeric field (sum/mean/min/max) → column. */
  readonly numeric: Readonly<Record<string, string>>
}

const text = (name: string): ColumnSpec => ({ name, type: 'TEXT' })
const int = (name: string): ColumnSpec => ({ name, type: 'INTEGER' })
const real = (name: string): ColumnSpec => ({ name, type: 'REAL' })
const range = (prefix: string): ColumnSpec[] => [int(`${prefix}_start`), int(`${prefix}_end`)]
const dateOf = (prefix: string): SearchSpec => ({ kind: 'date', start: `r.${prefix}_start`, end: `r.${prefix}_end` })
const token = (param: string): SearchSpec => ({ kind: 'token', param })
const code = (column: string): SearchSpec => ({ kind: 'code', column })
const g = (column: string, type: GroupType = 'text'): GroupSpec => ({ column, type })

/** Search parameters every type supports. last_updated is an instant: a point range [t, t+1 ms). */
const COMMON_SEARCH: Record<string, SearchSpec> = {
  _lastUpdated: { kind: 'date', start: 'r.last_updated', end: '(r.last_updated + 1)' },
}

export const TABLES: Readonly<Record<ResourceType, TableSpec>> = {
  Patient: {
    resourceType: 'Patient',
    table: 'patient',
    // identity: the MedRec identity string (Patient.identifier with system urn:medrec:identity), unique.
    columns: [text('identity'), text('gender'), int('birth_year'), int('active')],
    search: { ...COMMON_SEARCH, gender: code('gender'), active: { kind: 'boolean', column: 'active' } },
    groupBy: { gender: g('gender'), birthYear: g('birth_year', 'integer'), active: g('active', 'boolean') },
    numeric: { birthYear: 'birth_year' },
  },
  Observation: {
    resourceType: 'Observation',
    table: 'observation',
    columns: [text('status'), text('category'), text('code_system'), text('code'), ...range('effective'), real('value_number'), text('unit'), text('unit_system'), text('unit_code')],
    search: {
      ...COMMON_SEARCH,
      code: token('code'),
      category: token('category'),
      status: code('status'),
      date: dateOf('effective'),
      'value-quantity': { kind: 'quantity', value: 'r.value_number', unit: 'r.unit', unitCode: 'r.unit_code', unitSystem: 'r.unit_system' },
    },
    groupBy: { code: g('code'), status: g('status'), category: g('category'), unit: g('unit'), 'valueQuantity.unit': g('unit'), 'valueQuantity.code': g('unit_code') },
    numeric: { value: 'value_number', valueQuantity: 'value_number', 'valueQuantity.value': 'value_number', valueInteger: 'value_number' },
  },
  Condition: {
    resourceType: 'Condition',
    table: 'condition',
    columns: [text('clinical_status'), text('verification_status'), text('category'), text('code_system'), text('code'), ...range('onset')],
    search: {
      ...COMMON_SEARCH,
      code: token('code'),
      category: token('category'),
      'clinical-status': token('clinical-status'),
      'verification-status': token('verification-status'),
      'onset-date': dateOf('onset'),
    },
    groupBy: { code: g('code'), clinicalStatus: g('clinical_status'), verificationStatus: g('verification_status'), category: g('category') },
    numeric: {},
  },
  Encounter: {
    resourceType: 'Encounter',
    table: 'encounter',
    columns: [text('status'), text('class'), text('type'), ...range('period')],
    search: { ...COMMON_SEARCH, status: code('status'), class: token('class'), type: token('type'), date: dateOf('period') },
    groupBy: { status: g('status'), class: g('class'), type: g('type') },
    numeric: {},
  },
  MedicationRequest: {
    resourceType: 'MedicationRequest',
    table: 'medication_request',
    columns: [text('status'), text('intent'), text('code_system'), text('code'), ...range('authored')],
    search: { ...COMMON_SEARCH, status: code('status'), intent: code('intent'), code: token('code'), authoredon: dateOf('authored') },
    groupBy: { status: g('status'), intent: g('intent'), code: g('code'), medicationCodeableConcept: g('code') },
    numeric: {},
  },
  Immunization: {
    resourceType: 'Immunization',
    table: 'immunization',
    columns: [text('status'), text('vaccine_code_system'), text('vaccine_code'), ...range('occurrence')],
    search: { ...COMMON_SEARCH, status: code('status'), 'vaccine-code': token('vaccine-code'), date: dateOf('occurrence') },
    groupBy: { vaccineCode: g('vaccine_code'), status: g('status') },
    numeric: {},
  },
  DocumentReference: {
    resourceType: 'DocumentReference',
    table: 'document_reference',
    columns: [text('status'), text('category'), text('type_system'), text('type'), ...range('date')],
    search: { ...COMMON_SEARCH, status: code('status'), type: token('type'), category: token('category'), date: dateOf('date') },
    groupBy: { type: g('type'), category: g('category'), status: g('status') },
    numeric: {},
  },
}

/** The table spec of a resource type, or undefined (own properties only: `toString` is no resource type). */
export function tableOf(resourceType: unknown): TableSpec | undefined {
  return typeof resourceType === 'string' && Object.hasOwn(TABLES, resourceType) ? TABLES[resourceType as ResourceType] : undefined
}

function tableDdl(spec: TableSpec): string {
  const isPatient = spec.resourceType === 'Patient'
  const cols = [
    'id TEXT PRIMARY KEY NOT NULL',
    isPatient ? 'patient_id TEXT NOT NULL CHECK (patient_id = id)' : 'patient_id TEXT NOT NULL REFERENCES patient(id)',
    'resource TEXT NOT NULL',
    'last_updated INTEGER NOT NULL',
    ...spec.columns.map((c) => `${c.name} ${c.type}${c.name === 'identity' ? ' UNIQUE' : ''}`),
  ]
  const indexes = ['patient_id', ...spec.columns.filter((c) => c.name !== 'identity').map((c) => c.name)].map(
    (c) => `CREATE INDEX ${spec.table}_${c} ON ${spec.table}(${c});`,
  )
  return `CREATE TABLE ${spec.table} (${cols.join(', ')}) STRICT;\n${indexes.join('\n')}`
}

/** The whole schema as SQL (what `migrate` runs on an empty database). */
export function schemaSql(): string {
  return [
    'CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT;',
    ...Object.values(TABLES).map(tableDdl),
    `CREATE TABLE search_token (
      resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, param TEXT NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL,
      PRIMARY KEY (resource_type, resource_id, param, system, code)) STRICT, WITHOUT ROWID;`,
    'CREATE INDEX search_token_code ON search_token(resource_type, param, code, system);',
  ].join('\n')
}

/**
 * Creates the schema in an empty database, or checks the version of an existing one.
 * Refuses a database that has tables of ours but no schema_version (not a MedRec record
 * database) and one with another version.
 */
export function migrate(db: DatabaseSync, path: string): void {
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => String(r.name)))
  if (!tables.has('schema_version')) {
    const clash = Object.values(TABLES).map((s) => s.table).find((t) => tables.has(t))
    if (clash !== undefined) {
      throw new GatekeeperError(
        GatekeeperErrorCode.INTERNAL,
        `${path} has a table "${clash}" but no schema_version: it is not a MedRec record database; give the record store a path of its own`,
        { path },
      )
    }
    db.exec('BEGIN IMMEDIATE')
    try {
      db.exec(schemaSql())
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(SCHEMA_VERSION)
      db.exec('COMMIT')
    } catch (err) {
      db.exec('ROLLBACK')
      throw err
    }
    return
  }
  const row = db.prepare('SELECT version FROM schema_version').get()
  const version = row === undefined ? undefined : Number(row.version)
  if (version !== SCHEMA_VERSION) {
    throw new GatekeeperError(
      GatekeeperErrorCode.INTERNAL,
      `${path} has record schema version ${version ?? 'none'}, this node understands ${SCHEMA_VERSION}; open it with a matching medrec-node or re-import the records into a new file`,
      { path, version },
    )
  }
}
