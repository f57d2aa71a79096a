import t, { type Test } from 'tap'
import { Address, bytesToHex } from '@ethereumjs/util'
import { setLogLevel } from '../../common/logger.ts'
import { Chain } from '../../node/chain/index.ts'
import { createMempool, createSenderRecovery } from '../../node/mempool/index.ts'
import { createProducer } from '../../node/producer/producer.ts'
import { DEV_KEYS, addressOf, testGenesis } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

setLogLevel('error')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The out-of-turn signer of block 1 in a two-authority chain, producing with `receiving`
 * turning true as soon as it starts building (a block for that height arriving from a peer
 * while this one fills): it must give way, not seal a competitor.
 */
async function outOfTurnRun(t: Test, arrivesDuringBuild: boolean, ms: number) {
  const dir = tempDir()
  const keys = DEV_KEYS.slice(0, 2)
  const chain = await Chain.open(dir.path, testGenesis({ period: 1, authorities: keys.map(addressOf) }))
  const recovery = createSenderRecovery({ workers: 0 })
  t.teardown(async () => {
    await recovery.close()
    await chain.close()
    dir.remove()
  })
  const mempool = createMempool({}, { common: chain.common, recovery, getAccount: (a) => chain.headAccount(a) })
  const signers = chain.consensus.voting!.signers(chain.snapshot)
  // In turn for block 1 is signers[1 % 2]; the other one is out of turn.
  const key = keys.find((k) => bytesToHex(addressOf(k)) === signers[0])!
  const author = new Address(addressOf(key))
  let arriving = false
  let builds = 0
  const build = chain.buildBlock.bind(chain)
  chain.buildBlock = (o) => {
    builds++
    arriving = arrivesDuringBuild
    return build(o)
  }
  const producer = createProducer({ author, sealer: chain.consensus.createSealer({ address: author, privateKey: key }) }, { chain, mempool, receiving: () => arriving })
  producer.start()
  await sleep(ms)
  await producer.stop()
  return { head: chain.head.block, builds }
}

t.test('out of turn, a block for the same height arriving while this one is built wins: no competitor is sealed', async (t) => {
  const { head, builds } = await outOfTurnRun(t, true, 4000)
  t.ok(builds >= 1, `it started building (${builds})`)
  t.equal(head.header.number, 0n, 'and sealed nothing')
})

t.test('control: with nothing arriving the same signer seals block 1 out of turn', async (t) => {
  const { head } = await outOfTurnRun(t, false, 4000)
  t.equal(head.header.number, 1n)
  t.equal(head.header.difficulty, 1n, 'out of turn (difficulty 1)')
})
