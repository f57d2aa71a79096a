/**
 * `node test/run.ts --report-cpu`: every Node process of the run loads this module first (through
 * NODE_OPTIONS, which the test processes hand down to the node and CLI processes they start) and, as
 * it exits, appends its CPU time to MEDREC_TEST_CPU_OUT on behalf of the test file whose process
 * started it (directly or not). run.ts then prints cpuTable() of those lines.
 *
 * What it misses: processes that are killed (SIGKILL runs no exit handler), and what is not Node
 * (cast, Chromium). Worker threads are in their process's figure (process.cpuUsage is per process).
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isMainThread } from 'node:worker_threads'

const out = process.env['MEDREC_TEST_CPU_OUT']
/** CPU seconds this process already reported on behalf of the files of its group (chargeFile()). */
let charged = 0
/** This process is the first of its chain, the test runner's: only it reports per file (chargeFile()). */
const first = process.env['MEDREC_TEST_CPU_FILE'] === undefined
// The test runner marks the processes it starts for test files (NODE_TEST_CONTEXT); the first of
// them in a chain names the file for everything below it.
if (out !== undefined && isMainThread && process.env['NODE_TEST_CONTEXT'] !== undefined) {
  const file = (process.env['MEDREC_TEST_CPU_FILE'] ??= process.argv[1] ?? '?')
  process.on('exit', () => {
    const { user, system } = process.cpuUsage()
    appendFileSync(out, `${file}\t${((user + system) / 1e6 - charged).toFixed(3)}\n`)
  })
}

/**
 * Runs `body` with this process's CPU, and that of the processes it starts meanwhile, reported for
 * `file` (an absolute path) instead of the process's own file: how a group (test/helpers/group.ts)
 * reports each of its files. What is left (start-up, module loading shared by the group) stays on the
 * group's entry. Outside `--report-cpu`, and in a group that a test file started (test/run.test.ts),
 * whose CPU is that file's, it only runs `body`.
 */
export async function chargeFile(file: string, body: () => Promise<unknown>): Promise<void> {
  if (out === undefined || !first || !isMainThread || process.env['NODE_TEST_CONTEXT'] === undefined) {
    await body()
    return
  }
  const before = process.cpuUsage()
  const outer = process.env['MEDREC_TEST_CPU_FILE']
  process.env['MEDREC_TEST_CPU_FILE'] = file
  try {
    await body()
  } finally {
    if (outer === undefined) delete process.env['MEDREC_TEST_CPU_FILE']
    else process.env['MEDREC_TEST_CPU_FILE'] = outer
    const { user, system } = process.cpuUsage(before)
    const seconds = (user + system) / 1e6
    charged += seconds
    appendFileSync(out, `${file}\t${seconds.toFixed(3)}\n`)
  }
}

/** What a test run's environment needs for every Node process in it to report to `outFile`. */
export function cpuReportEnv(root: string, outFile: string): Record<string, string> {
  const preload = pathToFileURL(join(root, 'test/helpers/cpu-report.ts')).href
  return { MEDREC_TEST_CPU_OUT: outFile, NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${preload}`.trim() }
}

export interface CpuRow {
  /** The test file relative to `root` (a group's entry file by its name). */
  file: string
  seconds: number
  processes: number
}

/** The reported lines (`FILE<TAB>SECONDS`, one per process) summed per test file, the largest first. */
export function cpuRows(root: string, lines: string): CpuRow[] {
  const rows = new Map<string, CpuRow>()
  for (const line of lines.split('\n')) {
    const [path, seconds] = line.split('\t')
    if (path === undefined || seconds === undefined) continue
    const file = path.startsWith(root) ? path.slice(root.length + 1) : path.replace(/^.*[\\/]/, '')
    const row = rows.get(file) ?? { file, seconds: 0, processes: 0 }
    row.seconds += Number(seconds)
    row.processes++
    rows.set(file, row)
  }
  return [...rows.values()].sort((a, b) => b.seconds - a.seconds)
}

/** cpuRows() as text for the end of a run. */
export function cpuTable(rows: CpuRow[]): string {
  const total = rows.reduce((sum, r) => sum + r.seconds, 0)
  const head = `CPU seconds per test file (its process and the node and CLI processes it started; killed ones not counted): ${total.toFixed(1)} in all`
  return [head, ...rows.map((r) => `${r.seconds.toFixed(1).padStart(8)}  ${String(r.processes).padStart(4)} processes  ${r.file}`)].join('\n')
}
