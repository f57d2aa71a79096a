/**
 * The researcher's dataset as CSV, and bounty queries in words. The CSV is exactly what
 * `medrec bounty export --csv` writes (cli/commands/bounty.ts `bountiesCsv`, the same columns,
 * RFC 4180 quoting, CRLF lines; test/ui/researcher-csv.test.ts holds the two equal), built in the
 * browser from the collected results the screen already has: no server round trip. Pure functions,
 * no DOM: the unit tests import this file directly.
 */
import type { BountyResult } from '../../../gatekeeper/api.ts'

/** RFC 4180: quote a field holding a comma, quote, CR or LF; double the quotes inside. */
function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v
}

/** One CSV row per released cell of every collected bounty. */
export function bountiesCsv(results: readonly BountyResult[]): string {
  const keys = [...new Set(results.flatMap((r) => r.cells.flatMap((c) => Object.keys(c.group))))].sort()
  const header = ['index', 'relationship', 'provider', 'k', ...keys.map((k) => `group.${k}`), 'patients', 'records', 'value']
  const rows = results.flatMap((r) =>
    r.cells.map((c) => [String(r.index), r.relationship, r.provider, String(r.k), ...keys.map((k) => (c.group[k] === undefined ? '' : String(c.group[k]))), String(c.patients), String(c.records), c.value === null ? '' : String(c.value)]),
  )
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n'
}

const AGGREGATE_WORDS: Record<string, string> = { count: 'Number', sum: 'Sum', mean: 'Mean', min: 'Lowest', max: 'Highest' }

/**
 * A bounty query as a person reads it: "Number of Observation records, by code". The stored text
 * is the canonical JSON the chain holds; anything else is shown as it is, quoted.
 */
export function describeBountyQuery(text: string): string {
  let q: unknown
  try {
    q = JSON.parse(text)
  } catch {
    return `unreadable query ${JSON.stringify(text.slice(0, 80))}`
  }
  if (typeof q !== 'object' || q === null) return `unreadable query ${JSON.stringify(text.slice(0, 80))}`
  const o = q as { resourceType?: unknown; aggregate?: unknown; field?: unknown; groupBy?: unknown; codeSystems?: unknown }
  const type = typeof o.resourceType === 'string' ? o.resourceType : 'unknown'
  const agg = typeof o.aggregate === 'string' ? o.aggregate : 'count'
  const what = agg === 'count' ? `${AGGREGATE_WORDS.count} of ${type} records` : `${AGGREGATE_WORDS[agg] ?? agg} of ${type} ${typeof o.field === 'string' ? o.field : 'value'}`
  const by = Array.isArray(o.groupBy) && o.groupBy.length > 0 ? `, by ${o.groupBy.map(String).join(' and ')}` : ''
  const systems = Array.isArray(o.codeSystems) && o.codeSystems.length > 0 ? ` (codes from ${o.codeSystems.map(String).join(', ')})` : ''
  return `${what}${by}${systems}`
}

/** A cell's group as one label: "code=8480-6, unit=mmHg" ("all records" when the query has no groupBy). */
export function groupLabel(group: Record<string, string | number | boolean | null>): string {
  const parts = Object.keys(group)
    .sort()
    .map((k) => `${k}=${group[k] === null ? '(none)' : String(group[k])}`)
  return parts.length === 0 ? 'all records' : parts.join(', ')
}
