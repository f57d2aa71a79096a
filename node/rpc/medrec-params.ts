/**
 * The declared parameter schema of every `medrec_*` method, checked in one place before the
 * gatekeeper sees a call. Every method takes one object parameter (gatekeeper/api.ts); a failure
 * is -32602 naming the field and the shape wanted, in validate.ts's geth-like wording
 * ("invalid argument 0: field relationship: hex string without 0x prefix").
 * Deep structures the gatekeeper owns a grammar for (FHIR resources, record and bounty queries)
 * are checked here only as objects; the gatekeeper's own checks answer -32602 for them too.
 */
import type { MedrecMethod } from '../../gatekeeper/index.ts'
import type { AddPatientParams, AddRecordParams, ApproveParams, AuditParams, FetchParams, ImportParams, RequireConsentParams, ShareParams, UpdateParams } from '../../gatekeeper/index.ts'
import { RpcError } from './errors.ts'
import { address, fieldOf, isObject, kindOf } from './validate.ts'

type Shape =
  | { kind: 'string' }
  | { kind: 'address' }
  | { kind: 'uint' }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  /** Any JSON object; `resourceType` additionally asks for a FHIR resource (of that type when a string). */
  | { kind: 'object'; what: string; resourceType?: true | string }
  | { kind: 'array'; of: Shape; min?: number }
  | { kind: 'record'; fields: Fields }
type Field = Shape & { optional?: true }
type Fields = Readonly<Record<string, Field>>

interface MethodSchema {
  /** 'none': no parameter, or one empty object (the CLI sends `[{}]`). */
  takes: 'none' | 'object' | 'optional object'
  fields: Fields
  /** Rules across fields: the problem, or undefined. */
  check?: (o: Record<string, unknown>) => string | undefined
}

const str: Shape = { kind: 'string' }
const addr: Shape = { kind: 'address' }
const uint: Shape = { kind: 'uint' }
const opt = (s: Shape): Field => ({ ...s, optional: true })
const bountyQuery = opt({ kind: 'object', what: 'a bounty query object' })
const NONE: MethodSchema = { takes: 'none', fields: {} }

function atMostOne(a: string, b: string): MethodSchema['check'] {
  return (o) => (o[a] !== undefined && o[b] !== undefined ? `give "${a}" or "${b}", not both` : undefined)
}

