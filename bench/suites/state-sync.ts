/**
 * `npm run bench -- state-sync [--blocks N] [--accounts N]`: how long a fresh node takes to join,
 * full sync (every block executed from the genesis) against --syncmode snap (a recent pivot's
 * state downloaded, then the blocks after it), side by side in one run. A chain of N blocks, each
 * paying `--accounts` new accounts and every 5th deploying a contract with 30 storage slots, is
 * sealed in-process into the source's data dir; the source runs without sealing (a static head),
 * then a fresh full node joins it and is stopped, then a fresh snap node. Time is from the start
 * of the joining process to its head equal to the source's (process start included), wall clock;
 * the load average is printed beside it.
 */
import { loadavg } from 'node:os'
import { setLogLevel } from '../../common/logger.ts'
import { createLocalNetwork, type LocalNetwork } from '../harness/local-network.ts'
import { rpc, waitFor } from '../harness/rpc.ts'
import { buildStateChain } from '../harness/state-chain.ts'
import type { Row } from './report.ts'

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

/**
 * Starts member `i` of `net` as a fresh, non-sealing node syncing from `source` in `mode`, times
 * it from the process start until its head is `headHash`, and stops it. `pivot`: the block a snap
 * sync started from, as its log says (undefined: it fell back to full sync). Shared with scale.ts.
 */
export async function timeJoin(net: LocalNetwork, i: number, sourceEnode: string, headHash: string, mode: 'full' | 'snap'): Promise<{ secs: number; pivot: string | undefined; download: string | undefined }> {
  const t0 = performance.now()
  const m = await net.start(i, { sealer: false, bootnodes: [sourceEnode], args: ['--syncmode', mode] })
  await waitFor(async () => (await rpc<{ hash: string } | null>(m.node!.url, 'eth_getBlockByNumber', ['latest', false]))?.hash === headHash, 'the joining node to reach the head', 3_600_000, { everyMs: 200 })
  const secs = (performance.now() - t0) / 1000
  const pivot = /State sync done[^\n]*pivot=(\d+)/.exec(m.node!.output())?.[1]
  // The trie download alone, as the node logs it when it ends.
  const d = /State sync: state downloaded[^\n]*bytes=(\d+) secs=([\d.]+) MBps=([\d.]+)/.exec(m.node!.output())
  const download = d === null ? undefined : `${(Number(d[1]) / 1e6).toFixed(2)} MB in ${d[2]} s = ${d[3]} MB/s`
  await net.stop(i)
  return { secs, pivot, download }
}

export async function runStateSyncBench(opts: { blocks?: number; accounts?: number } = {}): Promise<Row[]> {
  setLogLevel('warn')
  const blocks = opts.blocks ?? 1000
  const accounts = opts.accounts ?? 100
  const net = await createLocalNetwork(3, { authorities: 1, period: 1, logLevel: 'info' })
  try {
    const keys = new Map(net.members.map((m) => [m.address, m.key]))
    const built0 = performance.now()
    const built = await buildStateChain(net.members[0]!.datadir, net.genesis, keys, net.members[1]!.key, { blocks, accountsPerBlock: accounts, deployEvery: 5, slots: 30 })
    const buildSecs = (performance.now() - built0) / 1000
    const source = await net.start(0, { sealer: false, bootnodes: [] })
    const head = (await rpc<{ hash: string; number: string }>(source.node!.url, 'eth_getBlockByNumber', ['latest', false]))!
    const join = async (i: number, mode: 'full' | 'snap') => {
      const before = load()
      return { ...(await timeJoin(net, i, source.enode!, head.hash, mode)), before, after: load() }
    }
    const full = await join(1, 'full')
    const snap = await join(2, 'snap')
    const txs = built.paid.length + built.contracts.length
    return [
      { metric: 'chain', value: `${built.head} blocks, ${txs} transactions, ${built.paid.length} accounts paid, ${built.contracts.length} contracts × 30 slots (sealed in-process in ${buildSecs.toFixed(1)} s)` },
      { metric: 'full sync join', value: `${full.secs.toFixed(1)} s (load ${full.before} → ${full.after})` },
      { metric: 'snap sync join', value: `${snap.secs.toFixed(1)} s, pivot ${snap.pivot ?? 'none (fell back)'} (load ${snap.before} → ${snap.after})` },
      { metric: 'snap: trie download', value: snap.download ?? 'none (fell back)' },
      { metric: 'full / snap', value: `${(full.secs / snap.secs).toFixed(1)}×` },
    ]
  } finally {
    await net.close()
  }
}
