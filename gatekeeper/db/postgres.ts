import { readFileSync } from 'node:fs'
import pg from 'pg'
import { bountyQuery, recordQuery, type BountyQuery, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { ImportResult } from '../api.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from '../errors.ts'
import type { AggregateCell, FhirResource, RecordSource } from '../types.ts'
import { planAggregate, type CohortCell } from './aggregate.ts'
import { invalid } from './fhir.ts'
import { checkMappingAgainstCatalog, type CheckedMapping, type CheckedResource } from './postgres-catalog.ts'
import { bundleEntries, csvImportEntries, rowOfResource, type ImportEntry, type RowWrite } from './postgres-import.ts'
import { mappingError, parseRecordMapping } from './postgres-mapping.ts'
import { DEFAULT_POSTGRES, type PostgresRecordStoreOptions } from './postgres-options.ts'
import { inGrammar } from './search.ts'
import { Params, aggregateSql, codeSystemFilter, orderById, patientScope, q as ident, resourceOfRow, selectList, tableSql } from './postgres-sql.ts'

const log = createLogger('gatekeeper:postgres')

/**
 * A provider's own PostgreSQL database as the gatekeeper's record source, read through a mapping
 * file (postgres-mapping.ts) that names the table of each resource type and the column of each
 * FHIR element. Reads use a pool of connections whose transactions are read-only
 * (default_transaction_read_only), each statement bounded by a statement timeout; imports go
 * through a second, small pool, one transaction per import (all or nothing).
 */

export type { PostgresRecordStoreOptions } from './postgres-options.ts'

export type PostgresImportResult = ImportResult & {
  /** Element paths (`Observation.code.coding[].display`) the mapping has no column for, with how many resources had them: not stored. */
  unmapped: Record<string, number>
}

export interface PostgresRecordStore extends RecordSource {
  /** The connection URL without its password. */
  readonly url: string
  patientCount(): Promise<number>
  resourceCount(resourceType?: ResourceType): Promise<number>
  aggregateWithCohorts(q: BountyQuery): Promise<CohortCell[]>
  /** A FHIR Bundle into the mapped tables, all or nothing (existing rows with the same id are updated in their mapped columns). */
  importBundle(bundle: unknown): Promise<PostgresImportResult>
  /** CSV text (the columns of CSV_COLUMNS) into the mapped tables, all or nothing. */
  importCsv(resourceType: string, csvText: string): Promise<PostgresImportResult>
}


/** The URL as it may be shown: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(an unparsable connection URL)'
  }
}


/** SQLSTATE classes that mean the data was refused (22 data exception, 23 integrity constraint), not the server. */
const isDataError = (err: unknown): boolean => err instanceof pg.DatabaseError && typeof err.code === 'string' && /^2[23]/.test(err.code)

export async function createPostgresRecordStore(opts: PostgresRecordStoreOptions): Promise<PostgresRecordStore> {
  const shown = redactUrl(opts.url)
  let text: string
  try {
    text = readFileSync(opts.mappingFile, 'utf8')
  } catch (err) {
    mappingError(opts.mappingFile, 'the file', `cannot be read (${errorMessage(err)}); give --gatekeeper.records.mapping the path of a mapping file such as gatekeeper/db/postgres-example-mapping.json`)
  }
  const mapping = parseRecordMapping(opts.mappingFile, text)
  const statementTimeout = opts.statementTimeoutMs ?? DEFAULT_POSTGRES.statementTimeoutMs
  const base: pg.PoolConfig = {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_POSTGRES.connectTimeoutMs,
    statement_timeout: statementTimeout,
    application_name: 'medrec-gatekeeper',
  }
  // Instants are read in UTC; reads cannot write even if a statement were mis-built.
  const reader = new pg.Pool({ ...base, max: opts.poolSize ?? DEFAULT_POSTGRES.poolSize, options: '-c TimeZone=UTC -c default_transaction_read_only=on' })
  const writer = new pg.Pool({ ...base, max: 2, options: '-c TimeZone=UTC' })
  // An idle connection the server drops emits 'error' on its pool; unhandled, that would end the node.
  for (const pool of [reader, writer]) pool.on('error', (err) => log.warn('A PostgreSQL record database connection failed; the pool opens another', { url: shown }, err.message))

  let checked: CheckedMapping
  try {
    await reader.query('SELECT 1')
  } catch (err) {
    await Promise.all([reader.end(), writer.end()])
    throw new GatekeeperError(
      GatekeeperErrorCode.INTERNAL,
      `cannot reach the PostgreSQL record database at ${shown}: ${errorMessage(err)}; check --gatekeeper.records (host, port, database, user), that the server runs and that it accepts this host`,
      { url: shown },
      err,
    )
  }
  try {
    checked = await checkMappingAgainstCatalog(mapping, (sql, params) => reader.query(sql, params))
  } catch (err) {
    await Promise.all([reader.end(), writer.end()])
    throw err
  }
  const patients = checked.Patient!
  let closed = false
  log.info('PostgreSQL record database ready', { url: shown, mapping: opts.mappingFile, types: Object.keys(checked).join(',') })

  function ensureOpen(): void {
    if (closed) throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the PostgreSQL record database ${shown} is closed`)
  }

  async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
    ensureOpen()
    try {
      return await fn()
    } catch (err) {
      if (isGatekeeperError(err)) throw err
      const timeout = err instanceof pg.DatabaseError && err.code === '57014' ? ` (longer than the statement timeout, ${statementTimeout} ms)` : ''
      throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the PostgreSQL record database could not ${what}${timeout}: ${errorMessage(err)}`, { url: shown }, err)
    }
  }

  /** The patient key as given can be in no table when it holds a NUL (PostgreSQL text cannot). */
  const impossibleKey = (patientId: string) => patientId.includes('\u0000')

  async function hasPatient(patientId: string): Promise<boolean> {
    return read('look up a patient', async () => {
      if (typeof patientId !== 'string' || impossibleKey(patientId)) return false
      const params = new Params()
      const { rowCount } = await reader.query(`SELECT 1 FROM ${tableSql(patients)} t WHERE ${patientScope(patients, params, patientId)} LIMIT 1`, params.values)
      return (rowCount ?? 0) > 0
    })
  }

  async function runAggregate(query: BountyQuery, withCohorts: boolean): Promise<CohortCell[]> {
    return read('compute an aggregate', async () => {
      // The SQLite plan checks names and the grammar: both stores accept exactly the same queries.
      planAggregate(query)
      const b = inGrammar(() => bountyQuery(query))
      const m = checked[b.resourceType]
      const groupBy = b.groupBy ?? []
      if (m === undefined) {
        // No table: the aggregate of no records, as over an empty SQLite table.
        const value = b.field === undefined || b.aggregate === 'count' ? 0 : null
        return groupBy.length > 0 ? [] : [{ cell: { group: {}, patients: 0, records: 0, value }, patientIds: [] }]
      }
      const plan = aggregateSql(m, { aggregate: b.aggregate, field: b.field, groupBy, codeSystems: b.codeSystems }, withCohorts)
      const { rows } = await reader.query(plan.sql, plan.params)
      return rows.map((row: Record<string, unknown>) => ({ cell: plan.cell(row), patientIds: plan.cohort(row) }))
    })
  }

  async function writeRow(client: pg.PoolClient, row: RowWrite): Promise<void> {
    const m: CheckedResource = row.mapping
    if (m.resourceType !== 'Patient') {
      const params = new Params()
      const found = await client.query(`SELECT 1 FROM ${tableSql(patients)} t WHERE ${patientScope(patients, params, row.patientId)} LIMIT 1`, params.values)
      if ((found.rowCount ?? 0) === 0) invalid(`${m.resourceType}/${row.id} references Patient/${row.patientId}, which is not stored; store the Patient first (or put it in the same bundle)`, { patientId: row.patientId })
    }
    const columns = [...row.values.keys()]
    const values = columns.map((c) => row.values.get(c))
    // Only the mapped columns change; the provider's other columns keep their values (or defaults on insert).
    const sets = columns.filter((c) => c !== m.id)
    const idParam = `$${columns.indexOf(m.id) + 1}`
    const idText = m.kinds.get(m.id) === 'text' ? ident(m.id) : `${ident(m.id)}::text`
    const updated = sets.length === 0 ? { rowCount: 0 } : await client.query(`UPDATE ${tableSql(m)} SET ${sets.map((c) => `${ident(c)} = $${columns.indexOf(c) + 1}`).join(', ')} WHERE ${idText} = ${idParam}::text`, values)
    if ((updated.rowCount ?? 0) > 0) return
    if (sets.length === 0) {
      const exists = await client.query(`SELECT 1 FROM ${tableSql(m)} WHERE ${idText} = $1::text`, [row.id])
      if ((exists.rowCount ?? 0) > 0) return
    }
    // A new row leaves out what the resource lacks, so the table's defaults apply.
    const given = columns.filter((c) => row.values.get(c) !== null)
    await client.query(`INSERT INTO ${tableSql(m)} (${given.map(ident).join(', ')}) VALUES (${given.map((_c, i) => `$${i + 1}`).join(', ')})`, given.map((c) => row.values.get(c)))
  }

  /** Writes entries in one transaction; the first failure rolls all back and names its entry. */
  async function importEntries(entries: readonly ImportEntry[], what: string): Promise<PostgresImportResult> {
    ensureOpen()
    const unmapped: Record<string, number> = {}
    const named = (e: ImportEntry, err: unknown): GatekeeperError => {
      const code = isGatekeeperError(err) ? err.code : isDataError(err) ? GatekeeperErrorCode.INVALID_IMPORT : GatekeeperErrorCode.INTERNAL
      const why = isGatekeeperError(err) ? err.message : `PostgreSQL refused the row: ${errorMessage(err)}`
      return new GatekeeperError(code, `${e.where}: ${why}; nothing was imported`, { ...e.context, ...(isGatekeeperError(err) ? err.context : {}) }, err)
    }
    const rows = entries.map((e) => {
      try {
        return { e, row: rowOfResource(checked, opts.mappingFile, e.resource, unmapped) }
      } catch (err) {
        throw named(e, err)
      }
    })
    const byType: Record<string, number> = {}
    const client = await writer.connect().catch((err: unknown) => {
      throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `cannot reach the PostgreSQL record database at ${shown}: ${errorMessage(err)}; nothing was imported`, { url: shown }, err)
    })
    try {
      await client.query('BEGIN')
      for (const { e, row } of rows) {
        try {
          await writeRow(client, row)
        } catch (err) {
          throw named(e, err)
        }
        byType[row.mapping.resourceType] = (byType[row.mapping.resourceType] ?? 0) + 1
      }
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
    if (Object.keys(unmapped).length > 0) log.warn(`Imported ${what}; elements the mapping has no column for were not stored`, { mapping: opts.mappingFile, ...unmapped })
    log.info(`Imported ${what} into PostgreSQL`, { imported: rows.length, ...byType })
    return { imported: rows.length, byType, unmapped }
  }

  return {
    url: shown,

    async query(patientId: string, query: RecordQuery): Promise<FhirResource[]> {
      return read('run a record query', async () => {
        if (typeof patientId !== 'string') throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a record query needs a patient id string')
        const rq = inGrammar(() => recordQuery(query))
        const m = checked[rq.resourceType]
        if (m === undefined || impossibleKey(patientId)) return []
        const params = new Params()
        // The patient scope comes first and is always there: the code-system filter can only narrow it.
        const where = [patientScope(m, params, patientId)]
        const filter = codeSystemFilter(m, params, rq.codeSystems)
        if (filter !== undefined) where.push(filter)
        const select = selectList(m)
        const { rows } = await reader.query(`SELECT ${select.sql} FROM ${tableSql(m)} t WHERE ${where.join(' AND ')} ${orderById(m)}`, params.values)
        return rows.map((row: Record<string, unknown>) => resourceOfRow(m, select.columns, row))
      })
    },

    hasPatient,

    async aggregate(query: BountyQuery): Promise<AggregateCell[]> {
      return (await runAggregate(query, false)).map((c) => c.cell)
    },

    aggregateWithCohorts: (query: BountyQuery) => runAggregate(query, true),

    async patientCount(): Promise<number> {
      return read('count patients', async () => Number((await reader.query(`SELECT COUNT(*) AS n FROM ${tableSql(patients)}`)).rows[0].n))
    },

    async resourceCount(resourceType?: ResourceType): Promise<number> {
      return read('count resources', async () => {
        const ms = resourceType === undefined ? Object.values(checked) : [checked[resourceType]].filter((m) => m !== undefined)
        let n = 0
        for (const m of ms) n += Number((await reader.query(`SELECT COUNT(*) AS n FROM ${tableSql(m)}`)).rows[0].n)
        return n
      })
    },

    async importBundle(bundle: unknown): Promise<PostgresImportResult> {
      ensureOpen()
      return importEntries(bundleEntries(bundle), 'FHIR bundle')
    },

    async importCsv(resourceType: string, csvText: string): Promise<PostgresImportResult> {
      ensureOpen()
      return importEntries(csvImportEntries(resourceType, csvText), `${resourceType} CSV`)
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      await Promise.all([reader.end(), writer.end()])
    },
  }
}
