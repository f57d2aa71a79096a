/**
 * `medrec bench compare DIR...`: runs side by side, one column per result directory, as a
 * markdown table (what the README's tables are made from) or plain text.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BenchError, BenchErrorCode } from './errors.ts'
import { summaryRows } from './report.ts'
import type { BenchResult } from './types.ts'

/** Reads DIR/result.json, refusing what is not a `medrec bench run` result of a version we know. */
export async function readResult(dir: string): Promise<BenchResult> {
  const file = join(dir, 'result.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new BenchError(BenchErrorCode.BAD_RESULT, `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): pass directories written by "medrec bench run --out DIR"`, { dir }, err)
  }
  let r: Partial<BenchResult>
  try {
    r = JSON.parse(text) as Partial<BenchResult>
  } catch (err) {
    throw new BenchError(BenchErrorCode.BAD_RESULT, `${file} is not JSON: ${(err as Error).message}`, { dir }, err)
  }
  if (r.version !== 1 || r.config === undefined || r.summary === undefined) {
    throw new BenchError(BenchErrorCode.BAD_RESULT, `${file} is not a "medrec bench run" result (version 1 with config and summary)`, { dir })
  }
  return r as BenchResult
}

/** A short name for a run's column: "PoA ×4, transfer 50/s". */
export function runLabel(r: BenchResult): string {
  const c = r.config
  const engine = c.consensus === 'poa' ? 'PoA' : c.consensus === 'pow' ? 'PoW' : 'RPC'
  const load = c.clients !== null && c.clients !== undefined ? `${c.clients} clients` : `${c.rate}/s`
  return `${engine} ×${c.nodes}, ${c.workload} ${load}`
}

/** The comparison rows: setup first, then every summary figure, one column per run. */
export function compareRows(results: readonly BenchResult[]): { header: string[]; rows: string[][] } {
  const setup: Array<[string, (r: BenchResult) => string]> = [
    ['consensus, period', (r) => (r.config.consensus === 'external' ? `--rpc ${(r.config.rpc ?? []).join(',')}` : `${r.config.consensus}, ${r.config.period} s`)],
    ['load', (r) => (r.config.clients !== null && r.config.clients !== undefined ? `closed loop, ${r.config.clients} clients` : `open loop, ${r.config.rate}/s`)],
    ['nodes', (r) => String(r.config.nodes)],
    ['workload', (r) => r.config.workload],
    ['measured / warm-up (s)', (r) => `${r.config.duration} / ${r.config.warmup}`],
  ]
  const figures = results.map((r) => summaryRows(r.summary))
  const names = figures[0]?.map(([k]) => k) ?? []
  return {
    header: ['', ...results.map(runLabel)],
    rows: [...setup.map(([k, f]) => [k, ...results.map(f)]), ...names.map((k, i) => [k, ...figures.map((f) => f[i]?.[1] ?? '')])],
  }
}

export function compareMarkdown(results: readonly BenchResult[]): string {
  const { header, rows } = compareRows(results)
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line), '', ...results.map((r, i) => `${i + 1}. \`${r.config.command}\``)].join('\n') + '\n'
}
