/**
 * (c) Partitions: four authorities, each in its own network namespace on one bridge
 * (harness/netns.ts), under load (each node's own sender). A 3|1 cut: the three must seal on
 * and the lone one stop within Clique's signer limit; a 2|2 cut: both sides stop. After each
 * heal: the time until all four share one head, and at the end every transaction any node
 * accepted, on either side, must be in the one chain. Needs root (namespaces).
 */
import { createChainCommon } from '../../../evm/index.ts'
import { createLocalNetwork } from '../../harness/local-network.ts'
import { createNetnsLab, netnsUnavailable } from '../../harness/netns.ts'
import { rpc, sleep, toNumber, waitFor } from '../../harness/rpc.ts'
import { keepNodeLogs } from '../node-logs.ts'
import { createLoad, fundSenders, senderKeys } from './load.ts'
import { seconds, type Scenario, type ScenarioResult } from './scenario.ts'

const AUTHORITIES = 4
const PERIOD = 1

interface Snapshot {
  number: number
  signers: Record<string, unknown>
  recents: Record<string, string>
}

export const partitionScenario: Scenario = {
  name: 'partition',
  description: 'four authorities in network namespaces cut 3|1 then 2|2 under load, then healed: who seals, convergence time, transactions lost',
  async run({ quick }): Promise<ScenarioResult> {
    const expectation = '3|1: the three seal on, the lone one stops within floor(N/2)+1 blocks; 2|2: both sides stop; each heal converges to one chain; no accepted transaction lost'
    const title = `Partitions: ${AUTHORITIES} authorities in separate network namespaces, ${PERIOD} s blocks, 8 transfers/s`
    const why = netnsUnavailable()
    if (why !== undefined) return { title, verdict: 'skip', expectation, rows: [{ metric: 'skipped', value: why }] }
    const hold = (quick ? 8 : 30) * 1000
    const lab = createNetnsLab(AUTHORITIES)
    const net = await createLocalNetwork(AUTHORITIES, {
      period: PERIOD,
      logLevel: 'info',
      placement: (i) => ({ p2pAddr: lab.hosts[i]!.addr, rpcAddr: lab.hosts[i]!.rpcAddr, launch: lab.hosts[i]!.launch() }),
    })
    const problems: string[] = []
    const rows: ScenarioResult['rows'] = []
    try {
      const all = [0, 1, 2, 3]
      await net.start(0)
      await Promise.all([1, 2, 3].map((i) => net.start(i, { bootnodes: [net.members[0]!.enode!] })))
      const url = (i: number) => net.members[i]!.node!.url
      const head = async (i: number) => toNumber(await rpc<string>(url(i), 'eth_blockNumber'))
      const hashAt = async (i: number, n: number) => (await rpc<{ hash: string } | null>(url(i), 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false]))?.hash
      await waitFor(async () => (await Promise.all(all.map((i) => rpc<unknown[]>(url(i), 'admin_peers')))).every((p) => p.length === AUTHORITIES - 1), 'a full mesh', 60_000)
      const common = createChainCommon({ chainId: 4242n, period: PERIOD, epoch: 30000n })
      // Sender i sends to node i only: its nonces never race across a cut.
      await fundSenders(common, url(0), net.members[0]!, senderKeys(AUTHORITIES, 'partition'))
      const load = createLoad({ common, urlOf: (s) => net.members[s]?.node?.url, senders: AUTHORITIES, rate: 8, label: 'partition' })
      load.start()

      /** Every signer of `side` sealed too recently (Clique's recency rule) to seal the next block on node `at`'s head. */
      const halted = async (side: number[], at: number) => {
        const snap = await rpc<Snapshot>(url(at), 'clique_getSnapshot', [])
        const limit = Math.floor(Object.keys(snap.signers).length / 2) + 1
        const recent = new Set(Object.entries(snap.recents).filter(([n]) => snap.number + 1 < limit + Number(n)).map(([, s]) => s.toLowerCase()))
        return side.every((i) => recent.has(net.members[i]!.address.toLowerCase())) ? snap.number : undefined
      }
      const converge = async (what: string) => {
        const t0 = performance.now()
        const at = await waitFor(
          async () => {
            const n = Math.min(...(await Promise.all(all.map(head))))
            const hs = await Promise.all(all.map((i) => hashAt(i, n)))
            return hs.every((h) => h !== undefined && h === hs[0]) && n > 0 ? n : undefined
          },
          what,
          90_000,
        )
        // Converged means one chain that grows again: a block above the common one on all four.
        await waitFor(async () => (await Promise.all(all.map(head))).every((h) => h > at), `${what}: a new block on all four`, 60_000)
        return performance.now() - t0
      }
      await converge('the four to agree before any cut')

      // ---- 3|1 ----
      const cut1 = await head(0)
      lab.partition([[0, 1, 2], [3]])
      await sleep(hold)
      const majority = (await head(0)) - cut1
      const loneHalt = await waitFor(() => halted([3], 3), 'the lone authority to stop', 30_000).catch(() => undefined)
      const loneBlocks = (await head(3)) - cut1
      if (loneHalt === undefined) problems.push('3|1: the lone authority did not stop')
      if (majority < (hold / 1000 / PERIOD) * 0.6) problems.push(`3|1: the majority sealed only ${majority} blocks in ${hold / 1000} s`)
      lab.heal()
      const heal1 = await converge('the four to converge after the 3|1 heal')
      rows.push({ metric: `3|1: blocks sealed by the three in ${hold / 1000} s`, value: `${majority} (period ${PERIOD} s)` })
      rows.push({ metric: '3|1: blocks the lone authority added after the cut', value: `${loneBlocks} (Clique allows at most floor(4/2) = 2)` })
      rows.push({ metric: '3|1: heal to one growing chain on all four', value: seconds(heal1) })

      // ---- 2|2 ----
      const cut2 = await head(0)
      lab.partition([[0, 1], [2, 3]])
      const t2 = performance.now()
      const [left, right] = await Promise.all([
        waitFor(async () => (await halted([0, 1], 0)) !== undefined && (await halted([0, 1], 1)), 'side {0,1} to stop', 30_000).catch(() => undefined),
        waitFor(async () => (await halted([2, 3], 2)) !== undefined && (await halted([2, 3], 3)), 'side {2,3} to stop', 30_000).catch(() => undefined),
      ])
      const haltMs = performance.now() - t2
      await sleep(Math.max(0, hold - haltMs))
      const sides = [(await head(0)) - cut2, (await head(2)) - cut2]
      if (left === undefined || right === undefined) problems.push('2|2: a side kept sealing')
      lab.heal()
      const heal2 = await converge('the four to converge after the 2|2 heal')
      rows.push({ metric: '2|2: blocks each side added after the cut', value: `${sides[0]} | ${sides[1]} (both stopped after ${seconds(haltMs)})` })
      rows.push({ metric: '2|2: heal to one growing chain on all four', value: seconds(heal2) })

      await sleep(2000)
      await load.stop()
      const { missing, resent } = await load.drain(60_000)
      const { gone, moved } = await load.lostAcks(() => url(0))
      if (missing.length > 0) problems.push(`${missing.length} accepted transactions not in the final chain`)
      if (gone.length > 0) problems.push(`${gone.length} acknowledged receipts gone from the final chain`)
      rows.push({ metric: 'accepted / in the final chain', value: `${load.accepted.size} / ${load.accepted.size - missing.length}` })
      rows.push({ metric: 'acknowledged receipts that moved to another block (reorged, then included again)', value: String(moved.length) })
      rows.push({ metric: 'sent again by the drain (not back in a pool by themselves)', value: String(resent) })
      if (problems.length > 0) rows.push({ metric: 'problems', value: problems.join('; ') })
      return { title, verdict: problems.length === 0 ? 'pass' : 'fail', expectation, rows }
    } finally {
      keepNodeLogs(net.members)
      await net.close()
      lab.close()
    }
  },
}
