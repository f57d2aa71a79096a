import t from 'tap'
import { genesisToJson, newGenesis, parseGenesis, type Genesis } from '../../node/genesis/index.ts'
import { Chain } from '../../node/chain/index.ts'
import { addressOf, DEV_KEYS, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'
import { setLogLevel } from '../../common/logger.ts'

setLogLevel('error')

const A = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- broken shapes on purpose
function doc(config: Record<string, any> = {}): Record<string, any> {
  return { config: { chainId: 1337, consensus: 'poa', poa: { period: 2 }, ...config }, gasLimit: '0x1c9c380', authorities: [A] }
}

t.test('the fork comes from geth\'s <fork>Time keys; none is Shanghai', async (t) => {
  t.equal(parseGenesis(doc()).hardfork, 'shanghai', 'a file from before forks could be chosen runs as it did')
  t.equal(parseGenesis(doc({ shanghaiTime: 0 })).hardfork, 'shanghai')
  t.equal(parseGenesis(doc({ cancunTime: 0 })).hardfork, 'cancun')
  t.equal(parseGenesis(doc({ cancunTime: 0, pragueTime: 0 })).hardfork, 'prague')
  t.equal(parseGenesis(doc({ shanghaiTime: 0, cancunTime: 0, pragueTime: 0, osakaTime: 0 })).hardfork, 'osaka')
  t.equal(parseGenesis(doc({ londonBlock: 0, berlinBlock: 0, cancunTime: 0 })).hardfork, 'cancun', 'geth\'s block forks up to London, as 0, are accepted')
  const pow = parseGenesis({ ...doc({ consensus: 'pow', poa: undefined, pow: { targetBlockTime: 2 }, cancunTime: 0, pragueTime: 0, osakaTime: 0 }), authorities: [] })
  t.equal(pow.hardfork, 'osaka', 'proof of work runs the same forks')
})

t.test('a fork the node does not know, or cannot run, is refused by name', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a newer fork', { cancunTime: 0, pragueTime: 0, osakaTime: 0, amsterdamTime: 0 }, 'GENESIS_UNKNOWN_FORK', /^genesis\.config\.amsterdamTime: turns on fork "amsterdam", which this node does not know \(it runs shanghai, cancun, prague, osaka; no proof-of-stake forks\)/],
    ['a blob-parameter fork', { bpo1Time: 0 }, 'GENESIS_UNKNOWN_FORK', /fork "bpo1", which this node does not know/],
    ['a proof-of-stake fork by block', { mergeNetsplitBlock: 0 }, 'GENESIS_UNKNOWN_FORK', /fork "mergeNetsplit", which this node does not know/],
    ['a blob schedule', { cancunTime: 0, blobSchedule: { cancun: { target: 3, max: 6 } } }, 'GENESIS_UNKNOWN_FORK', /^genesis\.config\.blobSchedule: a medrec chain carries no blobs/],
    ['a fork after genesis', { cancunTime: 0, pragueTime: 1_800_000_000 }, 'GENESIS_UNKNOWN_FORK', /^genesis\.config\.pragueTime: turning on prague after the genesis block is not supported: set 0/],
    ['a gap', { cancunTime: 0, osakaTime: 0 }, 'GENESIS_INVALID_GENESIS', /^genesis\.config\.osakaTime: is set but config\.pragueTime is not: a fork needs every earlier one; add "pragueTime": 0/],
    ['a late London', { londonBlock: 5 }, 'GENESIS_INVALID_GENESIS', /^genesis\.config\.londonBlock: every fork up to London is on from block 0/],
    ['a time that is not a number', { cancunTime: '0' }, 'GENESIS_INVALID_GENESIS', /^genesis\.config\.cancunTime: must be a non-negative integer/],
    ['a misspelt key', { cancuntime: 0 }, 'GENESIS_INVALID_GENESIS', /unknown field: did you mean "cancunTime"/],
  ]
  for (const [what, config, code, message] of cases) {
    t.throws(() => parseGenesis(doc(config)), { code, message }, what)
  }
})

t.test('the fork survives writing and reading the file; Shanghai files stay as they were', async (t) => {
  const authorities = [addressOf(DEV_KEYS[0]!)]
  for (const hardfork of ['shanghai', 'cancun', 'prague', 'osaka'] as const) {
    const g = newGenesis({ chainId: 9n, authorities, period: 1, hardfork, timestamp: 0n })
    t.equal(g.hardfork, hardfork)
    const json = genesisToJson(g)
    t.equal(parseGenesis(JSON.parse(JSON.stringify(json))).hardfork, hardfork, `${hardfork} round-trips`)
    const keys = Object.keys(json.config).filter((k) => k.endsWith('Time'))
    t.same(keys, hardfork === 'shanghai' ? [] : ['shanghaiTime', 'cancunTime', 'pragueTime', 'osakaTime'].slice(0, ['shanghai', 'cancun', 'prague', 'osaka'].indexOf(hardfork) + 1), `${hardfork}: geth's keys`)
  }
})

t.test('a data dir keeps its fork: the same genesis with another fork is refused at start', async (t) => {
  const dir = tempDir()
  t.teardown(dir.remove)
  const osaka: Genesis = testGenesis({ hardfork: 'osaka' })
  const chain = await Chain.open(dir.path, osaka)
  t.equal(chain.common.hardfork(), 'osaka', 'the chain runs the genesis fork')
  await chain.close()
  // The genesis hash does not cover the fork: only the stored config catches the change.
  await t.rejects(Chain.open(dir.path, testGenesis({ hardfork: 'shanghai' })), {
    code: 'CHAIN_GENESIS_MISMATCH',
    message: 'genesis.json sets hardfork shanghai but the chain in this data dir has osaka: use another --datadir',
  })
  const again = await Chain.open(dir.path, osaka)
  t.equal(again.common.hardfork(), 'osaka', 'the same file opens')
  await again.close()
})
