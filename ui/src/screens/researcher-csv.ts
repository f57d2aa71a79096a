/**
 * The researcher's dataset as CSV (gatekeeper/bounty-csv.ts, the bytes `medrec bounty export
 * --csv` writes, built in the browser from the results the screen already has: no server round
 * trip), and bounty queries in words. Pure functions, no DOM: the unit tests import this file.
 */
export { bountiesCsv } from '../../../gatekeeper/bounty-csv.ts'

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
