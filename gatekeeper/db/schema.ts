import type { DatabaseSync } from 'node:sqlite'
import type { ResourceType } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * The record database's schema, modelled on FHIR R4. One table per resource type, each with
 *   id TEXT PRIMARY KEY, patient_id (the Patient it belongs to; a Patient's own id),
 *   resource (the full FHIR JSON, what reads return), last_updated (ms since epoch),
 * plus typed, indexed columns for the groupBy and aggregated fields of that type.
 * Codes of CodeableConcepts (which may carry several codings) are also kept one row per
 * coding in `search_token`, so a query's `codeSystems` filter matches any coding, as FHIR
 * token searches do.
 *
 * Every table and column name used in SQL comes from the constants below, never from input:
 * a query names a field, and this map turns it into a column.
 */

export const SCHEMA_VERSION = 1

export type ColumnType = 'TEXT' | 'INTEGER' | 'REAL'
export interface ColumnSpec {
  readonly name: string
  readonly type: ColumnType
}

export type GroupType = 'text' | 'integer' | 'boolean'
export interface GroupSpec {
  readonly column: string
  readonly type: GroupType
}

export interface TableSpec {
  readonly resourceType: ResourceType
  readonly table: string
  readonly columns: readonly ColumnSpec[]
  /**
   * The `search_token` param of the coded element a query's `codeSystems` filters
   * (CODED_ELEMENT of contracts/client/query-shape.ts); none for Patient.
   */
  readonly codeParam?: string
  /** BountyQuery groupBy field → column. */
  readonly groupBy: Readonly<Record<string, GroupSpec>>
  /** BountyQuery numeric field (sum/mean/min/max) → column. */
  readonly numeric: Readonly<Record<string, string>>
}

const text = (name: string): ColumnSpec => ({ name, type: 'TEXT' })
const int = (name: string): ColumnSpec => ({ name, type: 'INTEGER' })
const real = (name: string): ColumnSpec => ({ name, type: 'REAL' })
const range = (prefix: string): ColumnSpec[] => [int(`${prefix}_start`), int(`${prefix}_end`)]
const g = (column: string, type: GroupType = 'text'): GroupSpec => ({ column, type })

export const TABLES: Readonly<Record<ResourceType, TableSpec>> = {
  Patient: {
    resourceType: 'Patient',
    table: 'patient',
    // identity: the MedRec identity string (Patient.identifier with system urn:medrec:identity), unique.
    columns: [text('identity'), text('gender'), int('birth_year'), int('active')],
    groupBy: { gender: g('gender'), birthYear: g('birth_year', 'integer'), active: g('active', 'boolean') },
    numeric: { birthYear: 'birth_year' },
  },
  Observation: {
    resourceType: 'Observation',
    table: 'observation',
    columns: [text('status'), text('category'), text('code_system'), text('code'), ...range('effective'), real('value_number'), text('unit'), text('unit_system'), text('unit_code')],
    codeParam: 'code',
    groupBy: { code: g('code'), status: g('status'), category: g('category'), unit: g('unit'), 'valueQuantity.unit': g('unit'), 'valueQuantity.code': g('unit_code') },
    numeric: { value: 'value_number', valueQuantity: 'value_number', 'valueQuantity.value': 'value_number', valueInteger: 'value_number' },
  },
  Condition: {
    resourceType: 'Condition',
    table: 'condition',
    columns: [text('clinical_status'), text('verification_status'), text('category'), text('code_system'), text('code'), ...range('onset')],
    codeParam: 'code',
    groupBy: { code: g('code'), clinicalStatus: g('clinical_status'), verificationStatus: g('verification_status'), category: g('category') },
    numeric: {},
  },
  Encounter: {
    resourceType: 'Encounter',
    table: 'encounter',
    columns: [text('status'), text('class'), text('type'), ...range('period')],
    codeParam: 'type',
    groupBy: { status: g('status'), class: g('class'), type: g('type') },
    numeric: {},
  },
  MedicationRequest: {
    resourceType: 'MedicationRequest',
    table: 'medication_request',
    columns: [text('status'), text('intent'), text('code_system'), text('code'), ...range('authored')],
    codeParam: 'code',
    groupBy: { status: g('status'), intent: g('intent'), code: g('code'), medicationCodeableConcept: g('code') },
    numeric: {},
  },
  Immunization: {
    resourceType: 'Immunization',
    table: 'immunization',
    columns: [text('status'), text('vaccine_code_system'), text('vaccine_code'), ...range('occurrence')],
    codeParam: 'vaccine-code',
    groupBy: { vaccineCode: g('vaccine_code'), status: g('status') },
    numeric: {},
  },
  DocumentReference: {
    resourceType: 'DocumentReference',
    table: 'document_reference',
    columns: [text('status'), text('category'), text('type_system'), text('type'), ...range('date')],
    codeParam: 'type',
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