/** What each method takes; the param types of gatekeeper/api.ts, declared as data. */
export const MEDREC_SCHEMAS: Readonly<Record<MedrecMethod, MethodSchema>> = {
  medrec_gatekeeperInfo: NONE,
  medrec_addPatient: { takes: 'object', fields: { identity: str, address: addr, patient: opt({ kind: 'object', what: 'a FHIR Patient resource', resourceType: 'Patient' }), patientId: opt(str) }, check: atMostOne('patient', 'patientId') },
  medrec_addRecord: {
    takes: 'object',
    fields: { identity: opt(str), patientId: opt(str), resources: { kind: 'array', of: { kind: 'object', what: 'a FHIR resource', resourceType: true }, min: 1 }, query: opt({ kind: 'object', what: 'a record query object' }), bounty: bountyQuery },
    check: (o) => (o.identity === undefined && o.patientId === undefined ? 'name the patient by "identity" or "patientId"' : atMostOne('identity', 'patientId')!(o)),
  },
  medrec_update: { takes: 'optional object', fields: { identity: opt(str), patientId: opt(str), bounty: bountyQuery }, check: atMostOne('identity', 'patientId') },
  medrec_import: {
    takes: 'object',
    fields: { bundle: opt({ kind: 'object', what: 'a FHIR Bundle', resourceType: 'Bundle' }), csv: opt(str), resourceType: opt(str), publish: opt({ kind: 'bool' }) },
    check: (o) => {
      if (o.bundle !== undefined) return o.csv === undefined && o.resourceType === undefined ? undefined : 'give "bundle", or "csv" with "resourceType", not both'
      return o.csv !== undefined && o.resourceType !== undefined ? undefined : 'give a FHIR "bundle", or "csv" text with its "resourceType"'
    },
  },
  medrec_consentRequests: NONE,
  medrec_requireConsent: { takes: 'object', fields: { relationship: addr, required: { kind: 'bool' } } },
  medrec_approve: { takes: 'object', fields: { relationship: addr, viewer: addr, grantId: uint } },
  medrec_relationships: NONE,
  medrec_accept: { takes: 'object', fields: { relationship: addr } },
  medrec_reject: { takes: 'object', fields: { relationship: addr } },
  medrec_delete: { takes: 'object', fields: { relationship: addr } },
  medrec_share: {
    takes: 'object',
    fields: { relationship: addr, viewer: addr, items: { kind: 'array', of: { kind: 'record', fields: { pointerId: uint, fields: { kind: 'array', of: uint } } }, min: 1 }, expiresAt: opt(uint) },
  },
  medrec_revoke: { takes: 'object', fields: { relationship: addr, viewer: addr } },
  medrec_fetch: { takes: 'object', fields: { relationship: addr, pointerIds: opt({ kind: 'array', of: uint }), transport: opt({ kind: 'enum', values: ['http', 'p2p'] }) } },
  medrec_audit: { takes: 'optional object', fields: { relationship: opt(addr), gatekeeper: opt(addr) } },
  medrec_anchorAudit: { takes: 'optional object', fields: { delegate: opt(addr) } },
  medrec_bounties: NONE,
  medrec_collectBounty: { takes: 'object', fields: { index: uint } },
  medrec_collectedBounties: NONE,
  medrec_notifications: { takes: 'optional object', fields: { since: opt(uint) } },
}

/** The parameter object each method's handler receives once its schema passed. */
export interface MedrecParams {
  medrec_addPatient: AddPatientParams
  medrec_addRecord: AddRecordParams
  medrec_update: UpdateParams
  medrec_import: ImportParams
  medrec_accept: { relationship: string }
  medrec_reject: { relationship: string }
  medrec_delete: { relationship: string }
  medrec_requireConsent: RequireConsentParams
  medrec_approve: ApproveParams
  medrec_share: ShareParams
  medrec_revoke: { relationship: string; viewer: string }
  medrec_fetch: FetchParams
  medrec_audit: AuditParams
  medrec_collectBounty: { index: number }
  medrec_anchorAudit: { delegate?: string }
  medrec_notifications: { since?: number }
}


/** A field list in a compact TypeScript-like notation, for messages: `{relationship: address, pointerIds?: uint[]}`. */
export function describeFields(fields: Fields): string {
  return `{${Object.entries(fields).map(([k, f]) => `${k}${f.optional === true ? '?' : ''}: ${describe(f)}`).join(', ')}}`
}

function describe(s: Shape): string {
  switch (s.kind) {
    case 'string': return 'string'
    case 'address': return 'address'
    case 'uint': return 'uint'
    case 'bool': return 'boolean'
    case 'enum': return s.values.map((v) => JSON.stringify(v)).join(' | ')
    case 'object': return s.resourceType === undefined ? 'object' : typeof s.resourceType === 'string' ? `${s.resourceType} resource` : 'resource'
    case 'array': return `${describe(s.of)}[]`
    case 'record': return describeFields(s.fields)
  }
}

function bad(where: string, problem: string): RpcError {
  return RpcError.invalidParams(`${where}: ${problem}`)
}

