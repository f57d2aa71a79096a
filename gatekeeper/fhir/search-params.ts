import type { ResourceType } from '../../contracts/client/index.ts'
import { GatekeeperErrorCode } from '../errors.ts'
import { valueAt } from '../fhir-path.ts'
import type { FhirResource } from '../types.ts'
import { dateRange, matchesDate, parseDateParam, type DateTest } from './dates.ts'
import { fhirError } from './outcome.ts'

/**
 * The search parameters the FHIR API implements, per resource type: exactly these are declared in
 * the CapabilityStatement and accepted; any other parameter, modifier or prefix is refused with a
 * 400 OperationOutcome naming it (a parameter ignored would widen the result).
 *
 * Filters are applied to the records as projected for the reader, never to the stored ones: a
 * `code=` search by a viewer not granted `code` matches nothing, so a filter is no oracle on
 * withheld fields.
 */

export interface SearchParamDef {
  name: string
  type: 'token' | 'reference' | 'date'
  documentation: string
  /** token: the CodeableConcept searched; date: the elements, in order (a dateTime, Period or instant each). */
  paths?: readonly string[]
}

const PATIENT: SearchParamDef = { name: 'patient', type: 'reference', documentation: 'The launch patient only (`Patient/<id>` or `<id>`); another patient is refused (403).' }
const SUBJECT: SearchParamDef = { name: 'subject', type: 'reference', documentation: 'As `patient`: the launch patient only.' }
const ID: SearchParamDef = { name: '_id', type: 'token', documentation: 'Logical ids, comma-separated (OR).' }
const code = (name: string, path: string): SearchParamDef => ({ name, type: 'token', paths: [path], documentation: `\`${path}\` by \`system|code\`, \`code\`, \`|code\` or \`system|\`; comma-separated values OR, repeated parameters AND; matched against the fields the reader may read.` })
const date = (paths: readonly string[]): SearchParamDef => ({ name: 'date', type: 'date', paths, documentation: `\`${paths.join(' | ')}\` with prefixes eq, ne, lt, le, gt, ge; precision year to milliseconds (a time needs a zone); repeated parameters AND.` })

export const SEARCH_PARAMS: Readonly<Record<ResourceType, readonly SearchParamDef[]>> = {
  Patient: [ID],
  Encounter: [ID, PATIENT, SUBJECT, code('type', 'type'), date(['period'])],
  Observation: [ID, PATIENT, SUBJECT, code('code', 'code'), date(['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'])],
  Condition: [ID, PATIENT, SUBJECT, code('code', 'code')],
  MedicationRequest: [ID, PATIENT, SUBJECT, code('code', 'medicationCodeableConcept')],
  Immunization: [ID, PATIENT, code('vaccine-code', 'vaccineCode'), date(['occurrenceDateTime'])],
  DocumentReference: [ID, PATIENT, SUBJECT, code('type', 'type'), date(['date'])],
}

/** Result parameters every search (and $everything) takes. */
export const DEFAULT_COUNT = 50
export const MAX_COUNT = 1000
const MAX_OFFSET = 1_000_000
/** Longest parameter value accepted; real values are far shorter. */
const MAX_VALUE = 1024
/** FHIR's id: [A-Za-z0-9\-\.]{1,64}. */
export const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/

interface TokenTest {
  system?: string
  code?: string
}

export interface SearchRequest {
  ids?: Set<string>
  /** The launch patient as the request named it (checked by the caller), each occurrence. */
  patients: string[]
  /** AND of OR lists, each over one CodeableConcept path. */
  tokens: { path: string; anyOf: TokenTest[] }[]
  dates: { paths: readonly string[]; test: DateTest }[]
  count: number
  offset: number
  /** $everything only: the resource types asked for. */
  types?: Set<string>
  /** The parameters as accepted, for the Bundle's self and next links (paging ones rebuilt). */
  echo: [string, string][]
}

const bad = (message: string) => fhirError(GatekeeperErrorCode.BAD_REQUEST, message)
const unsupported = (message: string) => fhirError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, message)

function integer(name: string, value: string, min: number, max: number): number {
  if (!/^[0-9]{1,7}$/.test(value) || Number(value) < min || Number(value) > max) throw bad(`${name} must be an integer from ${min} to ${max}, got "${value.slice(0, 40)}"`)
  return Number(value)
}

/** Splits on unescaped `sep` (FHIR search escaping: `\,` `\|` `\$` `\\`); `unescape`: the parts without their backslashes, else as written. */
function splitEscaped(value: string, sep: string, unescape = true): string[] {
  const out: string[] = []
  let cur = ''
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '\\') {
      const n = value[i + 1]
      if (n === undefined || !',|$\\'.includes(n)) throw bad(`a backslash in a search value escapes , | $ or \\ only`)
      cur += unescape ? n : `\\${n}`
      i++
    } else if (c === sep) {
      out.push(cur)
      cur = ''
    } else cur += c
  }
  out.push(cur)
  return out
}

