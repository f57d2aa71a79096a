/**
 * (d) A lossy, slow link: three authorities (--nodiscover, so nobody finds a way around it);
 * 0 and 1 peer directly, 2 reaches each of them only through a userspace relay
 * (harness/relay.ts) adding delay, jitter and periodic stalls, both directions. Expected: the
 * block rate holds (two of three authorities suffice), the far authority follows within a few
 * blocks and still gets blocks and transactions in, and nothing accepted is lost.
 */
import { createChainCommon } from '../../../evm/index.ts'
import { createLocalNetwork } from '../../harness/local-network.ts'
import { startLossyRelay, type LossyLinkOptions, type LossyRelay } from '../../harness/relay.ts'
import { rpc, sleep, toNumber, waitFor } from '../../harness/rpc.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { percentile } from '../report.ts'
import { createLoad, fundSenders, senderKeys } from './load.ts'
import { fmt, type Scenario, type ScenarioResult } from './scenario.ts'

const PERIOD = 1
const LINK: LossyLinkOptions = { delayMs: 100, jitterMs: 100, stallEveryMs: 7000, stallMs: 1500 }

export const lossyLinkScenario: Scenario = {
  name: 'lossy-link',
  description: `one of three authorities behind a relay adding ${LINK.delayMs} ms + 0-${LINK.jitterMs} ms per chunk and a ${LINK.stallMs} ms stall every ${LINK.stallEveryMs / 1000} s: block rate, how far it trails`,
  async run({ quick }): Promise<ScenarioResult> {
    const window = (quick ? 20 : 60) * 1000
    const title = `Lossy link: 3 authorities, ${PERIOD} s blocks, node 2 behind a relay (${LINK.delayMs} ms + jitter ${LINK.jitterMs} ms, ${LINK.stallMs} ms stall every ${LINK.stallEveryMs / 1000} s), 6 transfers/s`
    const expectation = 'block rate within 80% of one per period; the far node trails by at most a few blocks; no accepted transaction lost'
    const net = await createLocalNetwork(3, { period: PERIOD, logLevel: 'info', args: ['--nodiscover'] })
    const relays: LossyRelay[] = []
    const problems: string[] = []
    try {
      await net.start(0)
      await net.start(1, { bootnodes: [net.members[0]!.enode!] })
      const viaRelay = async (i: number) => {
        const m = /^(\/ip4\/[\d.]+\/tcp\/)(\d+)(\/p2p\/.+)$/.exec(net.members[i]!.enode!)!
        const relay = await startLossyRelay('127.0.0.1', Number(m[2]), LINK)
        relays.push(relay)
        return `${m[1]}${relay.port}${m[3]}`
      }
      await net.start(2, { bootnodes: [await viaRelay(0), await viaRelay(1)] })
      const url = (i: number) => net.members[i]!.node!.url
      const head = async (i: number) => toNumber(await rpc<string>(url(i), 'eth_blockNumber'))
      await waitFor(async () => (await rpc<unknown[]>(url(2), 'admin_peers')).length === 2, 'node 2 to peer with both through the relays', 60_000)
      const common = createChainCommon({ chainId: 4242n, period: PERIOD, epoch: 30000n })
      await fundSenders(common, url(0), net.members[0]!, senderKeys(3, 'lossy'))
      const load = createLoad({ common, urlOf: (s) => net.members[s]?.node?.url, senders: 3, rate: 6, label: 'lossy' })
      load.start()

      const start = await head(0)
      const t0 = performance.now()
      const lags: number[] = []
      while (performance.now() - t0 < window) {
        const [h0, h2] = await Promise.all([head(0), head(2)])
        lags.push(h0 - h2)
        await sleep(250)
      }
      const elapsed = (performance.now() - t0) / 1000
      const end = await head(0)
      const sealers = await Promise.all(Array.from({ length: end - start }, (_, k) => rpc<string>(url(0), 'clique_getSigner', [`0x${(start + 1 + k).toString(16)}`])))
      const far = net.members[2]!.address.toLowerCase()
      const byFar = sealers.filter((s) => s.toLowerCase() === far).length
      const rate = (end - start) / elapsed
      await load.stop()
      const { missing } = await load.drain(60_000)
      const farAccepted = [...load.accepted.values()].filter((a) => a.sender === 2).length
      const farIncluded = [...load.acked.values()].filter((a) => a.sender === 2).length
      const stats = relays.map((r) => r.stats())
      if (rate < 0.8 / PERIOD) problems.push(`block rate ${fmt(rate, 2)}/s`)
      if (percentile(lags, 50) > 2) problems.push(`node 2 trails by ${percentile(lags, 50)} blocks at the median`)
      if (missing.length > 0) problems.push(`${missing.length} accepted transactions never included`)
      const rows = [
        { metric: `blocks at node 0 in ${fmt(elapsed, 0)} s`, value: `${end - start} (${fmt(rate, 2)} blocks/s; period ${PERIOD} s)` },
        { metric: 'blocks sealed by the far authority', value: `${byFar} of ${end - start}` },
        { metric: 'far node behind node 0, blocks p50 / p99 / max (sampled every 250 ms)', value: `${percentile(lags, 50)} / ${percentile(lags, 99)} / ${Math.max(...lags)}` },
        { metric: "far node's own transactions accepted / included", value: `${farAccepted} / ${farIncluded}` },
        { metric: 'all accepted / never included', value: `${load.accepted.size} / ${missing.length}` },
        { metric: 'relayed through the two links: chunks, KiB, stalls', value: `${stats.reduce((a, s) => a + s.chunks, 0)}, ${fmt(stats.reduce((a, s) => a + s.bytes, 0) / 1024, 0)}, ${stats.map((s) => s.stalls).join('+')}` },
        ...(problems.length > 0 ? [{ metric: 'problems', value: problems.join('; ') }] : []),
      ]
      return { title, verdict: problems.length === 0 ? 'pass' : 'fail', expectation, rows }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
      await Promise.all(relays.map((r) => r.close()))
    }
  },
}
