import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { delimiter, join } from 'node:path'
import { MEDREC, NODE, ROOT, rpc, tempDir, waitFor } from '../helpers/node-process.ts'

/**
 * A normal CLI call and a normal start print no warning lines on stderr (issue 18): not npm's
 * EBADENGINE when `npx medrec` runs under an older system Node (package.json's `engines` must
 * describe the launcher, which re-executes itself on the pinned Node), and not Node's
 * ExperimentalWarning for node:sqlite when the gatekeeper starts, also on the re-exec path.
 * Log lines at WARN level are the node's own business (e.g. a single authority); this checks the
 * runtime's warnings.
 */

const RUNTIME_WARNING = /EBADENGINE|npm warn|ExperimentalWarning|DeprecationWarning|\(node:\d+\) |Warning: /

/** PATH without this project's node_modules/.bin, so `node` and `npx` are the system's. */
function systemPath(): string {
  return (process.env.PATH ?? '').split(delimiter).filter((p) => !p.startsWith(join(ROOT, 'node_modules'))).join(delimiter)
}

/** The system Node's version, when there is one on PATH (outside this project). */
function systemNode(): { path: string; version: string } | undefined {
  const which = spawnSync('sh', ['-c', 'command -v node'], { env: { ...process.env, PATH: systemPath() }, encoding: 'utf8' })
  const path = which.stdout.trim()
  if (which.status !== 0 || path === '') return undefined
  const v = spawnSync(path, ['--version'], { encoding: 'utf8' })
  return v.status === 0 ? { path, version: v.stdout.trim() } : undefined
}

function older(version: string): boolean {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  return major! < 22 || (major === 22 && minor! < 18)
}

const system = systemNode()

t.test('npx medrec under the system Node prints no npm warning', { skip: system === undefined ? 'no system node on PATH' : false }, async (t) => {
  const r = spawnSync('npx', ['--no-install', 'medrec', '--version'], { cwd: ROOT, env: { ...process.env, PATH: systemPath() }, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /^medrec \d+\.\d+\.\d+ \(node v22\./, `runs on the pinned Node (system Node ${system!.version})`)
  t.notMatch(r.stderr, RUNTIME_WARNING, 'no warning on stderr')
  // npm's scripts (npm start is one) pass the same engines check: `npm run medrec` runs the bin as `npm start` does.
  const script = spawnSync('npm', ['run', '--silent', 'medrec', '--', '--version'], { cwd: ROOT, env: { ...process.env, PATH: systemPath() }, encoding: 'utf8' })
  t.equal(script.status, 0, script.stderr)
  t.match(script.stdout, /^medrec \d+\.\d+\.\d+ \(node v22\./, 'npm scripts run on the pinned Node')
  t.notMatch(script.stderr, RUNTIME_WARNING, 'no warning from npm run either')
})

/** Starts a dev node with the gatekeeper through `launcher` and returns its stderr up to a served call. */
async function startAndStop(t: Test, launcher: string): Promise<string> {
  const dir = tempDir()
  t.teardown(dir.remove)
  const proc = spawn(launcher, [MEDREC, 'start', '--dev', '--datadir', join(dir.path, 'dev'), '--rpc.port', '0', '--gatekeeper', '--gatekeeper.http.port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  const exited = new Promise((resolve) => proc.on('exit', resolve))
  try {
    const url = await waitFor(async () => /JSON-RPC listening\s.*url=(http:\/\/[\d.]+:\d+)/.exec(stderr)?.[1], 'the node to listen', 60_000)
    t.ok(await rpc<string>(url, 'eth_chainId', [], { auth: false }), 'it serves')
  } finally {
    proc.kill('SIGTERM')
    await exited
  }
  t.match(stdout, /medrec development chain/, 'the dev banner')
  return stderr
}

t.test('a start with the gatekeeper prints no runtime warning', async (t) => {
  const stderr = await startAndStop(t, NODE)
  t.match(stderr, /Gatekeeper HTTP API listening/, 'the gatekeeper (node:sqlite) ran')
  t.notMatch(stderr, RUNTIME_WARNING, 'no runtime warning on stderr')
})

t.test('nor when the launcher re-executes itself from an older system Node', { skip: system === undefined || !older(system.version) ? 'no system node older than 22.18' : false }, async (t) => {
  const stderr = await startAndStop(t, system!.path)
  t.match(stderr, /Gatekeeper HTTP API listening/)
  t.notMatch(stderr, RUNTIME_WARNING, 'no ExperimentalWarning from the pinned child')
})
