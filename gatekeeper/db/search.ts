import type { SQLInputValue } from 'node:sqlite'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import { isPlainObject, parseFhirDate } from './fhir.ts'
import type { SearchSpec, TableSpec } from './schema.ts'

/**
 * FHIR search parameters → SQL conditions over the table alias `r`. Every value is a bound
 * parameter; the SQL text comes only from the constants of schema.ts. A parameter the table
 * does not support is refused (UNSUPPORTED_SEARCH), never ignored: ignoring one would widen
 * the result. Several parameters are ANDed; a comma inside one value means OR. FHIR escapes
 * (`\,` `\|` `\\`) are honoured.
 */

export interface SqlPart {
  sql: string
  params: SQLInputValue[]
}

function unsupported(message: string, context?: Record<string, unknown>): never {
  throw new GatekeeperError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, message, context)
}

/** Splits on unescaped `sep`, keeping escapes for a later split; `limit` 2 splits once. */
function splitEscaped(value: string, sep: string, key: string, limit = Infinity): string[] {
  const parts: string[] = []
  let cur = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\') {
      if (i + 1 >= value.length) unsupported(`search value of ${JSON.stringify(key)} ends with a lone backslash; escape it as \\\\`, { key })
      cur += c + value[i + 1]!
      i++
    } else if (c === sep && parts.length < limit - 1) {
      parts.push(cur)
      cur = ''
    } else cur += c
  }
  parts.push(cur)
  return parts
}

const unescape = (s: string): string => s.replace(/\\([\s\S])/g, '$1')

const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le'] as const
type Prefix = (typeof PREFIXES)[number]
const UNSUPPORTED_PREFIXES = ['sa', 'eb', 'ap']

function prefixOf(value: string, key: string): { prefix: Prefix; rest: string } {
  const p = value.slice(0, 2)
  if (/^[a-z]{2}$/.test(p)) {
    if ((PREFIXES as readonly string[]).includes(p)) return { prefix: p as Prefix, rest: value.slice(2) }
    if (UNSUPPORTED_PREFIXES.includes(p)) unsupported(`search prefix "${p}" of ${JSON.stringify(key)} is not supported; use one of ${PREFIXES.join(', ')}`, { key })
  }
  return { prefix: 'eq', rest: value }
}

function tokenAlternative(raw: string, key: string): SqlPart {
  const parts = splitEscaped(raw, '|', key, 2)
  if (parts.length === 1) return { sql: 't.code = ?', params: [unescape(parts[0]!)] }
  const system = unescape(parts[0]!)
  const code = unescape(parts[1]!)
  if (code === '') return { sql: 't.system = ?', params: [system] }
  return { sql: '(t.system = ? AND t.code = ?)', params: [system, code] }
}

function dateAlternative(raw: string, key: string, start: string, end: string): SqlPart {
  const { prefix, rest } = prefixOf(unescape(raw), key)
  const range = parseFhirDate(rest)
  if (range === undefined) unsupported(`search value of ${JSON.stringify(key)} must be [prefix]date such as ge2024-01-01 or lt2024-03-05T10:00:00Z, got ${JSON.stringify(raw.slice(0, 40))}`, { key })
  const { start: lo, end: hi } = range
  // The stored value covers [start, end); the searched date covers [lo, hi) at its precision.
  switch (prefix) {
    case 'eq':
      return { sql: `(${start} >= ? AND ${end} <= ?)`, params: [lo, hi] }
    case 'ne':
      return { sql: `NOT (${start} >= ? AND ${end} <= ?)`, params: [lo, hi] }
    case 'gt':
      return { sql: `${end} > ?`, params: [hi] }
    case 'lt':
      return { sql: `${start} < ?`, params: [lo] }
    case 'ge':
      return { sql: `${end} > ?`, params: [lo] }
    case 'le':
      return { sql: `${start} < ?`, params: [hi] }
  }
}

const NUMBER_RE = /^-?\d+(?:\.(\d+))?(?:[eE][+-]?\d+)?$/

