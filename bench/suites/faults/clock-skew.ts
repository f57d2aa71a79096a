/**
 * (e) Clock skew: one of three authorities runs 10 s ahead (Debian's libfaketime preloaded into
 * its Node). Expected: it measures its own offset from the others' blocks, warns, exports it
 * (medrec_clock_*) and stops sealing; the others name it; the block rate of the two honest
 * authorities holds and no block is stamped ahead of real time. Skipped without libfaketime.
 */
import { createLocalNetwork, type Member } from '../../harness/local-network.ts'
import { FAKETIME_MISSING, libfaketime, secondsAhead } from '../../harness/faketime.ts'
import { parseExposition, sampleValue } from '../../harness/prometheus.ts'
import { rpc, toNumber, waitFor } from '../../harness/rpc.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { fmt, seconds, type Scenario, type ScenarioResult } from './scenario.ts'

const PERIOD = 1
const SKEW_S = 10
const SKEWED = 2

/** The first `key=<seconds>s` of the first log line matching `line`. */
function loggedSeconds(m: Member, line: RegExp, key: string): number | undefined {
  const hit = (m.node?.output() ?? '').split('\n').find((l) => line.test(l))
  const v = hit === undefined ? null : new RegExp(`${key}=([+-]?[0-9.]+)s`).exec(hit)
  return v === null || v === undefined ? undefined : Number(v[1])
}

async function metrics(m: Member): Promise<ReturnType<typeof parseExposition>> {
  const url = /Prometheus metrics listening.*?url=(\S+)/.exec(m.node!.output())![1]!
  return parseExposition(await (await fetch(url)).text())
}

export const clockSkewScenario: Scenario = {
  name: 'clock-skew',
  description: `one of three authorities ${SKEW_S} s ahead (libfaketime): warnings, metrics, refusal to seal, block rate`,
  async run({ quick }): Promise<ScenarioResult> {
    const title = `Clock skew: 3 authorities, ${PERIOD} s blocks, authority ${SKEWED} ${SKEW_S} s ahead under libfaketime`
    const expectation = 'the skewed node logs and exports its offset and stops sealing; the others name it; the block rate holds; no block stamped ahead of real time'
    const lib = libfaketime()
    if (lib === undefined) return { title, verdict: 'skip', expectation, rows: [{ metric: 'skipped', value: FAKETIME_MISSING }] }
    const blocks = quick ? 10 : 60
    const net = await createLocalNetwork(3, {
      period: PERIOD,
      logLevel: 'info',
      args: ['--metrics', '--metrics.port', '0'],
      placement: (i) => ({
        p2pAddr: '127.0.0.1',
        launch: i === SKEWED ? (nodeArgs) => secondsAhead(lib, SKEW_S, [process.execPath, nodeArgs]) : undefined,
      }),
    })
    const problems: string[] = []
    try {
      const skewed = net.members[SKEWED]!
      // The skewed one alone first: its block 1 is stamped in the others' future.
      await net.start(SKEWED)
      await waitFor(async () => toNumber(await rpc<string>(skewed.node!.url, 'eth_blockNumber')) >= 1, 'the skewed authority to seal block 1', 30_000)
      const t0 = performance.now()
      await Promise.all([net.start(0), net.start(1)])
      const own = await waitFor(async () => loggedSeconds(skewed, /This node's clock is ahead of the network's/, 'offset'), 'the skewed node to log its offset', 60_000).catch(() => undefined)
      const ownMs = performance.now() - t0
      const refused = await waitFor(async () => /Not sealing: clock off/.test(skewed.node!.output()), 'the skewed node to refuse to seal', 60_000).catch(() => false)
      const named = await Promise.all(
        [0, 1].map((i) =>
          waitFor(async () => loggedSeconds(net.members[i]!, new RegExp(`A sealer's clock is ahead of the network's.*sealer=${skewed.address}`), 'ahead'), `member ${i} to name the skewed sealer`, 60_000).catch(() => undefined),
        ),
      )
      const skewedMetrics = await metrics(skewed)
      const honestMetrics = await metrics(net.members[0]!)
      const gauge = sampleValue(skewedMetrics, 'medrec_clock_offset_seconds')
      const refusedGauge = sampleValue(skewedMetrics, 'medrec_clock_sealing_refused')
      if (own === undefined || Math.abs(own - SKEW_S) > 1.5) problems.push(`the skewed node's logged offset: ${own ?? 'none'}`)
      if (!refused || refusedGauge !== 1) problems.push('the skewed node did not refuse to seal')
      if (named.some((n) => n === undefined)) problems.push('an honest node did not name the skewed sealer')

      // The rate: the next `blocks` blocks at node 0.
      const url0 = net.members[0]!.node!.url
      const h0 = toNumber(await rpc<string>(url0, 'eth_blockNumber'))
      const w0 = performance.now()
      await waitFor(async () => toNumber(await rpc<string>(url0, 'eth_blockNumber')) >= h0 + blocks, `${blocks} more blocks`, blocks * 6000)
      const wallS = (performance.now() - w0) / 1000
      const bs = await Promise.all(Array.from({ length: blocks + 1 }, (_, k) => rpc<{ timestamp: string; miner: string }>(url0, 'eth_getBlockByNumber', [`0x${(h0 + k).toString(16)}`, false])))
      const times = bs.map((b) => toNumber(b.timestamp))
      const gaps = times.slice(1).map((x, k) => x - times[k]!)
      const sealers = await Promise.all(Array.from({ length: blocks }, (_, k) => rpc<string>(url0, 'clique_getSigner', [`0x${(h0 + 1 + k).toString(16)}`])))
      const bySkewed = sealers.filter((s) => s.toLowerCase() === skewed.address.toLowerCase()).length
      const ahead = times[blocks]! - Math.floor(Date.now() / 1000)
      if (bySkewed > 0) problems.push(`${bySkewed} blocks sealed by the skewed authority`)
      if (ahead > 1) problems.push(`the chain is stamped ${ahead} s ahead of real time`)
      if (blocks / wallS < 0.8 / PERIOD) problems.push(`block rate ${fmt(blocks / wallS, 2)}/s`)
      const rows = [
        { metric: "skewed node: offset it logged (time from the others' start)", value: `${own ?? 'none'} s (${seconds(ownMs)})` },
        { metric: 'skewed node: medrec_clock_offset_seconds / medrec_clock_sealing_refused', value: `${gauge ?? 'n/a'} / ${refusedGauge ?? 'n/a'}` },
        { metric: 'honest nodes: how far ahead they say the skewed sealer is', value: named.map((n) => `${n ?? 'not named'} s`).join(', ') + ' (a lower bound: block 1 reached them late)' },
        { metric: 'honest node 0: medrec_clock_offset_seconds / sealing refused', value: `${sampleValue(honestMetrics, 'medrec_clock_offset_seconds') ?? 'n/a'} / ${sampleValue(honestMetrics, 'medrec_clock_sealing_refused') ?? 'n/a'}` },
        { metric: `next ${blocks} blocks: wall time, chain time, largest gap`, value: `${fmt(wallS)} s (${fmt(blocks / wallS, 2)} blocks/s), ${times[blocks]! - times[0]!} s, ${Math.max(...gaps)} s` },
        { metric: 'of them sealed by the skewed authority', value: String(bySkewed) },
        { metric: 'last block stamped ahead of real time by', value: `${Math.max(0, ahead)} s` },
        ...(problems.length > 0 ? [{ metric: 'problems', value: problems.join('; ') }] : []),
      ]
      return { title, verdict: problems.length === 0 ? 'pass' : 'fail', expectation, rows }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
    }
  },
}