function token(name: string, value: string): TokenTest {
  const parts = splitEscaped(value, '|')
  if (parts.length > 2) throw bad(`${name}: a token is code, system|code, |code or system|, got "${value.slice(0, 80)}"`)
  if (parts.length === 1) {
    if (parts[0] === '') throw bad(`${name}: an empty code`)
    return { code: parts[0] }
  }
  const [system, c] = parts as [string, string]
  if (system === '' && c === '') throw bad(`${name}: "|" names neither a system nor a code`)
  // `|code`: a coding without a system.
  return system === '' ? { system: '', code: c } : c === '' ? { system } : { system, code: c }
}

/**
 * The search of `type` these parameters ask for; everything not implemented is refused by name.
 * `everything`: the parameters of Patient/$everything (`_count`, `_offset`, `_type`) instead.
 */
export function parseSearch(type: ResourceType | '$everything', params: URLSearchParams): SearchRequest {
  const defs = type === '$everything' ? [] : SEARCH_PARAMS[type]
  const out: SearchRequest = { patients: [], tokens: [], dates: [], count: DEFAULT_COUNT, offset: 0, echo: [] }
  const seen = new Set<string>()
  for (const [name, value] of params) {
    if (value.length > MAX_VALUE || name.length > 64) throw bad(`search parameter ${name.slice(0, 64)} is longer than ${MAX_VALUE} characters`)
    if (value.includes('\u0000') || name.includes('\u0000')) throw bad('a search parameter holds a NUL character')
    const once = () => {
      if (seen.has(name)) throw bad(`search parameter ${name} is given twice: give it once`)
      seen.add(name)
    }
    if (name === '_count') {
      once()
      out.count = integer('_count', value, 1, MAX_COUNT)
      continue
    }
    if (name === '_offset') {
      once()
      out.offset = integer('_offset', value, 0, MAX_OFFSET)
      continue
    }
    if (name === '_format') {
      once()
      if (!['json', 'application/json', 'application/fhir+json'].includes(value)) throw fhirError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, `_format ${value.slice(0, 40)} is not served: this server speaks JSON only`, 406)
      continue
    }
    if (type === '$everything') {
      if (name !== '_type') throw unsupported(`Patient/$everything takes _count, _offset and _type; ${name.slice(0, 64)} is not supported`)
      once()
      out.types = new Set(value.split(','))
      out.echo.push([name, value])
      continue
    }
    const def = defs.find((d) => d.name === name)
    if (def === undefined) {
      const known = ['_count', '_offset', ...defs.map((d) => d.name)].join(', ')
      throw unsupported(`search parameter ${name.slice(0, 64)} is not supported on ${type}: this server implements ${known} (see /fhir/metadata)`)
    }
    out.echo.push([name, value])
    if (def.name === '_id') {
      once()
      const ids = value.split(',')
      for (const id of ids) if (!FHIR_ID.test(id)) throw bad(`_id "${id.slice(0, 80)}" is not a FHIR id ([A-Za-z0-9.-], 1 to 64 characters)`)
      out.ids = new Set(ids)
    } else if (def.type === 'reference') {
      if (value.includes(',')) throw bad(`${name}: name one patient, the launch patient`)
      out.patients.push(value)
    } else if (def.type === 'token') {
      out.tokens.push({ path: def.paths![0]!, anyOf: splitEscaped(value, ',', false).map((v) => token(name, v)) })
    } else {
      out.dates.push({ paths: def.paths!, test: parseDateParam(name, value) })
    }
  }
  return out
}

function codingMatches(coding: unknown, t: TokenTest): boolean {
  if (coding === null || typeof coding !== 'object') return false
  const c = coding as { system?: unknown; code?: unknown }
  if (t.code !== undefined && c.code !== t.code) return false
  if (t.system === undefined) return true
  return t.system === '' ? c.system === undefined : c.system === t.system
}

/** Whether a (projected) resource passes every filter of the search. */
export function matches(resource: FhirResource, s: SearchRequest): boolean {
  if (s.ids !== undefined && !s.ids.has(resource.id)) return false
  for (const { path, anyOf } of s.tokens) {
    const codings = valueAt(resource, `${path}.coding`)
    const list = Array.isArray(codings) ? codings : codings === undefined ? [] : [codings]
    if (!list.some((c) => anyOf.some((t) => codingMatches(c, t)))) return false
  }
  for (const { paths, test } of s.dates) {
    const range = paths.map((p) => dateRange(valueAt(resource, p))).find((r) => r !== undefined)
    if (range === undefined || !matchesDate(range, test)) return false
  }
  return true
}
