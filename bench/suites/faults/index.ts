/**
 * `npm run bench -- faults [--only a,b] [--quick] [--json]`: the reliability suite (issue 19).
 * Each scenario drives real node processes into one fault, prints what it found (a table, or a
 * JSON line with --json) with a verdict against its expectation, and cleans up after itself.
 * Scenarios that need what this machine lacks (root for tmpfs and network namespaces,
 * libfaketime) say so and are skipped, not failed.
 */
import { errorMessage } from '../../../common/errors.ts'
import { printTable } from '../report.ts'
import { byzantineScenario } from './byzantine.ts'
import { clockSkewScenario } from './clock-skew.ts'
import { diskFullScenario } from './disk-full.ts'
import { lossyLinkScenario } from './lossy-link.ts'
import { partitionScenario } from './partition.ts'
import { resultRows, type Scenario, type ScenarioResult } from './scenario.ts'
import { sigkillScenario } from './sigkill.ts'

export const FAULT_SCENARIOS: readonly Scenario[] = [sigkillScenario, diskFullScenario, partitionScenario, lossyLinkScenario, clockSkewScenario, byzantineScenario]

/** Scenario names from `--only a,b` (all when empty); throws naming an unknown one. */
export function selectScenarios(only: string | undefined): Scenario[] {
  if (only === undefined || only.trim() === '') return [...FAULT_SCENARIOS]
  const names = only.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const n of names) {
    if (!FAULT_SCENARIOS.some((s) => s.name === n)) throw new Error(`unknown fault scenario "${n}": choose from ${FAULT_SCENARIOS.map((s) => s.name).join(', ')}`)
  }
  return FAULT_SCENARIOS.filter((s) => names.includes(s.name))
}

/** Runs the scenarios one after another, printing each result; resolves with every verdict. A scenario that throws is a failure with its error. */
export async function runFaults(o: { only?: string; quick: boolean; json: boolean }): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = []
  const chosen = selectScenarios(o.only)
  for (const s of chosen) {
    process.stderr.write(`  fault scenario ${s.name}: ${s.description}\n`)
    const started = performance.now()
    const r = await s.run({ quick: o.quick }).catch(
      (err: unknown): ScenarioResult => ({ title: `${s.name}: ${s.description}`, verdict: 'fail', expectation: 'the scenario runs to its end', rows: [{ metric: 'error', value: errorMessage(err) }] }),
    )
    r.rows.push({ metric: 'scenario wall time', value: `${((performance.now() - started) / 1000).toFixed(0)} s` })
    printTable(`faults/${s.name} — ${r.title}`, resultRows(r), o.json)
    results.push(r)
  }
  const summary = results.map((r, i) => ({ metric: chosen[i]!.name, value: r.verdict.toUpperCase() }))
  printTable('faults — summary', summary, o.json)
  return results
}
