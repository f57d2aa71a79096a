import { mappingError, type RecordMapping, type ResourceMapping } from './postgres-mapping.ts'

/**
 * A mapping checked against the live database: every schema, table and column it names must be
 * in information_schema (read with bound parameters), and each column's type must be one the
 * source can turn into a FHIR value. Only names that passed this check are ever put into SQL,
 * and always quoted as identifiers.
 */

/** How a column's values become JSON: FHIR strings, numbers, booleans, dates and instants. */
export type ColumnKind = 'text' | 'number' | 'boolean' | 'date' | 'timestamptz' | 'timestamp'

const KINDS: Record<string, ColumnKind> = {
  text: 'text',
  'character varying': 'text',
  character: 'text',
  uuid: 'text',
  smallint: 'number',
  integer: 'number',
  bigint: 'number',
  numeric: 'number',
  real: 'number',
  'double precision': 'number',
  boolean: 'boolean',
  date: 'date',
  'timestamp with time zone': 'timestamptz',
  'timestamp without time zone': 'timestamp',
}

export interface CheckedResource extends ResourceMapping {
  /** Column name → kind, for every column the mapping uses. */
  kinds: ReadonlyMap<string, ColumnKind>
}

export type CheckedMapping = Partial<Record<ResourceMapping['resourceType'], CheckedResource>>

/** What the check needs from a database connection. */
export type CatalogQuery = (sql: string, params: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>

export async function checkMappingAgainstCatalog(mapping: RecordMapping, query: CatalogQuery): Promise<CheckedMapping> {
  const out: CheckedMapping = {}
  for (const m of Object.values(mapping.resources)) {
    const { rows } = await query('SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2', [m.schema, m.table])
    if (rows.length === 0) {
      const { rows: tables } = await query("SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY table_name", [m.schema])
      const known = tables.map((r) => String(r.table_name))
      mappingError(mapping.file, `${m.where}.table`, `${m.schema}.${m.table} is not a table or view this connection can see (tables in schema ${m.schema}: ${known.slice(0, 20).join(', ') || 'none'}); fix the table or schema name, or grant the user access`)
    }
    const types = new Map(rows.map((r) => [String(r.column_name), String(r.data_type)]))
    const kinds = new Map<string, ColumnKind>()
    const use = (column: string, where: string) => {
      const type = types.get(column)
      if (type === undefined) mappingError(mapping.file, where, `column ${JSON.stringify(column)} is not in ${m.schema}.${m.table} (its columns: ${[...types.keys()].join(', ')}); fix the column name`)
      const kind = KINDS[type]
      if (kind === undefined) mappingError(mapping.file, where, `column ${column} has type ${type}, which the record source cannot read as a FHIR value; map a column of type ${Object.keys(KINDS).join(', ')} (or a view that casts it)`)
      kinds.set(column, kind)
    }
    use(m.id, `${m.where}.id`)
    use(m.patient, `${m.where}.patient`)
    for (const e of m.elements) if (e.source.kind === 'column') use(e.source.column, `${m.where}.elements[${JSON.stringify(e.path)}]`)
    out[m.resourceType] = { ...m, kinds }
  }
  return out
}
