import { keccak256, stringToHex, type Hex } from 'viem'
import { ClientError, ClientErrorCode } from './errors.ts'
import {
  BOUNTY_QUERY_EXAMPLE,
  CODED_ELEMENT,
  CODE_SYSTEMS,
  CODE_SYSTEM_URIS,
  MAX_FIELDS,
  QUERY_GRAMMAR,
  RECORD_QUERY_EXAMPLE,
  RESOURCE_TYPES,
  type CodeSystem,
  type ResourceType,
} from './query-shape.ts'

/**
 * Structured queries: what a pointer (or a bounty) stores on chain is a description of records
 * (a FHIR resource type, the fields it returns, optionally the code systems its codes come from),
 * never SQL and never a value. This module is the one place that decides what a query may
 * contain: the client, the CLI, `medrec_*`, the record store and the gatekeeper serving a
 * pointer all call it. Queries are stored as canonical JSON (sorted keys, no spaces, sorted
 * code systems), so the same query is always the same string and hashes the same.
 */

export { CODED_ELEMENT, CODE_SYSTEMS, CODE_SYSTEM_URIS, MAX_FIELDS, QUERY_GRAMMAR, RESOURCE_TYPES, type CodeSystem, type ResourceType }

/** A pointer's query. `fields` order matters: field i is bit i of a grant's field mask. */
export interface RecordQuery {
  resourceType: ResourceType
  fields: readonly string[]
  /** Only records whose coded element (CODED_ELEMENT) has a coding in one of these systems. */
  codeSystems?: readonly CodeSystem[]
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
  codeSystems?: readonly CodeSystem[]
}

export interface CanonicalQuery<Q> {
  /** The validated query, normalised (no empty `codeSystems`, systems sorted). */
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
const MAX_GROUP_BY = 4

/** FHIR element paths: `status`, `valueQuantity`, `code.coding`. */
const FIELD_RE = /^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*$/

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

function checkShape(what: string, input: unknown, allowed: readonly string[], example: string): Record<string, unknown> {
  if (typeof input === 'string') {
    if (looksLikeSql(input)) fail(what, `this looks like SQL (${JSON.stringify(input.slice(0, 60))}); the chain stores only structured queries such as ${example}, never SQL`)
    fail(what, `expected a structured query object such as ${example}, got a string; a query stored on chain is read back with parseRecordQuery`)
  }
  if (!isPlainObject(input)) fail(what, `expected an object like ${example}, got ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}`)
  // `search` (FHIR search parameters with values) was accepted once; say why it is gone.
  if (Object.hasOwn(input, 'search')) {
    fail(what, `search values never go on chain: ${QUERY_GRAMMAR}; to narrow a query, name code systems, e.g. ${example}`, { keys: ['search'] })
  }
  const extra = Object.keys(input).filter((k) => !allowed.includes(k))
  if (extra.length > 0) fail(what, `unknown key(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${allowed.join(', ')} (${QUERY_GRAMMAR}), e.g. ${example}`, { keys: extra })
  return input
}

function checkResourceType(what: string, v: unknown): ResourceType {
  if (typeof v !== 'string' || !(RESOURCE_TYPES as readonly string[]).includes(v)) {
    fail(what, `resourceType must be one of ${RESOURCE_TYPES.join(', ')}, got ${JSON.stringify(typeof v === 'string' ? v.slice(0, 60) : v)}`)
  }
  return v as ResourceType
}

function checkField(what: string, f: unknown): string {
  if (typeof f !== 'string' || f.length > MAX_NAME || !FIELD_RE.test(f)) {
    fail(what, `a field must be an element name or dotted path such as "valueQuantity" or "code.coding" (letters and digits, at most ${MAX_NAME} characters), got ${JSON.stringify(typeof f === 'string' ? f.slice(0, 80) : f)}`)
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

const KNOWN_SYSTEMS = CODE_SYSTEM_URIS.map((u) => `${u} (${CODE_SYSTEMS[u]})`).join(', ')

/** `codeSystems`: distinct URIs from the closed list, sorted; absent or empty means no filter. */
function checkCodeSystems(what: string, v: unknown, resourceType: ResourceType): CodeSystem[] | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v)) fail(what, `codeSystems must be an array of code system URIs such as ["http://loinc.org"], got ${v === null ? 'null' : typeof v}`)
  if (v.length === 0) return undefined
  const element = CODED_ELEMENT[resourceType]
  if (element === undefined) fail(what, `codeSystems filters a coded element, and ${resourceType} has none that a query may filter; leave codeSystems out`)
  const out: CodeSystem[] = []
  for (const s of v) {
    if (typeof s !== 'string' || !Object.hasOwn(CODE_SYSTEMS, s)) {
      fail(what, `code system ${JSON.stringify(typeof s === 'string' ? s.slice(0, 80) : s)} is not one this grammar allows (a closed list, so that nothing but a well-known terminology goes on chain): ${KNOWN_SYSTEMS}`)
    }
    if (out.includes(s as CodeSystem)) fail(what, `codeSystems lists ${JSON.stringify(s)} twice`)
    out.push(s as CodeSystem)
  }
  return out.sort()
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
  const o = checkShape(what, input, ['resourceType', 'fields', 'codeSystems'], RECORD_QUERY_EXAMPLE)
  const resourceType = checkResourceType(what, o.resourceType)
  const fields = checkFieldList(what, o.fields, 'fields', 1, MAX_FIELDS)
  const codeSystems = checkCodeSystems(what, o.codeSystems, resourceType)
  const query: RecordQuery = codeSystems === undefined ? { resourceType, fields } : { resourceType, fields, codeSystems }
  return { ...build(query), fieldCount: fields.length }
}

/** Validates a bounty query and returns it in canonical form. Throws INVALID_QUERY. */
export function bountyQuery(input: BountyQuery): CanonicalQuery<BountyQuery>
export function bountyQuery(input: unknown): CanonicalQuery<BountyQuery>
export function bountyQuery(input: unknown): CanonicalQuery<BountyQuery> {
  const what = 'invalid bounty query'
  const o = checkShape(what, input, ['resourceType', 'aggregate', 'field', 'groupBy', 'codeSystems'], BOUNTY_QUERY_EXAMPLE)
  const resourceType = checkResourceType(what, o.resourceType)
  if (typeof o.aggregate !== 'string' || !(BOUNTY_AGGREGATES as readonly string[]).includes(o.aggregate)) {
    fail(what, `aggregate must be one of ${BOUNTY_AGGREGATES.join(', ')}, got ${JSON.stringify(o.aggregate)}`)
  }
  const aggregate = o.aggregate as BountyAggregate
  if (aggregate !== 'count' && o.field === undefined) fail(what, `aggregate ${aggregate} needs a field`)
  const field = o.field === undefined ? undefined : checkField(what, o.field)
  const groupBy = o.groupBy === undefined ? undefined : checkFieldList(what, o.groupBy, 'groupBy', 1, MAX_GROUP_BY)
  const codeSystems = checkCodeSystems(what, o.codeSystems, resourceType)
  const query: BountyQuery = { resourceType, aggregate }
  if (field !== undefined) query.field = field
  if (groupBy !== undefined) query.groupBy = groupBy
  if (codeSystems !== undefined) query.codeSystems = codeSystems
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
