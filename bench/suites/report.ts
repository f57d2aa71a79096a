export interface Row {
  metric: string
  value: string
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  // Comparison, not subtraction: values may be Infinity (never happened).
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** Prints a two-column table to stdout, or JSON lines with `--json`. */
export function printTable(title: string, rows: Row[], json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ bench: title, rows }) + '\n')
    return
  }
  const w = Math.max(...rows.map((r) => r.metric.length), 10)
  process.stdout.write(`\n${title}\n${'-'.repeat(w + 16)}\n`)
  for (const r of rows) process.stdout.write(`${r.metric.padEnd(w)}  ${r.value}\n`)
}
