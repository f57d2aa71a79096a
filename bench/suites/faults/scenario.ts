/** What every fault scenario shares: its options, its result, and the verdict rows. */
import type { Row } from '../report.ts'

export interface ScenarioOptions {
  /** Fewer rounds and shorter phases: the whole suite in a few minutes. */
  quick: boolean
}

export interface ScenarioResult {
  title: string
  /** pass: the expectation held; fail: it did not (the rows say where); skip: cannot run here (the rows say why). */
  verdict: 'pass' | 'fail' | 'skip'
  expectation: string
  rows: Row[]
}

export interface Scenario {
  name: string
  /** One line for --help and the docs. */
  description: string
  run(o: ScenarioOptions): Promise<ScenarioResult>
}

/** The rows a result prints: verdict and expectation first, then the figures. */
export function resultRows(r: ScenarioResult): Row[] {
  return [{ metric: 'verdict', value: r.verdict.toUpperCase() }, { metric: 'expected', value: r.expectation }, ...r.rows]
}

export const fmt = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
export const seconds = (ms: number): string => `${fmt(ms / 1000)} s`
