import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NODE, ROOT } from '../helpers/node-process.ts'
import { medrec, medrecBatch } from './run-cli.ts'

// Every command and the flags its help must list (each with its default).
const COMMANDS: Record<string, string[]> = {
  start: ['datadir', 'rpc.addr', 'rpc.port', 'rpc.corsdomain', 'authority', 'password', 'dev', 'dev.period', 'log.level'],
  init: ['datadir', 'genesis', 'dev', 'password', 'mnemonic', 'lightkdf', 'json', 'log.level'],
  'account new': ['datadir', 'password', 'lightkdf', 'json'],
  'account list': ['datadir', 'json'],
  'account import': ['datadir', 'mnemonic', 'index', 'keyfile', 'keyfile.password', 'private-key-file', 'password', 'lightkdf', 'json'],
  'genesis new': ['consensus', 'authorities', 'period', 'epoch', 'chain-id', 'gas-limit', 'base-fee', 'alloc', 'out'],
}

// Help and usage errors end in parsing: most cases run batched in one process (medrecBatch); one case per
// test also runs as its own `medrec` process, so what a user's shell sees (exit status, streams) stays covered.

t.test('medrec --help and medrec help list the commands', async (t) => {
  const spellings = [['--help'], ['-h'], ['help']]
  const results = [await medrec(spellings[0]!), ...(await medrecBatch(spellings.slice(1)))]
  for (const [i, args] of spellings.entries()) {
    const r = results[i]!
    t.equal(r.code, 0, args.join(' '))
    t.match(r.stdout, /^medrec \d+\.\d+\.\d+/)
    for (const c of ['start', 'init', 'account', 'genesis', 'help', 'version']) t.match(r.stdout, new RegExp(`\\n  ${c}\\b`), `lists ${c}`)
    t.equal(r.stderr, '')
  }
})

t.test('every command has help in three spellings, listing every flag with its default', async (t) => {
  const commands = Object.entries(COMMANDS)
  const ways = (words: string[]) => [[...words, '--help'], [...words, '-h'], ['help', ...words]]
  const all = await medrecBatch([...commands.flatMap(([cmd]) => ways(cmd.split(' '))), ['start', '--bogus', '--help']])
  for (const [n, [cmd, flags]] of commands.entries()) {
    const outputs = all.slice(3 * n, 3 * n + 3)
    for (const r of outputs) {
      t.equal(r.code, 0, `${cmd} help exits 0`)
      t.equal(r.stdout, outputs[0]!.stdout, `${cmd}: the same help every way`)
    }
    const help = outputs[0]!.stdout
    t.match(help, new RegExp(`^Usage: medrec ${cmd} `), `${cmd} usage line`)
    for (const f of flags) t.match(help, new RegExp(`\\n  --${f.replace('.', '\\.')}\\b[^\\n]*\\[default: [^\\]]+\\]`), `${cmd} documents --${f} with a default`)
  }
  // --help wins over flags that would otherwise be errors.
  const r = all.at(-1)!
  t.equal(r.code, 0)
  t.match(r.stdout, /^Usage: medrec start/)
})

t.test('groups list their subcommands', async (t) => {
  const groups = [['account', ['new', 'list', 'import']], ['genesis', ['new']]] as const
  const results = await medrecBatch(groups.flatMap(([group]) => [[group, '--help'], ['help', group]]))
  for (const [n, [group, subs]] of groups.entries()) {
    for (const r of results.slice(2 * n, 2 * n + 2)) {
      t.equal(r.code, 0)
      t.match(r.stdout, new RegExp(`^Usage: medrec ${group} <command>`))
      for (const s of subs) t.match(r.stdout, new RegExp(`\\n  ${s}\\b`))
    }
  }
})

t.test('--version prints the package version and the Node version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const results = await medrecBatch([['--version'], ['version']])
  for (const r of results) {
    t.equal(r.code, 0)
    t.equal(r.stdout, `medrec ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`)
  }
})

t.test('usage errors exit 2 with a hint, suggestions for typos', async (t) => {
  const cases: Array<[string[], string, string]> = [
    [['start', '--rpc.prot', '9'], 'Error: unknown flag --rpc.prot for "medrec start" (did you mean --rpc.port?)', 'Run "medrec start --help" for usage.'],
    [['strat'], 'Error: unknown command "strat" for "medrec" (did you mean start?)', 'Run "medrec --help" for usage.'],
    [['account', 'nwe'], 'Error: unknown command "nwe" for "medrec account" (did you mean new?)', 'Run "medrec account --help" for usage.'],
    [['account'], 'Error: "medrec account" needs a command: new, list, import', 'Run "medrec account --help" for usage.'],
    [['account', '--datadir', 'x'], 'Error: "medrec account" needs a command before flags: new, list, import', 'Run "medrec account --help" for usage.'],
    [['--verison'], 'Error: unknown flag --verison for "medrec" (did you mean --version?); command flags go after the command', 'Run "medrec --help" for usage.'],
    [['help', 'stat'], 'Error: unknown command "stat" for "medrec" (did you mean start?)', 'Run "medrec --help" for usage.'],
    [['help', 'start', 'now'], 'Error: "medrec start" has no subcommand "now"', 'Run "medrec --help" for usage.'],
    [['start', '--log.level', 'loud'], 'Error: invalid value for --log.level: expected one of error, warn, info, debug, trace, got "loud"', 'Run "medrec start --help" for usage.'],
    [['genesis', 'new', '--period'], 'Error: flag --period needs a value: --period S', 'Run "medrec genesis new --help" for usage.'],
  ]
  const results = [await medrec(cases[0]![0]), ...(await medrecBatch(cases.slice(1).map(([args]) => args)))]
  for (const [i, [args, error, hint]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, args.join(' '))
    t.equal(r.stderr, `${error}\n${hint}\n`, args.join(' '))
    t.equal(r.stdout, '')
  }
  const none = (await medrecBatch([[]]))[0]!
  t.equal(none.code, 2)
  t.match(none.stderr, /Usage: medrec <command>[\s\S]*Error: no command given/)
})

// Every `medrec` call loads every command's module for its flags, so those modules must not pull
// in the heavy packages at load time (viem and the contracts' ABIs through the revert decoder
// were 0.4 s of CPU per call); what a command needs, it loads when it runs.
t.test('medrec --help loads no viem, no ethereumjs and no libp2p', async (t) => {
  const hook = [
    "import { registerHooks } from 'node:module'",
    'const heavy = new Set()',
    "registerHooks({ resolve(s, c, next) { const r = next(s, c); const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url); if (m && /^(viem|ox|abitype|@ethereumjs\\/|libp2p|@libp2p\\/)/.test(m[1])) heavy.add(m[1]); return r } })",
    "process.on('exit', () => process.stderr.write('heavy packages: ' + [...heavy].join(',') + '\\n'))",
  ].join('\n')
  const r = spawnSync(NODE, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, join(ROOT, 'bin/medrec.js'), '--help'], { encoding: 'utf8' })
  t.equal(r.status, 0)
  t.equal(r.stderr, 'heavy packages: \n', 'none loaded')
})
