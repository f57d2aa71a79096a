import type { SQLInputValue, SQLOutputValue } from 'node:sqlite'
import { BOUNTY_AGGREGATES } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import type { AggregateCell } from '../types.ts'
import { isPlainObject } from './fhir.ts'
import { tableOf, type GroupSpec, type TableSpec } from './schema.ts'
import { bountyFilter } from './search.ts'

/**
 * A BountyQuery → one SQL statement over all patients of a table:
 *   SELECT <groups>, COUNT(DISTINCT patient_id), COUNT(*), <AGG>(<column>) ... GROUP BY <groups>
 * Fields and groupBy names are looked up in schema.ts (never used as SQL themselves).
 * The result is unfiltered: k-anonymity is applied by releaseCells (k-anonymity.ts).
 */

export interface AggregatePlan {
  sql: string
  params: SQLInputValue[]
  /** Turns a result row into a cell. */
  cell(row: Record<string, SQLOutputValue>): AggregateCell
  /** With `withCohorts`: the row's distinct patient ids (never released; bounty-release.ts keeps them salted). */
  cohort(row: Record<string, SQLOutputValue>): string[]
}

/** A cell with the local patient ids it was computed over. */
export interface CohortCell {
  cell: AggregateCell
  patientIds: string[]
}

function unsupported(message: string, context?: Record<string, unknown>): never {
  throw new GatekeeperError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, message, context)
}

const SQL_AGGREGATE = { count: 'COUNT', sum: 'SUM', mean: 'AVG', min: 'MIN', max: 'MAX' } as const

const decoder = new TextDecoder('utf-8', { fatal: false })

function groupValue(spec: GroupSpec, v: SQLOutputValue | undefined): string | number | boolean | null {
  if (v === null || v === undefined) return null
  if (spec.type === 'boolean') return Number(v) !== 0
  if (spec.type === 'integer') return Number(v)
  // Text groups are read as BLOBs: node:sqlite would cut a text value at an embedded NUL.
  return v instanceof Uint8Array ? decoder.decode(v) : String(v)
}

export function planAggregate(query: unknown, opts: { withCohorts?: boolean } = {}): AggregatePlan {
  if (!isPlainObject(query)) unsupported('a bounty query must be an object such as {"resourceType":"Observation","aggregate":"count"}')
  const table: TableSpec | undefined = tableOf(query.resourceType)
  if (table === undefined) unsupported(`resource type ${JSON.stringify(query.resourceType)} is not stored by this database`)
  const aggregate = query.aggregate
  if (typeof aggregate !== 'string' || !Object.hasOwn(SQL_AGGREGATE, aggregate)) {
    unsupported(`aggregate must be one of ${BOUNTY_AGGREGATES.join(', ')}, got ${JSON.stringify(aggregate)}`)
  }
  const fn = SQL_AGGREGATE[aggregate as keyof typeof SQL_AGGREGATE]

  let valueSql = 'COUNT(*)'
  if (query.field !== undefined) {
    const field = query.field
    const column = typeof field === 'string' && Object.hasOwn(table.numeric, field) ? table.numeric[field] : undefined
    if (column === undefined) {
      const known = Object.keys(table.numeric)
      unsupported(
        `field ${JSON.stringify(field)} of ${table.resourceType} cannot be aggregated by this database; numeric fields: ${known.length === 0 ? 'none (use aggregate "count" without a field)' : known.join(', ')}`,
        { field },
      )
    }
    valueSql = `${fn}(r.${column})`
  } else if (aggregate !== 'count') {
    unsupported(`aggregate ${aggregate} needs a numeric field; for ${table.resourceType}: ${Object.keys(table.numeric).join(', ') || 'none'}`)
  }

  const groupBy = query.groupBy ?? []
  if (!Array.isArray(groupBy)) unsupported('groupBy must be an array of field names')
  const groups = groupBy.map((field: unknown) => {
    const spec = typeof field === 'string' && Object.hasOwn(table.groupBy, field) ? table.groupBy[field] : undefined
    if (spec === undefined) unsupported(`cannot group ${table.resourceType} by ${JSON.stringify(field)}; supported: ${Object.keys(table.groupBy).join(', ')}`, { field })
    return { field: field as string, spec }
  })
  if (new Set(groups.map((g) => g.field)).size !== groups.length) unsupported('groupBy names a field twice')

  const where = bountyFilter(table, query)
  const select = groups.map((g, i) => `${g.spec.type === 'text' ? `CAST(r.${g.spec.column} AS BLOB)` : `r.${g.spec.column}`} AS g${i}`)
  const names = groups.map((_g, i) => `g${i}`)
  const sql = [
    `SELECT ${[...select, 'COUNT(DISTINCT r.patient_id) AS patients', 'COUNT(*) AS records', `${valueSql} AS value`, ...(opts.withCohorts === true ? ['json_group_array(DISTINCT r.patient_id) AS cohort'] : [])].join(', ')}`,
    `FROM ${table.table} r`,
    where.length > 0 ? `WHERE ${where.map((w) => w.sql).join(' AND ')}` : '',
    names.length > 0 ? `GROUP BY ${names.join(', ')} ORDER BY ${names.join(', ')}` : '',
  ].join(' ')

  return {
    sql,
    params: where.flatMap((w) => w.params),
    cell(row) {
      const group: AggregateCell['group'] = {}
      groups.forEach((g, i) => {
        group[g.field] = groupValue(g.spec, row[`g${i}`])
      })
      const value = row.value
      return { group, patients: Number(row.patients), records: Number(row.records), value: value === null || value === undefined ? null : Number(value) }
    },
    cohort(row) {
      return typeof row.cohort === 'string' ? (JSON.parse(row.cohort) as unknown[]).filter((id): id is string => typeof id === 'string') : []
    },
  }
}
