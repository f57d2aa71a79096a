import { keccak256, stringToHex, type Hex } from 'viem'
import { ClientError, ClientErrorCode } from './errors.ts'
import { MAX_FIELDS, RESOURCE_TYPES, type ResourceType } from './query-shape.ts'

/**
 * Structured queries: what a pointer stores on chain is a description of records (a FHIR-style
 * resource type, the fields it returns, optional search parameters), never SQL and never
 * personal health information. The gatekeeper turns it into parameterised SQL scoped to the
 * relationship's patient. Queries are stored as canonical JSON (sorted keys, no spaces), so the
 * same query is always the same string and hashes the same.
 */

export { MAX_FIELDS, RESOURCE_TYPES, type ResourceType }

/** A pointer's query. `fields` order matters: field i is bit i of a grant's field mask. */
export interface RecordQuery {
  resourceType: ResourceType
  fields: readonly string[]
  search?: Readonly<Record<string, string>>
}

export const BOUNTY_AGGREGATES = ['count', 'sum', 'mean', 'min', 'max'] as const
export type BountyAggregate = (typeof BOUNTY_AGGREGATES)[number]

/** An update's bounty: an aggregate over the provider's records (released k-anonymised by its gatekeeper). */
export interface BountyQuery {
  resourceType: ResourceType
  aggregate: BountyAggregate
  /** The field aggregated; required unless `aggregate` is `count`. */
  field?: string
  groupBy?: readonly string[]
  search?: Readonly<Record<string, string>>
}

export interface CanonicalQuery<Q> {
  /** The validated query, normalised (no empty `search`). */
  query: Q
  /** Canonical JSON: what goes on chain. */
  json: string
  /** keccak256 of the canonical JSON. */
  hash: Hex
}

export interface BuiltRecordQuery extends CanonicalQuery<RecordQuery> {
  /** `fields.length`: the pointer's fieldCount. */
  fieldCount: number
}

const MAX_NAME = 64
const MAX_SEARCH = 16
const MAX_VALUE = 128
const MAX_GROUP_BY = 4

/** FHIR element paths: `status`, `valueQuantity`, `code.coding`. */
const FIELD_RE = /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*$/
/** FHIR search parameter names: `code`, `date`, `clinical-status`, `_lastUpdated`. No modifiers. */
const SEARCH_KEY_RE = /^_?[A-Za-z][A-Za-z0-9-]*$/
/**
 * Token, date, quantity and URI values (`active`, `ge2024-01-01`, `http://loinc.org|8480-6`).
 * No spaces, quotes, semicolons, parentheses, `=`, `*` or `@`: nothing SQL or free text can hide in.
 */
const SEARCH_VALUE_RE = /^[A-Za-z0-9|:/._,+-]+$/
/**
 * Search parameters that name or identify a person. The gatekeeper scopes every query to the
 * relationship's patient, so a query never needs them, and on chain they would publish personal data.
 */
const PERSONAL_SEARCH_KEYS = new Set([
  'name', 'family', 'given', 'phonetic', 'birthdate', 'death-date', 'deceased', 'address', 'address-city', 'address-country',
  'address-postalcode', 'address-state', 'address-use', 'phone', 'email', 'telecom', 'identifier', 'patient', 'subject',
  'general-practitioner', 'link', '_id', '_text', '_content', '_filter', '_query', '_has',
])

const SQL_RE = /;|--|\/\*|\b(?:select|insert|update|delete|drop|union|alter|create|truncate|exec)\b[\s\S]*\b(?:from|into|table|set|where|select|values)\b/i

export function looksLikeSql(text: string): boolean {
  return SQL_RE.test(text)
}

function fail(what: string, message: string, context: Record<string, unknown> = {}): never {
  throw new ClientError(ClientErrorCode.INVALID_QUERY, `${what}: ${message}`, context)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
}

