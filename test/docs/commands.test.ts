import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { MEDREC, NODE, ROOT, tempDir } from '../helpers/node-process.ts'

/**
 * Every documented quick start runs as printed (as ethereumjs runs its examples in CI): the
 * ```sh blocks of README.md and docs/*.md marked `<!-- test: NAME -->` on the line before run,
 * in document order, each in a fresh temporary directory, with `bash -e`, against real node
 * processes. Unmarked blocks are prose examples (placeholders such as 0xAUTH) and are not run.
 *
 * What a block may rely on, so it reads the same to a person at a shell:
 * - `npx medrec …` is the repo's bin (bin/medrec.js on the pinned Node), as `npx` gives it;
 *   `npm start [-- ARGS]` is package.json's start script with ARGS appended.
 * - A long-running command (`medrec start`, `npm start`) ends in `&` with its log sent to a
 *   file, and the block waits for it itself (`until grep -q … node.log; do sleep 1; done`).
 *   Whatever a block left running is stopped (SIGTERM) when the block ends.
 * - Ports are the documented ones (8545, 8547, 8555, 8565, 30303–30305): a block fails with a
 *   clear message if one is taken, rather than run against some other process.
 */

interface Block {
  name: string
  file: string
  line: number
  code: string
}

const MARK = /^<!-- test: ([a-z0-9-]+) -->$/
const PORTS = [8545, 8547, 8550, 8555, 8565, 30303, 30304, 30305]

function runnableBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = MARK.exec(lines[i]!.trim())
    if (m === null) continue
    if (lines[i + 1]?.trim() !== '```sh') throw new Error(`${file}:${i + 1}: "<!-- test: ${m[1]} -->" must be followed by a \`\`\`sh block`)
    const end = lines.findIndex((l, j) => j > i + 1 && l.trim() === '```')
    if (end < 0) throw new Error(`${file}:${i + 2}: unterminated code block`)
    blocks.push({ name: m[1]!, file, line: i + 2, code: lines.slice(i + 2, end).join('\n') })
  }
  return blocks
}

/** `npm start [-- ARGS]` as package.json runs it, with the bin as `medrec` (the shim on PATH). */
function npmStart(): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const script = pkg.scripts.start!
  if (!script.startsWith('node bin/medrec.js ')) throw new Error(`unexpected start script: ${script}`)
  return script.replace('node bin/medrec.js', 'medrec')
}

function toScript(code: string): string {
  const start = npmStart()
  return code.replace(/\bnpm start -- /g, `${start} `).replace(/\bnpm start\b/g, start).replace(/\bnpx medrec\b/g, 'medrec')
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)))
  })
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))

async function stop(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  const end = Date.now() + 20_000
  while (pids.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
  for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL')
}

/**
 * Kills the process group of each block still running: on exit, and when the file is stopped
 * (tap's per-file timeout sends SIGALRM, whose default action skips 'exit' handlers: a hung
 * block's nodes then outlived the run and held the documented ports for the next one).
 */
const groups = new Set<() => void>()
const killAll = () => groups.forEach((kill) => kill())
process.once('exit', killAll)
for (const signal of ['SIGTERM', 'SIGINT', 'SIGALRM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAll()
    process.kill(process.pid, signal)
  })
}

async function run(block: Block, cwd: string): Promise<{ code: number | null; output: string }> {
  const bin = join(cwd, '.bin')
  mkdirSync(bin)
  // exec: a background `medrec start … &` is then the node process itself, so its pid is the job's.
  writeFileSync(join(bin, 'medrec'), `#!/bin/sh\nexec "${NODE}" "${MEDREC}" "$@"\n`)
  chmodSync(join(bin, 'medrec'), 0o755)
  const pidFile = join(cwd, '.jobs')
  const script = `trap 'jobs -p > "${pidFile}"' EXIT\nset -e\n${toScript(block.code)}\n`
  // Its own process group (bash runs background jobs in it): if this test is killed, the exit
  // handler still stops every node the block started.
  const proc = spawn('bash', ['-c', script], { cwd, detached: true, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'pipe', 'pipe'] })
  const killGroup = () => {
    try {
      process.kill(-proc.pid!, 'SIGKILL')
    } catch {
      // nothing left
    }
  }
  groups.add(killGroup)
  let output = ''
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()))
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()))
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve))
  const pids = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n').filter((l) => l !== '').map(Number) : []
  await stop(pids)
  killGroup()
  groups.delete(killGroup)
  return { code, output }
}

// Several real nodes per block, on a loaded 2-core machine: minutes, not the default two.
t.setTimeout(900_000)

const docs = join(ROOT, 'docs')
const files = ['README.md', ...readdirSync(docs).filter((f) => f.endsWith('.md')).sort().map((f) => join('docs', f))]
const blocks = files.flatMap((f) => runnableBlocks(f, readFileSync(join(ROOT, f), 'utf8')))

t.test('the quick starts are marked, one per user', async (t) => {
  const names = blocks.map((b) => b.name)
  for (const name of ['quickstart-engineer', 'quickstart-operator', 'quickstart-researcher', 'quickstart-engineer', 'quickstart-provider']) t.ok(names.includes(name), `${name} is a runnable block`)
  t.equal(new Set(names).size, names.length, 'block names are unique')
})

for (const block of blocks) {
  t.test(`${block.file}:${block.line} ${block.name} runs as printed`, async (t) => {
    const taken = []
    for (const p of PORTS) if (!(await portFree(p))) taken.push(p)
    if (taken.length > 0) return t.fail(`port${taken.length > 1 ? 's' : ''} ${taken.join(', ')} in use: the quick starts use the documented ports; stop what listens there and run again`)
    const dir = tempDir('medrec-docs-')
    t.teardown(dir.remove)
    const r = await run(block, dir.path)
    if (r.code === 0) t.pass('exit status 0')
    else {
      const logs = readdirSync(dir.path).filter((f) => f.endsWith('.log')).map((f) => `${f}:\n${readFileSync(join(dir.path, f), 'utf8').slice(-3000)}`)
      t.fail(`exit status ${r.code}\n--- output ---\n${r.output}\n--- logs ---\n${logs.join('\n')}`)
    }
    t.notMatch(r.output, /EBADENGINE|ExperimentalWarning|\(node:\d+\) /, 'no runtime warnings')
  })
}
