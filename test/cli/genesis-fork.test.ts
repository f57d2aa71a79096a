import t from 'tap'
import { parseGenesis } from '../../node/genesis/index.ts'
import { DEV0, medrec } from './run-cli.ts'

t.test('genesis new --hardfork writes geth\'s fork keys; new chains get the newest fork', async (t) => {
  const dflt = await medrec(['genesis', 'new', '--authorities', DEV0, '--period', '1'])
  t.equal(dflt.code, 0, dflt.stderr)
  const json = JSON.parse(dflt.stdout) as { config: Record<string, unknown> }
  t.match(json.config, { shanghaiTime: 0, cancunTime: 0, pragueTime: 0, osakaTime: 0 }, 'default: osaka, as solc\'s default target')
  t.equal(parseGenesis(json).hardfork, 'osaka')

  const cancun = await medrec(['genesis', 'new', '--authorities', DEV0, '--period', '1', '--hardfork', 'Cancun'])
  t.equal(cancun.code, 0, cancun.stderr)
  const c = JSON.parse(cancun.stdout) as { config: Record<string, unknown> }
  t.equal(c.config.cancunTime, 0)
  t.equal(c.config.pragueTime, undefined, 'nothing after the chosen fork')
  t.equal(parseGenesis(c).hardfork, 'cancun')

  const shanghai = await medrec(['genesis', 'new', '--authorities', DEV0, '--period', '1', '--hardfork', 'shanghai'])
  t.equal(shanghai.code, 0, shanghai.stderr)
  t.notMatch(shanghai.stdout, /Time"/, 'shanghai: the file as before forks could be chosen')
})

t.test('genesis new refuses a fork it does not know, naming the ones it runs', async (t) => {
  for (const name of ['amsterdam', 'paris', 'london', 'osaka2']) {
    const r = await medrec(['genesis', 'new', '--authorities', DEV0, '--period', '1', '--hardfork', name])
    t.equal(r.code, 2, `${name}: usage error`)
    t.match(r.stderr, `invalid value for --hardfork: this node runs shanghai, cancun, prague, osaka, got "${name}"`)
    t.equal(r.stdout, '', 'no genesis written')
  }
})
