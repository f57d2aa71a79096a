import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * Small FHIR R4 value helpers shared by extraction, search and import: dates as ranges,
 * codings, ids and references. Pure functions; errors are INVALID_IMPORT (stored data)
 * unless the caller rewraps them.
 */

/** FHIR R4 `id`: letters, digits, '-' and '.', 1 to 64 characters. Also keeps ids free of '/' so references parse. */
export const FHIR_ID_RE = /^[A-Za-z0-9\-.]{1,64}$/

/** The Patient.identifier system whose value is the patient's MedRec identity string. */
export const MEDREC_IDENTITY_SYSTEM = 'urn:medrec:identity'

export function invalid(message: string, context?: Record<string, unknown>): never {
  throw new GatekeeperError(GatekeeperErrorCode.INVALID_IMPORT, message, context)
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v) as unknown
  return proto === Object.prototype || proto === null
}

const MAX_DEPTH = 64
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** String.prototype.isWellFormed (ES2024, beyond this project's lib setting). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s)
}

/**
 * Checks that a value is plain JSON that survives a round trip unchanged: objects (undefined members count as absent), arrays,
 * well-formed strings (no lone surrogates: FHIR strings are Unicode), finite numbers, booleans, null.
 */
export function checkJson(value: unknown, path: string, depth = 0): void {
  if (depth > MAX_DEPTH) invalid(`${path} nests deeper than ${MAX_DEPTH} levels`)
  if (value === null || typeof value === 'boolean') return
  if (typeof value === 'string') {
    if (!isWellFormed(value)) invalid(`${path} is not well-formed Unicode (it has a lone surrogate); FHIR strings must be valid Unicode`)
    return
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) invalid(`${path} is ${value}, which JSON cannot hold`)
    return
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, depth + 1))
    return
  }
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (!isWellFormed(k)) invalid(`${path} has a key that is not well-formed Unicode`)
      // An undefined member is absent, as JSON.stringify treats it.
      if (v !== undefined) checkJson(v, `${path}.${k}`, depth + 1)
    }
    return
  }
  invalid(`${path} is a ${typeof value}, which is not JSON`)
}

// ---- dates ----

/** A FHIR date, dateTime or instant as the half-open range of milliseconds it covers at its precision. */
export interface DateRange {
  start: number
  /** Exclusive. */
  end: number
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/

function utc(year: number, month: number, day: number, h = 0, mi = 0, s = 0, ms = 0): number {
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  const d = new Date(0)
  d.setUTCFullYear(year, month, day)
  d.setUTCHours(h, mi, s, ms)
  return d.getTime()
}

/**
 * Parses `2024`, `2024-03`, `2024-03-05`, `2024-03-05T10:30`, `2024-03-05T10:30:00(.123)(Z|+01:00)`.
 * A time without a zone is taken as UTC. Returns undefined when the text is not such a date.
 */
export function parseFhirDate(text: string): DateRange | undefined {
  const m = DATE_RE.exec(text)
  if (m === null) return undefined
  const year = Number(m[1])
  if (m[2] === undefined) return { start: utc(year, 0, 1), end: utc(year + 1, 0, 1) }
  const month = Number(m[2]) - 1
  if (month < 0 || month > 11) return undefined
  if (m[3] === undefined) return { start: utc(year, month, 1), end: utc(year, month + 1, 1) }
  const day = Number(m[3])
  if (day < 1 || day > new Date(utc(year, month + 1, 0)).getUTCDate()) return undefined
  if (m[4] === undefined) return { start: utc(year, month, day), end: utc(year, month, day + 1) }
  const h = Number(m[4])
  const mi = Number(m[5])
  const s = m[6] === undefined ? 0 : Number(m[6])
  if (h > 23 || mi > 59 || s > 59) return undefined
  const frac = m[7] ?? ''
  const ms = frac === '' ? 0 : Math.floor(Number(`0.${frac}`) * 1000)
  let offset = 0
  const zone = m[8]
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1
    const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number]
    if (zh > 14 || zm > 59) return undefined
    offset = sign * (zh * 60 + zm) * 60_000
  }
  const start = utc(year, month, day, h, mi, s, ms) - offset
  const width = m[6] === undefined ? 60_000 : frac.length === 0 ? 1000 : frac.length === 1 ? 100 : frac.length === 2 ? 10 : 1
  return { start, end: start + width }
}

// ---- element access (typed; a wrong JSON type is an import error naming the element) ----

export function optString(o: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') invalid(`${path}.${key} must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}`)
  return v
}

export function optObject(o: Record<string, unknown>, key: string, path: string): Record<string, unknown> | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (!isPlainObject(v)) invalid(`${path}.${key} must be an object`)
  return v
}

/** An element that FHIR defines as 0..* : an array of objects. */
export function optObjects(o: Record<string, unknown>, key: string, path: string): Record<string, unknown>[] {
  const v = o[key]
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || !v.every(isPlainObject)) invalid(`${path}.${key} must be an array of objects`)
  return v
}

export function optNumber(o: Record<string, unknown>, key: string, path: string): number | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) invalid(`${path}.${key} must be a number`)
  return v
}

export function optBoolean(o: Record<string, unknown>, key: string, path: string): boolean | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') invalid(`${path}.${key} must be true or false`)
  return v
}

export function optDate(o: Record<string, unknown>, key: string, path: string): DateRange | undefined {
  const text = optString(o, key, path)
  if (text === undefined) return undefined
  const range = parseFhirDate(text)
  if (range === undefined) invalid(`${path}.${key} ${JSON.stringify(text.slice(0, 40))} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm))`)
  return range
}

/** A Period as one range: from its start's start to its end's end (open sides stay open). */
export function optPeriod(o: Record<string, unknown>, key: string, path: string): DateRange | undefined {
  const p = optObject(o, key, path)
  if (p === undefined) return undefined
  const start = optDate(p, 'start', `${path}.${key}`)
  const end = optDate(p, 'end', `${path}.${key}`)
  if (start === undefined && end === undefined) return undefined
  return { start: start?.start ?? Number.MIN_SAFE_INTEGER, end: end?.end ?? Number.MAX_SAFE_INTEGER }
}

// ---- codings ----

export interface Token {
  system: string
  code: string
}

/** The system|code pairs of a Coding (only those with a code). */
export function codingTokens(coding: Record<string, unknown> | undefined, path: string): Token[] {
  if (coding === undefined) return []
  const code = optString(coding, 'code', path)
  if (code === undefined) return []
  return [{ system: optString(coding, 'system', path) ?? '', code }]
}

/** The system|code pairs of a CodeableConcept, in coding order. */
export function conceptTokens(concept: Record<string, unknown> | undefined, path: string): Token[] {
  if (concept === undefined) return []
  return optObjects(concept, 'coding', path).flatMap((c, i) => codingTokens(c, `${path}.coding[${i}]`))
}

/** The tokens of a 0..* CodeableConcept element. */
export function conceptsTokens(o: Record<string, unknown>, key: string, path: string): Token[] {
  return optObjects(o, key, path).flatMap((c, i) => conceptTokens(c, `${path}.${key}[${i}]`))
}

/** `Patient/<id>` → id; anything else undefined. */
export function patientIdOfReference(reference: string): string | undefined {
  const m = /^Patient\/([^/]+)$/.exec(reference)
  return m !== null && FHIR_ID_RE.test(m[1]!) ? m[1] : undefined
}