/** JSON with object keys sorted at every depth and no whitespace; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `canonical JSON has no ${value}`)
    return JSON.stringify(value)
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString())
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`
  }
  throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `canonical JSON cannot encode a ${typeof value}`)
}

/** keccak256 of a value's canonical JSON, e.g. the `dataHash` of the records a query returns. */
export function hashCanonical(value: unknown): Hex {
  return keccak256(stringToHex(canonicalJson(value)))
}

function checkShape(what: string, input: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof input === 'string') {
    if (looksLikeSql(input)) fail(what, `this looks like SQL (${JSON.stringify(input.slice(0, 60))}); the chain stores only structured queries such as {"resourceType":"Observation","fields":["code","value"]}, never SQL`)
    fail(what, `expected a structured query object, got a string; a query stored on chain is read back with parseRecordQuery`)
  }
  if (!isPlainObject(input)) fail(what, `expected an object like {"resourceType":"Observation","fields":["code","value"]}, got ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}`)
  const extra = Object.keys(input).filter((k) => !allowed.includes(k))
  if (extra.length > 0) fail(what, `unknown key(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${allowed.join(', ')}`, { keys: extra })
  return input
}

function checkResourceType(what: string, v: unknown): ResourceType {
  if (typeof v !== 'string' || !(RESOURCE_TYPES as readonly string[]).includes(v)) {
    fail(what, `resourceType must be one of ${RESOURCE_TYPES.join(', ')}, got ${JSON.stringify(v)}`)
  }
  return v as ResourceType
}

function checkField(what: string, f: unknown): string {
  if (typeof f !== 'string' || f.length > MAX_NAME || !FIELD_RE.test(f)) {
    fail(what, `a field must be an element name or dotted path such as "valueQuantity" or "code.coding" (letters and digits, at most ${MAX_NAME} characters), got ${JSON.stringify(f)}`)
  }
  return f
}

function checkFieldList(what: string, v: unknown, label: string, min: number, max: number): string[] {
  if (!Array.isArray(v)) fail(what, `${label} must be an array of field names, got ${typeof v}`)
  if (v.length < min || v.length > max) fail(what, `${label} must list ${min} to ${max} fields, got ${v.length}`)
  const out = v.map((f) => checkField(what, f))
  const dup = out.find((f, i) => out.indexOf(f) !== i)
  if (dup !== undefined) fail(what, `${label} lists ${JSON.stringify(dup)} twice`)
  return out
}

function checkSearch(what: string, v: unknown): Record<string, string> | undefined {
  if (v === undefined) return undefined
  if (!isPlainObject(v)) fail(what, `search must be an object of parameter → value strings`)
  const entries = Object.entries(v)
  if (entries.length > MAX_SEARCH) fail(what, `search has ${entries.length} parameters, at most ${MAX_SEARCH}`)
  const out: Record<string, string> = {}
  for (const [key, value] of entries) {
    if (!SEARCH_KEY_RE.test(key) || key.length > MAX_NAME) fail(what, `search parameter ${JSON.stringify(key)} is not a FHIR search parameter name (letters, digits, '-', no modifiers)`)
    if (PERSONAL_SEARCH_KEYS.has(key.toLowerCase())) {
      fail(what, `search parameter ${JSON.stringify(key)} names or identifies a person: never put personal data in a query stored on chain (the gatekeeper already scopes every query to the relationship's patient)`, { key })
    }
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_VALUE || !SEARCH_VALUE_RE.test(value)) {
      const sql = typeof value === 'string' && looksLikeSql(value) ? ' (it looks like SQL)' : ''
      fail(what, `search value of ${JSON.stringify(key)} must be a token, code, date or URI (letters, digits and | : / . _ , + -, at most ${MAX_VALUE} characters), got ${JSON.stringify(value)}${sql}`, { key })
    }
    out[key] = value
  }
  return entries.length === 0 ? undefined : out
}

function build<Q>(query: Q): CanonicalQuery<Q> {
  const json = canonicalJson(query)
  return { query, json, hash: keccak256(stringToHex(json)) }
}

