import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDREC } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'
import { DEV0, DEV1, DEV_MNEMONIC, medrec, medrecBatch, passwordFile, tempDir } from './run-cli.ts'

const HINT = 'Run "medrec start --help" for usage.\n'

t.test('start refuses an uninitialised data dir with the init hint (exit 1)', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  for (const dir of [join(tmp.path, 'missing'), tmp.path]) {
    const r = await medrec(['start', '--datadir', dir, '--rpc.port', '0'])
    t.equal(r.code, 1)
    t.equal(r.stderr, `Error: ${dir} is not initialised: run \`medrec init --datadir ${dir} --genesis FILE\` first\n`)
  }
  t.notOk(existsSync(join(tmp.path, 'missing')), 'nothing created')
})

t.test('start flag errors exit 2 before touching the data dir', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  const cases: Array<[string[], string]> = [
    [['start', '--datadir', dir, '--authority', DEV0], 'no password given: pass --password FILE (a file whose first line is the password)'],
    [['start', '--authority', DEV0], 'no password given: pass --password FILE (a file whose first line is the password)'],
    [['start', '--datadir', dir, '--authority', '0xabc', '--password', pw], 'invalid value for --authority: '],
    [['start', '--datadir', dir, '--password', pw], '--password is only used with --authority'],
    [['start', '--datadir', dir, '--rpc.port', 'http'], 'invalid value for --rpc.port: expected an integer from 0 to 65535, got "http"'],
    [['start', '--datadir', dir, '--rpc.port=70000'], 'invalid value for --rpc.port: expected an integer from 0 to 65535, got "70000"'],
    [['start', '--datadir', dir, '--dev.period', '1'], '--dev.period is only used with --dev'],
    [['start', '--dev', '--datadir', dir, '--dev.period', 'fast'], 'invalid value for --dev.period: expected an integer from 0 to 2147483647, got "fast"'],
    [['start', '--dev', '--datadir', dir, '--authority', DEV0, '--password', pw], '--authority cannot be used with --dev: dev account 0 seals the dev chain'],
    [['start'], 'missing --datadir DIR for "medrec start" (or pass --dev for a development chain)'],
    [['start', '--datadir', dir, '--rpc.prot', '1'], 'unknown flag --rpc.prot for "medrec start" (did you mean --rpc.port?)'],
    [['start', '--dev', '--datadir', dir, '--gatekeeper.k', '3'], '--gatekeeper.* options need --gatekeeper'],
    [['start', '--dev', '--datadir', dir, '--gatekeeper', '--gatekeeper.password', pw], '--gatekeeper.password is only used with --gatekeeper.account'],
    [['start', '--dev', '--datadir', dir, '--gatekeeper', '--gatekeeper.account', '0x12'], 'invalid value for --gatekeeper.account: '],
    [['start', '--datadir', dir, '--mine'], '--mine needs --miner.etherbase ADDRESS: the account credited with block rewards and bounties (or run as --authority)'],
    [['mine', '--datadir', dir], '--mine needs --miner.etherbase ADDRESS'],
    [['mine', '--datadir', dir, '--miner.etherbase', '0x12'], 'invalid value for --miner.etherbase: '],
    [['mine', '--datadir', dir, '--miner.etherbase', DEV0, '--miner.threads', '0'], 'invalid value for --miner.threads: expected an integer from 1 to 256, got "0"'],
  ]
  // Flag errors end in parsing: the first runs as its own process, the rest batched in one (medrecBatch).
  const results = [await medrec(cases[0]![0], { cwd: tmp.path }), ...(await medrecBatch(cases.slice(1).map(([args]) => args), { cwd: tmp.path }))]
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, args.join(' '))
    const hint = HINT.replace('medrec start', `medrec ${args[0]}`)
    t.ok(r.stderr.startsWith(`Error: ${message}`) && r.stderr.endsWith(`\n${hint}`), `${args.join(' ')}\n${r.stderr}`)
  }
  t.notOk(existsSync(dir), 'nothing created')
  t.notOk(existsSync(join(tmp.path, '.medrec-dev')), 'nothing created')
})

t.test('start --authority unlocks the keystore account: wrong password and unknown account exit 1', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const init = await medrec(['init', '--datadir', dir, '--dev', '--mnemonic', DEV_MNEMONIC, '--password', passwordFile(tmp.path, 'right'), '--lightkdf'])
  t.equal(init.code, 0, init.stderr)
  const wrong = await medrec(['start', '--datadir', dir, '--authority', DEV0, '--password', passwordFile(tmp.path, 'wrong', 'wrong.txt'), '--rpc.port', '0'])
  t.equal(wrong.code, 1)
  t.match(wrong.stderr, /^Error: [^\n]*password[^\n]*\n$/)
  const unknown = await medrec(['start', '--datadir', dir, '--authority', DEV1, '--password', passwordFile(tmp.path, 'right', 'right.txt'), '--rpc.port', '0'])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, new RegExp(`^Error: [^\\n]*${DEV1}[^\\n]*\\n$`))
})

/** Runs `medrec start ...` until it prints the dev banner, then sends SIGINT. */
function runDev(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(...plainNode([MEDREC, 'start', ...args]), { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000)
    proc.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
      if (/Listening on http:\/\/127\.0\.0\.1:\d+ \(WebSocket ws:\/\/127\.0\.0\.1:\d+\)\n/.test(stdout)) proc.kill('SIGINT')
    })
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    proc.on('error', reject)
    proc.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

t.test('start --dev: default data dir, anvil-style banner, clean exit 0 on SIGINT', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const r = await runDev(['--dev', '--dev.period', '0', '--rpc.port', '0'], tmp.path)
  t.equal(r.code, 0, r.stderr)
  const dir = join(tmp.path, '.medrec-dev')
  t.ok(existsSync(join(dir, 'genesis.json')), 'genesis written to ./.medrec-dev')
  t.match(readFileSync(join(dir, 'nodekey'), 'utf8'), /^[0-9a-f]{64}$/)
  t.match(r.stdout, `(0) ${DEV0} (10000 ETH)`)
  t.match(r.stdout, `(1) ${DEV1} (10000 ETH)`)
  t.match(r.stdout, '(0) 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
  t.match(r.stdout, /Available Accounts[\s\S]*\(9\) 0x[\s\S]*Private Keys[\s\S]*\(9\) 0x[0-9a-f]{64}/)
  t.match(r.stdout, /PUBLICLY KNOWN/)
  t.match(r.stdout, /Chain ID: +1337\n/)
  t.match(r.stderr, /Stopping on signal[^\n]*signal=SIGINT/)

  // Restarting reuses the stored genesis; a different --dev.period is reported, not applied.
  const again = await runDev(['--dev', '--dev.period', '5', '--rpc.port', '0'], tmp.path)
  t.equal(again.code, 0, again.stderr)
  t.match(again.stderr, /--dev\.period ignored/)
  t.match(again.stdout, /sealing as soon as transactions arrive/)
})
