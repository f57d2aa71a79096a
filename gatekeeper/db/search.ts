import type { SQLInputValue } from 'node:sqlite'
import { bountyQuery, isClientError, recordQuery, type BountyQuery, type CodeSystem, type RecordQuery } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import type { TableSpec } from './schema.ts'

/**
 * A query's filter → SQL conditions over the table alias `r`. Before anything is built the
 * query is checked by the one query grammar (contracts/client/query.ts): a query that carries
 * values, or anything else the grammar refuses, is refused here too (UNSUPPORTED_SEARCH), never
 * ignored. The only filter the grammar has is `codeSystems`, a closed list of URIs, applied to
 * the table's coded element through `search_token`; the URIs are bound parameters and the SQL
 * text comes only from constants.
 */

export interface SqlPart {
  sql: string
  params: SQLInputValue[]
}

export function unsupported(message: string, context?: Record<string, unknown>): never {
  throw new GatekeeperError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, message, context)
}

/** Runs the grammar's check; its refusal becomes the store's (the message says what is allowed). Both stores use it. */
export function inGrammar<Q>(check: () => { query: Q }): Q {
  try {
    return check().query
  } catch (err) {
    if (isClientError(err)) unsupported(err.message, err.context)
    throw err
  }
}

function codeSystemConditions(table: TableSpec, codeSystems: readonly CodeSystem[] | undefined): SqlPart[] {
  if (codeSystems === undefined || codeSystems.length === 0) return []
  if (table.codeParam === undefined) unsupported(`${table.resourceType} has no coded element this database can filter by code system; leave codeSystems out`)
  return [
    {
      sql: `r.id IN (SELECT t.resource_id FROM search_token t WHERE t.resource_type = ? AND t.param = ? AND t.system IN (${codeSystems.map(() => '?').join(', ')}))`,
      params: [table.resourceType, table.codeParam, ...codeSystems],
    },
  ]
}

/** The checked record query and the SQL conditions (to AND) of its filter on `table`. */
export function recordFilter(table: TableSpec, query: unknown): { query: RecordQuery; where: SqlPart[] } {
  const q = inGrammar(() => recordQuery(query))
  return { query: q, where: codeSystemConditions(table, q.codeSystems) }
}

/** The SQL conditions (to AND) of a bounty query's filter on `table`, after the grammar's check. */
export function bountyFilter(table: TableSpec, query: unknown): SqlPart[] {
  const q: BountyQuery = inGrammar(() => bountyQuery(query))
  return codeSystemConditions(table, q.codeSystems)
}
