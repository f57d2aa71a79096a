import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createDevGenesis, genesisToJson, parseGenesis } from '../../node/genesis/index.ts'
import { decryptKeystore, deriveKey, toChecksumAddress } from '../../node/keys/index.ts'
import { MEDREC, NODE } from '../helpers/node-process.ts'
import { DEV0, DEV_MNEMONIC, medrec, medrecBatch, passwordFile, tempDir } from './run-cli.ts'

const mode = (p: string) => statSync(p).mode & 0o777

t.test('init --dev --mnemonic restores the well-known dev account into a fresh data dir', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'hunter2')
  const r = await medrec(['init', '--datadir', dir, '--dev', '--password', pw, '--mnemonic', DEV_MNEMONIC, '--lightkdf'])
  t.equal(r.code, 0, r.stderr)
  const files = readdirSync(join(dir, 'keystore'))
  t.equal(files.length, 1)
  t.equal(r.stdout, `Account: ${DEV0} keystore://${join(dir, 'keystore', files[0]!)}\nDatadir: ${dir}\n`)
  t.notMatch(r.stdout, /Mnemonic/, 'a restored mnemonic is not printed')
  t.equal(mode(dir), 0o700)
  t.equal(mode(join(dir, 'keystore', files[0]!)), 0o600)
  t.equal(mode(join(dir, 'nodekey')), 0o600)
  t.match(readFileSync(join(dir, 'nodekey'), 'utf8'), /^[0-9a-f]{64}$/)
  const keyfile = readFileSync(join(dir, 'keystore', files[0]!), 'utf8')
  t.same(await decryptKeystore(keyfile, 'hunter2'), deriveKey(DEV_MNEMONIC, 0).privateKey, 'encrypted with the password file')
  t.equal((JSON.parse(keyfile) as { crypto: { kdfparams: { n: number } } }).crypto.kdfparams.n, 4096, '--lightkdf')
  // genesis.json is the normalised dev genesis.
  const written = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')) as unknown
  t.same(written, JSON.parse(JSON.stringify(genesisToJson(createDevGenesis()))))
  t.equal(parseGenesis(written).chainId, 1337n)

  // Again with the same genesis: harmless, node key kept, no new account, no password needed.
  const nodekey = readFileSync(join(dir, 'nodekey'), 'utf8')
  const again = await medrec(['init', '--datadir', dir, '--dev', '--json'])
  t.equal(again.code, 0, again.stderr)
  const json = JSON.parse(again.stdout) as { datadir: string; chainId: number; account: { address: string; created: boolean }; mnemonic?: string }
  t.equal(json.datadir, dir)
  t.equal(json.chainId, 1337)
  t.same(json.account, { address: DEV0, file: join(dir, 'keystore', files[0]!), created: false })
  t.equal(json.mnemonic, undefined)
  t.equal(readFileSync(join(dir, 'nodekey'), 'utf8'), nodekey, 'node key kept')
  t.equal(readdirSync(join(dir, 'keystore')).length, 1)
})

t.test('init refuses a data dir initialised with another genesis', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  t.equal((await medrec(['init', '--datadir', dir, '--dev', '--password', pw, '--lightkdf'])).code, 0)
  const before = readFileSync(join(dir, 'genesis.json'), 'utf8')
  const other = join(tmp.path, 'other.json')
  writeFileSync(other, JSON.stringify({ config: { chainId: 7, consensus: 'poa', poa: { period: 5 } }, gasLimit: '0x1c9c380', authorities: [DEV0], alloc: {} }))
  const r = await medrec(['init', '--datadir', dir, '--genesis', other, '--password', pw, '--lightkdf'])
  t.equal(r.code, 1)
  t.equal(r.stderr, `Error: ${dir} is already initialised with another genesis (config.chainId, config.poa, gasLimit, alloc differ); use a new --datadir\n`)
  t.equal(readFileSync(join(dir, 'genesis.json'), 'utf8'), before, 'genesis untouched')
})

t.test('init without --mnemonic prints a new mnemonic once, which restores the same account', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  const r = await medrec(['init', '--datadir', dir, '--dev', '--password', pw, '--lightkdf'])
  t.equal(r.code, 0, r.stderr)
  const m = /^Mnemonic: ((?:[a-z]+ ){11}[a-z]+)\nAccount: (0x[0-9a-fA-F]{40}) keystore:\/\/\S+\nDatadir: (.+)\n$/.exec(r.stdout)
  t.ok(m, r.stdout)
  t.equal(m![2], toChecksumAddress(deriveKey(m![1]!).address), 'the printed mnemonic derives the account')
  t.equal(m![3], dir)
  t.match(r.stderr, /WARNING: write down the mnemonic/)

  // --json carries the mnemonic instead.
  const dir2 = join(tmp.path, 'node2')
  const j = await medrec(['init', '--datadir', dir2, '--dev', '--password', pw, '--lightkdf', '--json'])
  t.equal(j.code, 0, j.stderr)
  const json = JSON.parse(j.stdout) as { account: { address: string; created: boolean }; mnemonic: string }
  t.equal(json.account.address, toChecksumAddress(deriveKey(json.mnemonic).address))
  t.equal(json.account.created, true)
})

