/**
 * Runs many `medrec` invocations in one process, for tests about argument parsing, help and usage
 * errors (see medrecBatch in run-cli.ts): a process start costs ~0.5 s of CPU, dozens of them add
 * up, and none of these cases depends on being its own process.
 *
 *   node test/cli/batch-driver.ts RESULTS.json '[["--help"], ["start", "--bogus"]]'
 *
 * Each case gets a fresh instance of cli/main.ts (imported under its own URL query; the modules
 * it imports are shared) with process.argv set, its stdout and stderr captured, and the exit
 * status it sets. The first case goes through bin/medrec.js, the launcher a user runs, which also
 * installs its warning filter for the rest. process.exit is held off until the results are written:
 * main.ts schedules one after an error so that a half-started module cannot keep a real process alive.
 */
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setLogLevel } from '../../common/logger.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const MEDREC = join(ROOT, 'bin', 'medrec.js')

interface CaseResult {
  code: number | null
  stdout: string
  stderr: string
}

const [resultsFile, casesJson] = process.argv.slice(2)
if (resultsFile === undefined || casesJson === undefined) throw new Error('usage: batch-driver.ts RESULTS.json CASES_JSON')
const cases = JSON.parse(casesJson) as string[][]

const realExit = process.exit.bind(process)
process.exit = (() => undefined) as typeof process.exit

let stdout = ''
let stderr = ''
const capture =
  (append: (s: string) => void) =>
  (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
    const done = rest.find((x) => typeof x === 'function') as (() => void) | undefined
    done?.()
    return true
  }
process.stdout.write = capture((s) => (stdout += s)) as typeof process.stdout.write
process.stderr.write = capture((s) => (stderr += s)) as typeof process.stderr.write

const main = pathToFileURL(join(ROOT, 'cli', 'main.ts')).href
const results: CaseResult[] = []
for (const [i, args] of cases.entries()) {
  stdout = ''
  stderr = ''
  process.exitCode = undefined
  setLogLevel('info')
  process.argv = [process.execPath, MEDREC, ...args]
  await import(i === 0 ? pathToFileURL(MEDREC).href : `${main}?case=${i}`)
  const code = process.exitCode
  results.push({ code: code === undefined ? 0 : Number(code), stdout, stderr })
}
process.exitCode = 0
writeFileSync(resultsFile, JSON.stringify(results))
realExit(0)
