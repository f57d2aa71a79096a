import t from 'tap'
import { COMMON_FLAGS, parseAddressFlag, parseFlags, parseInteger, parsePort, parseWei, suggest } from '../../cli/args.ts'
import { CliErrorCode, exitCodeOf, isCliError } from '../../cli/errors.ts'
import type { FlagSpec } from '../../cli/types.ts'

const SPECS: FlagSpec[] = [
  { name: 'datadir', kind: 'string', placeholder: 'DIR', default: 'required', description: '' },
  { name: 'rpc.port', kind: 'string', placeholder: 'P', default: '8545', description: '' },
  { name: 'dev', kind: 'boolean', default: 'off', description: '' },
  { name: 'alloc', kind: 'string', placeholder: 'ADDR=WEI', default: 'none', description: '', repeatable: true },
  ...COMMON_FLAGS,
]

t.test('flags take values separated by a space or by =, booleans stand alone', async (t) => {
  const f = parseFlags(['--datadir', '/x', '--rpc.port=0', '--dev', '--alloc', 'a=1', '--alloc=b=2'], SPECS, 'medrec start')
  t.equal(f.string('datadir'), '/x')
  t.equal(f.string('rpc.port'), '0')
  t.equal(f.boolean('dev'), true)
  t.same(f.all('alloc'), ['a=1', 'b=2'], 'repeatable flag keeps every value in order; the value may contain =')
  t.equal(f.has('help'), false)
  t.equal(parseFlags(['--dev=false'], SPECS, 'x').boolean('dev'), false)
  t.equal(parseFlags(['-h'], SPECS, 'x').boolean('help'), true)
})

t.test('parse errors are usage errors (exit 2) that name the flag', async (t) => {
  const usage = (argv: string[], message: RegExp | string) => {
    try {
      parseFlags(argv, SPECS, 'medrec start')
      t.fail(`accepted ${argv.join(' ')}`)
    } catch (err) {
      t.ok(isCliError(err, CliErrorCode.USAGE), 'a CLI_USAGE error')
      t.equal(exitCodeOf(err), 2)
      t.match((err as Error).message, message)
    }
  }
  usage(['--rpc.prot', '1'], 'unknown flag --rpc.prot for "medrec start" (did you mean --rpc.port?)')
  usage(['--datdir=/x'], 'unknown flag --datdir for "medrec start" (did you mean --datadir?)')
  usage(['--zzzzzz'], /^unknown flag --zzzzzz for "medrec start"$/)
  usage(['-datadir', 'x'], 'unknown flag -datadir for "medrec start" (did you mean --datadir?)')
  usage(['--datadir'], 'flag --datadir needs a value: --datadir DIR')
  usage(['--datadir', '--dev'], 'flag --datadir needs a value')
  usage(['--datadir='], 'flag --datadir needs a value')
  usage(['--datadir', 'a', '--datadir', 'b'], 'flag --datadir is given more than once')
  usage(['--dev=maybe'], 'invalid value for --dev: expected true or false, got "maybe"')
  usage(['stray'], 'unexpected argument "stray" for "medrec start"')
})

t.test('suggestions allow one or two typos, not unrelated words', async (t) => {
  t.equal(suggest('strat', ['start', 'init', 'account']), 'start')
  t.equal(suggest('acount', ['start', 'init', 'account']), 'account')
  t.equal(suggest('nit', ['start', 'init']), 'init')
  t.equal(suggest('deploy', ['start', 'init', 'account']), undefined)
})

t.test('value parsers', async (t) => {
  t.equal(parsePort('0', 'rpc.port'), 0)
  t.equal(parsePort('65535', 'rpc.port'), 65535)
  t.throws(() => parsePort('65536', 'rpc.port'), { code: 'CLI_USAGE', message: 'invalid value for --rpc.port: expected an integer from 0 to 65535, got "65536"' })
  t.throws(() => parsePort('80a', 'rpc.port'), { code: 'CLI_USAGE', message: /--rpc\.port/ })
  t.equal(parseInteger('1337', 'chain-id', 1n, 100000n), 1337n)
  t.throws(() => parseInteger('-1', 'chain-id', 1n, 10n), { code: 'CLI_USAGE', message: /--chain-id/ })

  t.equal(parseWei('123', 'alloc'), 123n)
  t.equal(parseWei('100ether', 'alloc'), 100n * 10n ** 18n)
  t.equal(parseWei('1.5ether', 'alloc'), 15n * 10n ** 17n)
  t.equal(parseWei('5gwei', 'base-fee'), 5_000_000_000n)
  t.equal(parseWei('7 wei', 'alloc'), 7n)
  t.equal(parseWei('0x10', 'alloc'), 16n)
  t.throws(() => parseWei('1.5', 'alloc'), { code: 'CLI_USAGE', message: 'invalid value for --alloc: expected at most 0 decimals for wei, got "1.5"' })
  t.throws(() => parseWei('1.0000000001gwei', 'base-fee'), { code: 'CLI_USAGE', message: /at most 9 decimals for gwei/ })
  t.throws(() => parseWei('3 bitcoin', 'alloc'), { code: 'CLI_USAGE', message: /--alloc: expected wei/ })
  t.throws(() => parseWei('lots', 'alloc'), { code: 'CLI_USAGE' })

  t.same(parseAddressFlag('0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266', 'authority'), Buffer.from('f39fd6e51aad88f6f4ce6ab8827279cfffb92266', 'hex'))
  t.throws(() => parseAddressFlag('0x1234', 'authority'), { code: 'CLI_USAGE', message: /^invalid value for --authority: / })
  t.throws(() => parseAddressFlag('0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266', 'authorities'), { code: 'CLI_USAGE', message: /--authorities: .*checksum/ })
})