t.test('init usage and runtime errors', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  const hint = 'Run "medrec init --help" for usage.\n'
  const cases: Array<[string[], number, string | RegExp]> = [
    [['init', '--dev', '--password', pw], 2, `Error: missing --datadir DIR for "medrec init"\n${hint}`],
    [['init', '--datadir', dir, '--password', pw], 2, `Error: "medrec init" needs exactly one of --genesis FILE or --dev\n${hint}`],
    [['init', '--datadir', dir, '--dev', '--genesis', 'g.json', '--password', pw], 2, `Error: "medrec init" needs exactly one of --genesis FILE or --dev\n${hint}`],
    [['init', '--datadir', dir, '--dev', '--password', pw, '--mnemonic', 'test test test test test test test test test test test test'], 2, `Error: invalid value for --mnemonic: expected 12 or 24 English BIP-39 words with a valid checksum\n${hint}`],
    [['init', '--datadir', dir, '--dev'], 2, `Error: no password given: pass --password FILE (a file whose first line is the password)\n${hint}`],
    [['init', '--datadir', dir, '--genesis', join(tmp.path, 'missing.json'), '--password', pw], 1, new RegExp(`^Error: [^\\n]*${join(tmp.path, 'missing.json')}[^\\n]*\\n$`)],
    [['init', '--datadir', dir, '--dev', '--password', join(tmp.path, 'nopw')], 1, new RegExp(`^Error: [^\\n]*${join(tmp.path, 'nopw')}[^\\n]*\\n$`)],
  ]
  // These end before init does anything: the first runs as its own process, the rest batched in one (medrecBatch).
  const results = [await medrec(cases[0]![0]), ...(await medrecBatch(cases.slice(1).map(([args]) => args)))]
  for (const [i, [args, code, stderr]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, code, args.join(' '))
    if (typeof stderr === 'string') t.equal(r.stderr, stderr, args.join(' '))
    else t.match(r.stderr, stderr, args.join(' '))
  }
  t.throws(() => statSync(dir), 'nothing was created by the failed runs')

  const bad = join(tmp.path, 'bad.json')
  writeFileSync(bad, JSON.stringify({ config: { chainId: 7, consensus: 'pos' } }))
  const r = await medrec(['init', '--datadir', dir, '--genesis', bad, '--password', pw])
  t.equal(r.code, 1)
  t.match(r.stderr, /^Error: [^\n]*genesis\.config\.consensus[^\n]*\n$/)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace by default')
  const debug = await medrec(['init', '--datadir', dir, '--genesis', bad, '--password', pw, '--log.level', 'debug'])
  t.equal(debug.code, 1)
  t.match(debug.stderr, /^Error: [^\n]*genesis\.config\.consensus[^\n]*\nGenesisError: [^\n]*\n\s+at /, 'stack trace with --log.level debug')
})

t.test('init keeps an account already in the keystore (made by "account new")', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const dir = join(tmp.path, 'node')
  const pw = passwordFile(tmp.path, 'pw')
  const made = JSON.parse((await medrec(['account', 'new', '--datadir', dir, '--password', pw, '--lightkdf', '--json'])).stdout) as { address: string }
  const r = await medrec(['init', '--datadir', dir, '--dev'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`^Account: ${made.address} keystore://\\S+ \\(already in the keystore\\)\\n`))
  t.equal(readdirSync(join(dir, 'keystore')).length, 1)
})

// The interactive prompt needs a terminal: run the CLI under a pseudo-terminal (python's pty).
const hasPython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0
const PTY = `
import os, pty, sys, time
argv, answers = sys.argv[1:-1], sys.argv[-1].split(',')
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b''
def read_until(n):
    global out
    end = time.time() + 20
    while out.count(b'assword') < n and time.time() < end:
        try: out += os.read(fd, 1024)
        except OSError: break
for i, a in enumerate(answers):
    read_until(i + 1)
    os.write(fd, a.encode() + b'\\r')
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk: break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
`

t.test('on a terminal, init asks for the password twice without echoing it', { skip: hasPython ? false : 'python3 with pty is not available' }, async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const run = (dir: string, answers: string) => spawnSync('python3', ['-c', PTY, NODE, MEDREC, 'init', '--datadir', dir, '--dev', '--lightkdf', '--mnemonic', DEV_MNEMONIC, answers], { encoding: 'utf8', timeout: 60_000 })
  const ok = run(join(tmp.path, 'a'), 's3cret,s3cret')
  t.equal(ok.status, 0, ok.stdout)
  t.match(ok.stdout, /Password for the new account: \r?\nRepeat password: \r?\n/)
  t.notMatch(ok.stdout, /s3cret/, 'the password is not echoed')
  t.match(ok.stdout, new RegExp(`Account: ${DEV0}`))
  const file = readdirSync(join(tmp.path, 'a', 'keystore'))[0]!
  t.same(await decryptKeystore(readFileSync(join(tmp.path, 'a', 'keystore', file), 'utf8'), 's3cret'), deriveKey(DEV_MNEMONIC).privateKey)

  const mismatch = run(join(tmp.path, 'b'), 'one,two')
  t.equal(mismatch.status, 1)
  t.match(mismatch.stdout, /Error: the passwords do not match: try again/)
  t.throws(() => statSync(join(tmp.path, 'b')), 'nothing written after a mismatch')

  const interrupted = run(join(tmp.path, 'c'), '\u0003')
  t.equal(interrupted.status, 130, 'Ctrl-C at the prompt exits 130')
  t.match(interrupted.stdout, /Error: interrupted/)
  t.throws(() => statSync(join(tmp.path, 'c')), 'nothing written after Ctrl-C')
})
