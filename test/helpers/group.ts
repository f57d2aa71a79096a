/**
 * Several tap test files in one process, one after another. A process per file pays start-up each
 * time (type stripping, tap, and usually ethereumjs, libp2p or viem: about a second of CPU), more
 * than most unit files take to run; test/run.ts writes one entry per group of files that calls
 * runGroup().
 *
 * Each file runs as a subtest named after its path, so a failure names the file and the assertion.
 * While a file loads and runs, the root `t` it imported answers as that subtest (test, teardown,
 * before, setTimeout, the assertions), so its teardowns run when the file ends, as they would at
 * the end of its own process, and its `t.setTimeout` bounds that file only.
 *
 * What a process per file gave for free is kept or checked:
 *   - Module state: each file gets its own instances of the project's modules (test helpers, node/,
 *     p2p/, ...: their log sinks, caches, counters), as in a process of its own. A resolve hook tags
 *     every project module a file loads, directly or not, with the file's number, so the module cache
 *     keys them apart. Only node_modules (the costly part to load) and process-wide state are shared;
 *     a file that changes process-wide state and does not put it back runs alone (run.ts's ALONE).
 *   - Exit: after each file, anything it left keeping the event loop alive (a server, a socket, a
 *     ref'd timer) fails the group naming the file, since alone that file would never have exited;
 *     the group then exits rather than hang.
 */
import t, { type Test } from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { chargeFile } from './cpu-report.ts'

/** What a file may call on the root `t`: tap's tests, hooks and assertions. */
const ROOT_METHODS = [
  'test', 'skip', 'todo', 'only', 'teardown', 'before', 'after', 'beforeEach', 'afterEach', 'setTimeout', 'plan', 'end',
  'comment', 'pass', 'fail', 'bailout', 'pragma', 'timeout', 'testdir', 'fixture', 'mockImport', 'mockRequire', 'createMock',
  'intercept', 'capture', 'captureFn', 'spawn', 'worker', 'stdin', 'matchSnapshot', 'resolveMatchSnapshot',
  'ok', 'notOk', 'equal', 'not', 'same', 'notSame', 'strictSame', 'strictNotSame', 'has', 'notHas', 'hasStrict', 'notHasStrict',
  'match', 'notMatch', 'matchOnly', 'notMatchOnly', 'matchStrict', 'notMatchStrict', 'matchOnlyStrict', 'notMatchOnlyStrict',
  'type', 'throws', 'doesNotThrow', 'rejects', 'resolves', 'resolveMatch', 'emits', 'error',
] as const

/** The query parameter that keeps one file's project modules apart from another's. */
const TAG = 'medrec-test-file'

/** From here on, a project module imported by a tagged module carries the same tag (node_modules never). */
function tagProjectModules(root: string): void {
  const project = pathToFileURL(join(root, '/')).href
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context)
      const tag = context.parentURL === undefined ? null : new URL(context.parentURL).searchParams.get(TAG)
      if (tag === null || !resolved.url.startsWith(project) || resolved.url.includes('/node_modules/')) return resolved
      const url = new URL(resolved.url)
      url.searchParams.set(TAG, tag)
      return { ...resolved, url: url.href }
    },
  })
}

/** How long a file's closing sockets and timers may take to let go once its tests have ended. */
const SETTLE_MS = 5_000

/** The root `t` answers as `file` (its methods bound to it), or as itself again (`undefined`). */
function answerAs(file: Test | undefined): void {
  const root = t as unknown as Record<string, unknown>
  for (const name of ROOT_METHODS) {
    if (file === undefined) {
      delete root[name]
      continue
    }
    const method = (file as unknown as Record<string, unknown>)[name]
    if (typeof method === 'function') Object.defineProperty(root, name, { value: (method as (...args: unknown[]) => unknown).bind(file), configurable: true, writable: true, enumerable: false })
  }
}

/** What keeps the event loop alive beyond `baseline`, as resource type names (empty once it is back). */
function beyond(baseline: string[]): string[] {
  const left = [...baseline]
  return process.getActiveResourcesInfo().filter((r) => {
    const i = left.indexOf(r)
    if (i < 0) return true
    left.splice(i, 1)
    return false
  })
}

async function settled(baseline: string[]): Promise<string[]> {
  const deadline = Date.now() + SETTLE_MS
  for (;;) {
    const left = beyond(baseline)
    if (left.length === 0 || Date.now() > deadline) return left
    await sleep(20)
  }
}

/**
 * Runs `files` (paths relative to `root`) in order, each as a subtest named after it that may take
 * TAP_TIMEOUT seconds (tap's own per-process variable; 30 s by default, as tap gives one file).
 */
export async function runGroup(root: string, files: string[]): Promise<void> {
  t.comment(`one process for ${files.length} files: ${files.join(' ')}`)
  await runFiles(root, files.length, files.entries())
}

/**
 * One of several processes sharing the files listed in `queueFile` (a JSON array of paths relative
 * to `root`), as test/run.ts starts them: each takes the next file no process has taken yet and
 * runs it as runGroup() would, until none is left. So the processes end together, however unequal
 * the files' durations, where fixed groups left the longest group running alone at the end. A file
 * is taken by creating the directory `QUEUE.claims/INDEX` (atomic: one process succeeds), and marked
 * done by `QUEUE.claims/INDEX/done` once it ran, for run.ts to check that every file ran.
 */
export async function runQueue(root: string, queueFile: string): Promise<void> {
  const files = JSON.parse(readFileSync(queueFile, 'utf8')) as string[]
  const claims = `${queueFile}.claims`
  mkdirSync(claims, { recursive: true })
  function* next(): Generator<[number, string]> {
    for (const [i, file] of files.entries()) {
      try {
        mkdirSync(join(claims, String(i)))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue
        throw err
      }
      yield [i, file]
      writeFileSync(join(claims, String(i), 'done'), '')
    }
  }
  t.comment(`one of the processes sharing ${files.length} files`)
  await runFiles(root, files.length, next())
}

/** Runs each `[index, file]` of `files` (at most `most` of them) as a subtest in this process. */
async function runFiles(root: string, most: number, files: Iterable<[number, string]>): Promise<void> {
  const perFileMs = Number(process.env['TAP_TIMEOUT'] ?? '30') * 1000
  t.setTimeout(perFileMs * most)
  tagProjectModules(root)
  let baseline = process.getActiveResourcesInfo()
  let leaked = false
  for (const [i, file] of files) {
    const url = new URL(pathToFileURL(join(root, file)).href)
    url.searchParams.set(TAG, String(i + 1))
    await chargeFile(join(root, file), () =>
      t.test(file, { timeout: perFileMs }, async (ft) => {
        answerAs(ft)
        await import(url.href)
      }),
    )
    answerAs(undefined)
    const left = await settled(baseline)
    if (left.length > 0) {
      // Alone, this file would never have exited. The files after it still run; the group then exits 1 instead of hanging.
      t.fail(`${file} left the event loop busy ${SETTLE_MS / 1000} s after its tests ended: ${left.join(', ')}; close it in a teardown`)
      leaked = true
      baseline = process.getActiveResourcesInfo()
    }
  }
  if (leaked) {
    t.end()
    process.exit(1)
  }
}
