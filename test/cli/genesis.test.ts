import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { genesisToJson, parseGenesis } from '../../node/genesis/index.ts'
import { DEV0, DEV1, medrec, medrecBatch, passwordFile, tempDir } from './run-cli.ts'
import { poaOf } from '../helpers/chain.ts'

const lower = (a: string) => a.toLowerCase()
const hex = (b: Uint8Array) => '0x' + Buffer.from(b).toString('hex')

t.test('genesis new prints a genesis that parses, with the given authorities, alloc and period', async (t) => {
  const r = await medrec([
    'genesis', 'new', '--consensus', 'poa', '--authorities', `${DEV0},${lower(DEV1)}`, '--period', '3', '--epoch', '100',
    '--chain-id', '4242', '--gas-limit', '40000000', '--base-fee', '2gwei', '--alloc', `${DEV0}=100ether`, `--alloc=${DEV1}=1.5ether`,
  ])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  t.match(r.stdout, /^\{\n {2}"config": \{\n {4}"chainId": 4242,/, 'two-space indented JSON')
  const json = JSON.parse(r.stdout) as { alloc: Record<string, unknown>; predeploys?: boolean }
  t.same(Object.keys(json.alloc).sort(), [lower(DEV0), lower(DEV1)].sort(), 'only the requested accounts; system contracts come from predeploys')
  t.equal(json.predeploys, undefined)
  const g = parseGenesis(json)
  t.equal(g.chainId, 4242n)
  t.equal(g.consensus, 'poa')
  t.same(poaOf(g), { period: 3, epoch: 100n })
  t.equal(g.gasLimit, 40_000_000n)
  t.equal(g.baseFeePerGas, 2_000_000_000n)
  t.same(g.authorities.map(hex), [lower(DEV0), lower(DEV1)])
  t.equal(g.alloc.get(lower(DEV0))?.balance, 100n * 10n ** 18n)
  t.equal(g.alloc.get(lower(DEV1))?.balance, 15n * 10n ** 17n)
  t.ok(g.alloc.size > 2, 'predeploys are merged in when parsed')
  t.ok(Math.abs(Number(g.timestamp) - Date.now() / 1000) < 600, 'timestamp is now')
})

t.test('genesis new defaults, --out, and init with the written file', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const out = join(tmp.path, 'genesis.json')
  const r = await medrec(['genesis', 'new', '--authorities', DEV0, '--period', '0', '--out', out])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, '')
  t.match(r.stderr, `Wrote ${out}`)
  const text = readFileSync(out, 'utf8')
  t.ok(text.endsWith('}\n'))
  const g = parseGenesis(JSON.parse(text))
  t.equal(g.chainId, 1337n, 'chain id defaults to 1337')
  t.same(poaOf(g), { period: 0, epoch: 30000n })
  t.equal(g.gasLimit, 30_000_000n)
  t.equal(g.baseFeePerGas, 1_000_000_000n)

  // `init` stores the same chain, normalised.
  const dir = join(tmp.path, 'node')
  const init = await medrec(['init', '--datadir', dir, '--genesis', out, '--password', passwordFile(tmp.path, 'pw'), '--lightkdf'])
  t.equal(init.code, 0, init.stderr)
  t.same(JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')), JSON.parse(JSON.stringify(genesisToJson(g))))
})

t.test('genesis new --consensus pow, and init with it', async (t) => {
  const tmp = tempDir()
  t.teardown(tmp.remove)
  const out = join(tmp.path, 'genesis.json')
  const r = await medrec(['genesis', 'new', '--consensus', 'pow', '--target-block-time', '3', '--difficulty', '50000', '--reward', '1.5ether', '--authorities', DEV0, '--alloc', `${DEV1}=7ether`, '--out', out])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, 'proof of work, a block every ~3 s (reward 1500000000000000000 wei, starting difficulty 50000)')
  const g = parseGenesis(JSON.parse(readFileSync(out, 'utf8')))
  t.equal(g.consensus, 'pow')
  t.same(g.consensus === 'pow' && g.pow, { targetBlockTime: 3, blockReward: 15n * 10n ** 17n, minimumDifficulty: 1000n })
  t.equal(g.difficulty, 50_000n)
  t.same(g.authorities.map(hex), [lower(DEV0)], 'the certified providers')
  const dir = join(tmp.path, 'node')
  const init = await medrec(['init', '--datadir', dir, '--genesis', out, '--password', passwordFile(tmp.path, 'pw'), '--lightkdf'])
  t.equal(init.code, 0, init.stderr)
  t.match(init.stderr, 'proof of work, a block every ~3 s')
  t.same(JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')), JSON.parse(JSON.stringify(genesisToJson(g))), 'init keeps the pow genesis')
})

t.test('genesis new rejects bad values with exit 2, naming the flag', async (t) => {
  const hint = 'Run "medrec genesis new --help" for usage.\n'
  const base = ['genesis', 'new', '--authorities', DEV0, '--period', '2']
  const cases: Array<[string[], string]> = [
    [['genesis', 'new', '--consensus', 'pow', '--authorities', DEV0, '--period', '2'], '--period is not used with --consensus pow'],
    [[...base, '--consensus', 'raft'], 'invalid value for --consensus: expected poa or pow, got "raft"'],
    [[...base, '--difficulty', '5'], '--difficulty is not used with --consensus poa'],
    [['genesis', 'new', '--consensus', 'pow'], 'missing --target-block-time S for "medrec genesis new"'],
    [['genesis', 'new', '--consensus', 'pow', '--target-block-time', '0'], 'invalid value for --target-block-time: expected an integer from 1'],
    [['genesis', 'new', '--consensus', 'pow', '--target-block-time', '2', '--reward', 'lots'], 'invalid value for --reward: expected wei'],
    [['genesis', 'new', '--consensus', 'pow', '--target-block-time', '2', '--difficulty', '10'], 'genesis.difficulty: must be between 1000 and'],
    [['genesis', 'new', '--period', '2'], 'missing --authorities A,B for "medrec genesis new"'],
    [['genesis', 'new', '--authorities', DEV0], 'missing --period S for "medrec genesis new"'],
    [['genesis', 'new', '--authorities', ',', '--period', '2'], 'invalid value for --authorities: expected at least one address'],
    [['genesis', 'new', '--authorities', '0x1234', '--period', '2'], 'invalid value for --authorities: '],
    [[...base, '--period', 'soon'], 'flag --period is given more than once'],
    [['genesis', 'new', '--authorities', DEV0, '--period', 'soon'], 'invalid value for --period: expected an integer from 0 to 2147483647, got "soon"'],
    [[...base, '--chain-id', '0'], 'invalid value for --chain-id: expected an integer from 1 to 9007199254740991, got "0"'],
    [[...base, '--gas-limit', '100'], 'invalid value for --gas-limit: expected an integer from 5000'],
    [[...base, '--epoch', '0'], 'invalid value for --epoch: expected an integer from 1'],
    [[...base, '--base-fee', 'cheap'], 'invalid value for --base-fee: expected wei'],
    [[...base, '--alloc', DEV0], `invalid value for --alloc: expected ADDRESS=WEI (e.g. 0xabc...=100ether), got "${DEV0}"`],
    [[...base, '--alloc', '0xabc=1'], 'invalid value for --alloc: '],
    [[...base, '--alloc', `${DEV0}=1`, '--alloc', `${lower(DEV0)}=2`], `invalid value for --alloc: ${lower(DEV0)} is given twice`],
    [[...base, '--alloc', `${DEV0}=1.5`], 'invalid value for --alloc: expected at most 0 decimals for wei, got "1.5"'],
  ]
  // Usage errors end in parsing: the first runs as its own process, the rest batched in one (medrecBatch).
  const results = [await medrec(cases[0]![0]), ...(await medrecBatch(cases.slice(1).map(([args]) => args)))]
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, args.join(' '))
    t.ok(r.stderr.startsWith(`Error: ${message}`), `${args.join(' ')}\n${r.stderr}`)
    t.ok(r.stderr.endsWith(`\n${hint}`), 'usage hint')
    t.equal(r.stdout, '')
  }
})
