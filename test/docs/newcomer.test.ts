import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { MEDREC, NODE, ROOT, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { medrec } from '../cli/run-cli.ts'

/**
 * What a newcomer ran into (issue 18), on a real dev node with the gatekeeper: an account without
 * a registered identity has no Summary, so it sees nothing; the message and `medrec watch` must say
 * who registers the identity and with which command, naming the account.
 */

const DEV0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
let node: NodeProcess
const dir = tempDir()

t.before(async () => {
  node = await startNodeProcess(['--dev', '--gatekeeper', '--gatekeeper.http.port', '0'], { datadir: join(dir.path, 'dev') })
})
t.teardown(async () => {
  await node?.stop()
  dir.remove()
})

const FIX = new RegExp(`has no Summary \\(no identity is registered for it\\).*An authority registers identities.*"medrec provider add-patient --identity ID --address ${DEV0}"`)

t.test('patient relationships without a Summary says who registers the identity, and how', async (t) => {
  const r = await medrec(['patient', 'relationships', '--rpc', node.url, '--datadir', node.datadir])
  t.equal(r.code, 1)
  t.match(r.stderr, FIX)
})

t.test('medrec watch says up front that nothing will arrive, and why', async (t) => {
  const proc = spawn(NODE, [MEDREC, 'watch', '--rpc', node.url, '--datadir', node.datadir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const closed = new Promise<number | null>((resolve) => proc.on('close', resolve))
  try {
    await waitFor(async () => stderr.includes('Watching '), 'medrec watch to connect', 30_000)
  } finally {
    proc.kill('SIGINT')
  }
  t.equal(await closed, 0, 'Ctrl-C ends it cleanly')
  t.match(stderr, /^Nothing will arrive yet: /m)
  t.match(stderr, FIX)
})
