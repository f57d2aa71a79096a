/**
 * (a) SIGKILL loop under load: one authority sealing 1 s blocks while transfers arrive, killed
 * with SIGKILL at a random moment and restarted on its data dir, again and again. Expected: no
 * receipt a client was shown before a kill is missing or different afterwards, and the head
 * never goes back below a block a client saw.
 */
import { createChainCommon } from '../../../evm/index.ts'
import { createLocalNetwork } from '../../harness/local-network.ts'
import { rpc, sleep, toNumber } from '../../harness/rpc.ts'
import { percentile } from '../report.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { createLoad, fundSenders, senderKeys } from './load.ts'
import { fmt, seconds, type Scenario, type ScenarioResult } from './scenario.ts'

const PERIOD = 1

export const sigkillScenario: Scenario = {
  name: 'sigkill',
  description: 'SIGKILL one sealing authority at random moments under load, restart it on its data dir: acknowledged receipts lost',
  async run({ quick }): Promise<ScenarioResult> {
    const rounds = quick ? 3 : 10
    const rate = 40
    const senders = 8
    const net = await createLocalNetwork(1, { period: PERIOD, logLevel: 'info' })
    const m = net.members[0]!
    try {
      await net.start(0)
      const common = createChainCommon({ chainId: 4242n, period: PERIOD, epoch: 30000n })
      await fundSenders(common, m.node!.url, m, senderKeys(senders))
      const load = createLoad({ common, urlOf: () => m.node?.url, senders, rate })
      load.start()
      const restartMs: number[] = []
      const problems: string[] = []
      let highestSeen = 0
      let ackedAtKills = 0
      let lostTotal = 0
      for (let round = 1; round <= rounds; round++) {
        // A random moment: mid-build, mid-commit or idle, whatever it hits.
        await sleep((quick ? 1500 : 2000) + Math.random() * (quick ? 1500 : 4000))
        highestSeen = Math.max(highestSeen, toNumber(await rpc<string>(m.node!.url, 'eth_blockNumber')))
        const ackedBefore = new Map(load.acked)
        await m.node!.kill()
        m.node = undefined
        const t0 = performance.now()
        const node = (await net.start(0)).node!
        restartMs.push(performance.now() - t0)
        const head = toNumber(await rpc<string>(node.url, 'eth_blockNumber'))
        if (head < highestSeen) problems.push(`round ${round}: head ${head} after restart, below block ${highestSeen} seen before the kill`)
        const complaint = /.*(went BACK|dropped data while recovering).*/.exec(node.output())
        if (complaint !== null) problems.push(`round ${round}: the start-up check complained: ${complaint[0]}`)
        const url = node.url
        let lost = 0
        for (const [hash, a] of ackedBefore) {
          const r = await rpc<{ blockHash: string } | null>(url, 'eth_getTransactionReceipt', [hash])
          if (r === null || r.blockHash !== a.blockHash) lost++
        }
        lostTotal += lost
        if (lost > 0) problems.push(`round ${round}: ${lost} of ${ackedBefore.size} acknowledged receipts missing or moved`)
        ackedAtKills = ackedBefore.size
        process.stderr.write(`  kill ${round}/${rounds}: head ${head} (seen ${highestSeen}), ${ackedBefore.size} receipts acknowledged so far, ${lost} lost, up again in ${seconds(restartMs.at(-1)!)}\n`)
      }
      await load.stop()
      const { missing, resent } = await load.drain(60_000)
      const { gone, moved } = await load.lostAcks(() => m.node!.url)
      lostTotal += gone.length + moved.length
      if (gone.length + moved.length > 0) problems.push(`after the last restart: ${gone.length} acknowledged receipts gone, ${moved.length} in another block`)
      if (missing.length > 0) problems.push(`${missing.length} accepted transactions never included (even sent again)`)
      const head = toNumber(await rpc<string>(m.node!.url, 'eth_blockNumber'))
      return {
        title: `SIGKILL loop under load: one authority, ${PERIOD} s blocks, ${rate} transfers/s, ${rounds} kills`,
        verdict: problems.length === 0 ? 'pass' : 'fail',
        expectation: 'every receipt acknowledged before a kill is there after it, in the same block; the head never goes back',
        rows: [
          { metric: 'kills (SIGKILL at random moments under load)', value: String(rounds) },
          { metric: 'receipts acknowledged before the last kill', value: String(ackedAtKills) },
          { metric: 'acknowledged receipts lost or moved (checked after each restart and at the end)', value: String(lostTotal) },
          { metric: 'accepted / acknowledged at the end', value: `${load.accepted.size} / ${load.acked.size}` },
          { metric: 'accepted, then gone from the pool after a kill (signed and sent again)', value: `${load.rewound() + resent} (the pool is not persisted: a wallet resends)` },
          { metric: 'sends refused or unanswered', value: `${load.refused()}: ${[...load.refusals()].map(([w, n]) => `${n}× ${w}`).join('; ')}` },
          { metric: 'restart to RPC ready p50 / max', value: `${seconds(percentile(restartMs, 50))} / ${seconds(Math.max(...restartMs))}` },
          { metric: 'final head', value: `${head} (${fmt(head / Math.max(1, rounds), 0)} blocks per kill)` },
          ...(problems.length > 0 ? [{ metric: 'problems', value: problems.join('; ') }] : []),
        ],
      }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
    }
  },
}