function quantityAlternative(raw: string, key: string, spec: Extract<SearchSpec, { kind: 'quantity' }>): SqlPart {
  const parts = splitEscaped(raw, '|', key).map(unescape)
  if (parts.length !== 1 && parts.length !== 3) unsupported(`search value of ${JSON.stringify(key)} must be [prefix]number or [prefix]number|system|code, got ${JSON.stringify(raw.slice(0, 40))}`, { key })
  const { prefix, rest } = prefixOf(parts[0]!, key)
  const m = NUMBER_RE.exec(rest)
  if (m === null) unsupported(`search value of ${JSON.stringify(key)} must start with [prefix]number such as ge140 or 7.5, got ${JSON.stringify(raw.slice(0, 40))}`, { key })
  const n = Number(rest)
  // FHIR: a number is as precise as it is written (100 means [99.5, 100.5)); exponents are exact.
  const half = /[eE]/.test(rest) ? 0 : 0.5 * 10 ** -(m[1]?.length ?? 0)
  const v = spec.value
  const conds: SqlPart[] = []
  switch (prefix) {
    case 'eq':
      conds.push(half === 0 ? { sql: `${v} = ?`, params: [n] } : { sql: `(${v} >= ? AND ${v} < ?)`, params: [n - half, n + half] })
      break
    case 'ne':
      conds.push(half === 0 ? { sql: `${v} <> ?`, params: [n] } : { sql: `NOT (${v} >= ? AND ${v} < ?)`, params: [n - half, n + half] })
      break
    case 'gt':
      conds.push({ sql: `${v} > ?`, params: [n] })
      break
    case 'lt':
      conds.push({ sql: `${v} < ?`, params: [n] })
      break
    case 'ge':
      conds.push({ sql: `${v} >= ?`, params: [n] })
      break
    case 'le':
      conds.push({ sql: `${v} <= ?`, params: [n] })
      break
  }
  if (parts.length === 3) {
    if (parts[1] !== '') conds.push({ sql: `${spec.unitSystem} = ?`, params: [parts[1]!] })
    if (parts[2] !== '') conds.push({ sql: `(${spec.unitCode} = ? OR ${spec.unit} = ?)`, params: [parts[2]!, parts[2]!] })
  }
  return and(conds)
}

function and(parts: SqlPart[]): SqlPart {
  return parts.length === 1 ? parts[0]! : { sql: `(${parts.map((p) => p.sql).join(' AND ')})`, params: parts.flatMap((p) => p.params) }
}

function or(parts: SqlPart[]): SqlPart {
  return parts.length === 1 ? parts[0]! : { sql: `(${parts.map((p) => p.sql).join(' OR ')})`, params: parts.flatMap((p) => p.params) }
}

function condition(table: TableSpec, key: string, spec: SearchSpec, value: string): SqlPart {
  const alternatives = splitEscaped(value, ',', key)
  if (alternatives.some((a) => a === '')) unsupported(`search value of ${JSON.stringify(key)} has an empty alternative; separate values with single commas`, { key })
  switch (spec.kind) {
    case 'token': {
      const alt = or(alternatives.map((a) => tokenAlternative(a, key)))
      return {
        sql: `r.id IN (SELECT t.resource_id FROM search_token t WHERE t.resource_type = ? AND t.param = ? AND ${alt.sql})`,
        params: [table.resourceType, spec.param, ...alt.params],
      }
    }
    case 'code': {
      const codes = alternatives.map((a) => {
        const parts = splitEscaped(a, '|', key, 2)
        if (parts.length === 2 && parts[0] !== '') unsupported(`${JSON.stringify(key)} of ${table.resourceType} is a plain code: give the code alone (e.g. ${key}=final), without a system`, { key })
        return unescape(parts[parts.length - 1]!)
      })
      return or(codes.map((c) => ({ sql: `r.${spec.column} = ?`, params: [c] })))
    }
    case 'boolean':
      return or(
        alternatives.map((a) => {
          if (a !== 'true' && a !== 'false') unsupported(`search value of ${JSON.stringify(key)} must be true or false`, { key })
          return { sql: `r.${spec.column} = ?`, params: [a === 'true' ? 1 : 0] }
        }),
      )
    case 'date':
      return or(alternatives.map((a) => dateAlternative(a, key, spec.start, spec.end)))
    case 'quantity':
      return or(alternatives.map((a) => quantityAlternative(a, key, spec)))
  }
}

/** The SQL conditions (to AND) of a query's `search` on one table. Throws UNSUPPORTED_SEARCH. */
export function searchConditions(table: TableSpec, search: unknown): SqlPart[] {
  if (search === undefined || search === null) return []
  if (!isPlainObject(search)) unsupported(`search must be an object of FHIR search parameter → value strings`)
  const out: SqlPart[] = []
  for (const [key, value] of Object.entries(search)) {
    const spec = Object.hasOwn(table.search, key) ? table.search[key] : undefined
    if (spec === undefined) {
      unsupported(`search parameter ${JSON.stringify(key)} is not supported for ${table.resourceType} by this database (it would not be applied); supported: ${Object.keys(table.search).join(', ')}`, {
        key,
        resourceType: table.resourceType,
      })
    }
    if (typeof value !== 'string' || value === '') unsupported(`search value of ${JSON.stringify(key)} must be a non-empty string`, { key })
    out.push(condition(table, key, spec, value))
  }
  return out
}
