import { GatekeeperErrorCode } from '../errors.ts'
import { fhirError } from './outcome.ts'

/**
 * FHIR date search (http://hl7.org/fhir/R4/search.html#date): every date is a range, the span
 * its precision implies (`2026` is the whole year, `2026-01-02T03:04:05Z` one second), and a
 * prefix compares the resource's range with the parameter's. Dates without a time are taken in
 * UTC; a time must carry its zone.
 */

/** Milliseconds since the epoch, [lo, hi). */
export interface DateRange {
  lo: number
  hi: number
}

export type DatePrefix = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'

export interface DateTest {
  prefix: DatePrefix
  range: DateRange
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/

/** The range a FHIR date, dateTime or instant spans; undefined when it is not one. */
export function parseDate(text: string): DateRange | undefined {
  const m = DATE.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const year = Number(y)
  const month = mo === undefined ? undefined : Number(mo)
  const day = d === undefined ? undefined : Number(d)
  if (month !== undefined && (month < 1 || month > 12)) return undefined
  if (month === undefined) return { lo: Date.UTC(year, 0, 1), hi: Date.UTC(year + 1, 0, 1) }
  if (day === undefined) return { lo: Date.UTC(year, month - 1, 1), hi: Date.UTC(year, month, 1) }
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined
  if (h === undefined) return { lo: Date.UTC(year, month - 1, day), hi: Date.UTC(year, month - 1, day + 1) }
  const hour = Number(h)
  const minute = Number(mi)
  const second = s === undefined ? 0 : Number(s)
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offset = 0
  if (zone !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1
    const [zh, zm] = zone!.slice(1).split(':').map(Number) as [number, number]
    if (zh > 14 || zm > 59) return undefined
    offset = sign * (zh * 60 + zm) * 60_000
  }
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'))
  const lo = Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset
  const span = s === undefined ? 60_000 : frac === undefined ? 1000 : 1
  return { lo, hi: lo + span }
}

export function parseDateParam(name: string, value: string): DateTest {
  const m = /^(eq|ne|lt|le|gt|ge)?(.*)$/.exec(value)!
  const range = parseDate(m[2]!)
  if (range === undefined) {
    const prefix = /^[a-z]{2}/.exec(value)?.[0]
    const hint = prefix !== undefined && ['sa', 'eb', 'ap'].includes(prefix) ? `prefix ${prefix} is not supported (eq, ne, lt, le, gt, ge are)` : 'give YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with its zone (2026-01-02T03:04:05Z), after an optional prefix eq, ne, lt, le, gt or ge'
    throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `${name}: "${value.slice(0, 80)}" is not a date this server searches by: ${hint}`)
  }
  return { prefix: (m[1] as DatePrefix | undefined) ?? 'eq', range }
}

/** The range of a resource's date element: a date/dateTime/instant string or a Period. */
export function dateRange(value: unknown): DateRange | undefined {
  if (typeof value === 'string') return parseDate(value)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const p = value as { start?: unknown; end?: unknown }
  const start = typeof p.start === 'string' ? parseDate(p.start) : undefined
  const end = typeof p.end === 'string' ? parseDate(p.end) : undefined
  if (start === undefined && end === undefined) return undefined
  // An open end runs on for ever (R4: a Period without end is ongoing).
  return { lo: start?.lo ?? -Infinity, hi: end?.hi ?? Infinity }
}

/** The search spec's comparisons of a resource range `r` with the parameter's range `p`. */
export function matchesDate(r: DateRange, t: DateTest): boolean {
  const p = t.range
  switch (t.prefix) {
    case 'eq':
      return r.lo >= p.lo && r.hi <= p.hi
    case 'ne':
      return !(r.lo >= p.lo && r.hi <= p.hi)
    case 'lt':
      return r.lo < p.lo
    case 'le':
      return r.lo < p.hi
    case 'gt':
      return r.hi > p.hi
    case 'ge':
      return r.hi > p.lo
  }
}
