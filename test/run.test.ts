import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cpuReportEnv, cpuRows, cpuTable } from './helpers/cpu-report.ts'
import { plainNode } from './helpers/plain-node.ts'
import { ROOT } from './helpers/node-process.ts'

/**
 * test/run.ts runs the fast files in groups, one process per group (test/helpers/group.ts). What a
 * process per file gave for free must hold in a group too: a failure fails the run and names the
 * file and the assertion; each file has its own module state and its own teardown; a file that
 * leaves a handle open is named and does not hang the group. The fixtures in test/fixtures/group/
 * break each rule.
 */

const DIR = 'test/fixtures/group'
const FILES = ['first', 'second', 'fail', 'leak', 'last'].map((f) => `${DIR}/${f}.ts`)

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
}

/** One group process over `files`; killed after `deadlineMs` if it hangs. */
function runGroupProcess(files: string[], deadlineMs: number): Promise<Run> {
  const helper = pathToFileURL(join(ROOT, 'test/helpers/group.ts')).href
  return runEntry(`import { runGroup } from ${JSON.stringify(helper)}\nawait runGroup(${JSON.stringify(ROOT)}, ${JSON.stringify(files)})\n`, deadlineMs)
}

/** A process running `entry` (a module's text), as run.ts starts its entries; killed after `deadlineMs` if it hangs. */
function runEntry(entry: string, deadlineMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(...plainNode(['--input-type=module', '-e', entry]), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TAP_TIMEOUT: '60' } })
    let stdout = ''
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    const killer = setTimeout(() => proc.kill('SIGKILL'), deadlineMs)
    proc.on('error', reject)
    proc.on('close', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, stdout })
    })
  })
}

// The group waits 5 s for the leaking file's server before naming it; the deadline is for a hang.
t.setTimeout(90_000)

t.test('a group of files in one process keeps what a process per file gave', async (t) => {
  const run = await runGroupProcess(FILES, 60_000)
  const top = run.stdout.split('\n').filter((l) => /^(not )?ok \d+ - /.test(l)).map((l) => l.replace(/ # time=.*$/, ''))

  t.equal(run.signal, null, 'the group ends by itself although one file leaves a server listening')
  t.equal(run.code, 1, 'a failure fails the process')
  t.same(
    top,
    [`ok 1 - ${DIR}/first.ts`, `ok 2 - ${DIR}/second.ts`, `not ok 3 - ${DIR}/fail.ts`, `ok 4 - ${DIR}/leak.ts`, `not ok 5 - ${DIR}/leak.ts left the event loop busy 5 s after its tests ended: TCPServerWrap; close it in a teardown`, `ok 6 - ${DIR}/last.ts`],
    'each file is a subtest named after its path; a leak fails naming the file and what it left, and the files after it still run',
  )
  t.match(run.stdout, /# Subtest: test\/fixtures\/group\/fail\.ts\n(.*\n)*?\s+not ok 1 - one plus one is three/, 'the failed assertion is printed under its file')
  t.notMatch(run.stdout, /not ok \d+ - (module state of its own|the first file's teardown ran)/, 'the second file has fresh module state and runs after the first file\'s teardown')
})

t.test('processes sharing a queue run every file once between them, and mark each done', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-queue-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const queue = join(dir, 'queue.json')
  // first and last only: second expects first to have run before it in its process.
  const files = ['first', 'last', 'first', 'last', 'last', 'first'].map((f) => `${DIR}/${f}.ts`)
  writeFileSync(queue, JSON.stringify(files))
  const helper = pathToFileURL(join(ROOT, 'test/helpers/group.ts')).href
  const entry = `import { runQueue } from ${JSON.stringify(helper)}\nawait runQueue(${JSON.stringify(ROOT)}, ${JSON.stringify(queue)})\n`
  const runs = await Promise.all([1, 2, 3].map(() => runEntry(entry, 60_000)))
  t.same(runs.map((r) => [r.code, r.signal]), [[0, null], [0, null], [0, null]], 'each process ends by itself, passing')
  const ran = runs.flatMap((r) => r.stdout.split('\n').filter((l) => /^ok \d+ - test\//.test(l)).map((l) => l.replace(/^ok \d+ - /, '').replace(/ # time=.*$/, '')))
  t.same(ran.sort(), [...files].sort(), 'every entry of the list ran once, in one of the three')
  t.same(files.map((_, i) => existsSync(join(`${queue}.claims`, String(i), 'done'))), files.map(() => true), 'each marked done for run.ts to check')
})

t.test('--report-cpu counts the CPU of the processes a test file starts toward that file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-cpu-report-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'cpu.tsv')
  const fixture = 'test/fixtures/cpu/spawner.ts'
  // As run.ts starts its runner: not itself under a test runner (this file may run in one, whose marks would be inherited).
  const env: Record<string, string | undefined> = { ...process.env, ...cpuReportEnv(ROOT, out) }
  delete env['NODE_TEST_CONTEXT']
  delete env['MEDREC_TEST_CPU_FILE']
  const run = spawnSync(process.execPath, ['--test', fixture], { cwd: ROOT, stdio: 'ignore', env })
  t.equal(run.status, 0, 'the fixture passes')
  const rows = cpuRows(ROOT, readFileSync(out, 'utf8'))
  t.same(rows.map((r) => [r.file, r.processes]), [[fixture, 2]], 'the file and its child, both under the file')
  t.ok(rows[0]!.seconds >= 0.35, `at least the child's 0.4 s of busy loop (${rows[0]!.seconds} s)`)
  t.match(cpuTable(rows), new RegExp(`^CPU seconds per test file .*: ${rows[0]!.seconds.toFixed(1)} in all\\n +${rows[0]!.seconds.toFixed(1)} +2 processes  ${fixture}$`), 'the table')
})