function checkShape(v: unknown, s: Shape, where: string): void {
  switch (s.kind) {
    case 'string':
      if (typeof v !== 'string' || v === '') throw bad(where, `expected a non-empty string, got ${typeof v === 'string' ? 'an empty one' : kindOf(v)}`)
      return
    case 'address':
      address(v, where)
      return
    case 'uint':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(where, `expected a non-negative integer (JSON number), got ${typeof v === 'number' ? v : kindOf(v)}`)
      return
    case 'bool':
      if (typeof v !== 'boolean') throw bad(where, `expected true or false, got ${kindOf(v)}`)
      return
    case 'enum':
      if (typeof v !== 'string' || !s.values.includes(v)) throw bad(where, `expected ${describe(s)}, got ${typeof v === 'string' ? JSON.stringify(v) : kindOf(v)}`)
      return
    case 'object': {
      if (!isObject(v)) throw bad(where, `expected ${s.what}, got ${kindOf(v)}`)
      if (s.resourceType === undefined) return
      const rt = v.resourceType
      if (typeof rt !== 'string' || rt === '') throw bad(where, `expected ${s.what} with a "resourceType", got ${rt === undefined ? 'none' : kindOf(rt)}`)
      if (typeof s.resourceType === 'string' && rt !== s.resourceType) throw bad(where, `expected ${s.what}, got resourceType ${JSON.stringify(rt)}`)
      return
    }
    case 'array':
      if (!Array.isArray(v)) throw bad(where, `expected ${describe(s)}, got ${kindOf(v)}`)
      if (s.min !== undefined && v.length < s.min) throw bad(where, `expected at least ${s.min} element${s.min === 1 ? '' : 's'} (${describe(s)}), got ${v.length}`)
      v.forEach((x, i) => checkShape(x, s.of, `${where}[${i}]`))
      return
    case 'record':
      checkFields(v, s.fields, where)
      return
  }
}

function checkFields(v: unknown, fields: Fields, where: string): asserts v is Record<string, unknown> {
  if (!isObject(v)) throw bad(where, `expected ${describeFields(fields)}, got ${kindOf(v)}`)
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(fields, key)) throw bad(where, `unknown field "${key}"; expected ${describeFields(fields)}`)
  }
  for (const [key, f] of Object.entries(fields)) {
    const at = where.includes('field ') ? `${where}.${key}` : fieldOf(where, key)
    // null counts as absent, as for eth_* objects.
    if (v[key] === undefined || v[key] === null) {
      if (f.optional !== true) throw bad(at, `required: ${describe(f)}`)
      delete v[key]
      continue
    }
    checkShape(v[key], f, at)
  }
}

/**
 * Checks `params` against `method`'s schema and returns its parameter object (a fresh parse of
 * the request, so dropping null fields mutates nothing the caller keeps). Throws -32602.
 */
export function medrecParams<M extends keyof MedrecParams>(method: M, params: unknown[]): MedrecParams[M]
export function medrecParams(method: MedrecMethod, params: unknown[]): Record<string, unknown>
export function medrecParams(method: MedrecMethod, params: unknown[]): Record<string, unknown> {
  const schema = MEDREC_SCHEMAS[method]
  const usage = schema.takes === 'none' ? `${method} takes no parameters` : `${method} takes one object parameter ${describeFields(schema.fields)}`
  if (params.length > 1) throw RpcError.invalidParams(`too many arguments, want at most 1: ${usage}`)
  const p = params[0]
  if (p === undefined || p === null) {
    if (schema.takes === 'object') throw RpcError.invalidParams(`missing value for required argument 0: ${usage}`)
    return {}
  }
  if (!isObject(p)) throw RpcError.invalidParams(`invalid argument 0: expected an object, got ${kindOf(p)}: ${usage}`)
  if (schema.takes === 'none' && Object.keys(p).length > 0) throw RpcError.invalidParams(`invalid argument 0: ${usage} (or {}), got fields ${Object.keys(p).map((k) => `"${k}"`).join(', ')}`)
  checkFields(p, schema.fields, 'invalid argument 0')
  const problem = schema.check?.(p)
  if (problem !== undefined) throw RpcError.invalidParams(`invalid argument 0: ${problem}; ${usage}`)
  return p
}
