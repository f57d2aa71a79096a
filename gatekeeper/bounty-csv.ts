/**
 * Collected bounties as the researcher's dataset: one CSV row per released cell (RFC 4180
 * quoting, CRLF lines). `medrec bounty export --csv` writes it and the app's researcher screen
 * builds the same bytes in the browser, so this file stays pure (no Node, no DOM).
 */
import type { BountyResult } from './api.ts'

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