/** Validates a pointer query and returns it in canonical form with its fieldCount. Throws INVALID_QUERY. */
export function recordQuery(input: RecordQuery): BuiltRecordQuery
export function recordQuery(input: unknown): BuiltRecordQuery
export function recordQuery(input: unknown): BuiltRecordQuery {
  const what = 'invalid record query'
  const o = checkShape(what, input, ['resourceType', 'fields', 'search'])
  const resourceType = checkResourceType(what, o.resourceType)
  const fields = checkFieldList(what, o.fields, 'fields', 1, MAX_FIELDS)
  const search = checkSearch(what, o.search)
  const query: RecordQuery = search === undefined ? { resourceType, fields } : { resourceType, fields, search }
  return { ...build(query), fieldCount: fields.length }
}

/** Validates a bounty query and returns it in canonical form. Throws INVALID_QUERY. */
export function bountyQuery(input: BountyQuery): CanonicalQuery<BountyQuery>
export function bountyQuery(input: unknown): CanonicalQuery<BountyQuery>
export function bountyQuery(input: unknown): CanonicalQuery<BountyQuery> {
  const what = 'invalid bounty query'
  const o = checkShape(what, input, ['resourceType', 'aggregate', 'field', 'groupBy', 'search'])
  const resourceType = checkResourceType(what, o.resourceType)
  if (typeof o.aggregate !== 'string' || !(BOUNTY_AGGREGATES as readonly string[]).includes(o.aggregate)) {
    fail(what, `aggregate must be one of ${BOUNTY_AGGREGATES.join(', ')}, got ${JSON.stringify(o.aggregate)}`)
  }
  const aggregate = o.aggregate as BountyAggregate
  if (aggregate !== 'count' && o.field === undefined) fail(what, `aggregate ${aggregate} needs a field`)
  const field = o.field === undefined ? undefined : checkField(what, o.field)
  const groupBy = o.groupBy === undefined ? undefined : checkFieldList(what, o.groupBy, 'groupBy', 1, MAX_GROUP_BY)
  const search = checkSearch(what, o.search)
  const query: BountyQuery = { resourceType, aggregate }
  if (field !== undefined) query.field = field
  if (groupBy !== undefined) query.groupBy = groupBy
  if (search !== undefined) query.search = search
  return build(query)
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    if (looksLikeSql(text)) fail(what, `stored text looks like SQL, not a structured query: ${JSON.stringify(text.slice(0, 60))}`)
    fail(what, `stored text is not JSON: ${JSON.stringify(text.slice(0, 60))}`)
  }
}

/** Reads a pointer query stored on chain (e.g. Pointer.query), validating it as recordQuery does. */
export function parseRecordQuery(text: string): BuiltRecordQuery {
  return recordQuery(parseJson('invalid record query', text))
}

/** Reads a bounty query stored on chain (e.g. Bounty.query). */
export function parseBountyQuery(text: string): CanonicalQuery<BountyQuery> {
  return bountyQuery(parseJson('invalid bounty query', text))
}

/** The uint256 field mask of field indexes (bit i = field i). Checks 0 <= i < fieldCount and no repeats. */
export function fieldMask(fields: readonly number[], fieldCount: number = MAX_FIELDS): bigint {
  if (fields.length === 0) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'a grant must name at least one field of each pointer')
  let mask = 0n
  for (const f of fields) {
    if (!Number.isInteger(f) || f < 0 || f >= fieldCount) {
      throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `field index ${f} is out of range: the pointer's query lists ${fieldCount} field(s), indexes 0..${fieldCount - 1}`, { field: f, fieldCount })
    }
    const bit = 1n << BigInt(f)
    if ((mask & bit) !== 0n) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `field index ${f} is listed twice`, { field: f })
    mask |= bit
  }
  return mask
}

/** The field indexes of a mask, ascending. */
export function fieldsOfMask(mask: bigint): number[] {
  const out: number[] = []
  for (let i = 0; mask >> BigInt(i) !== 0n; i++) if (((mask >> BigInt(i)) & 1n) === 1n) out.push(i)
  return out
}
