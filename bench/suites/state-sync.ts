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
import { createLocalNetwork } from '../harness/local-network.ts'
import { rpc } from '../harness/rpc.ts'
import { buildStateChain } from '../harness/state-chain.ts'
import type { Row } from './report.ts'

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

async function untilHead(url: string, hash: string, deadlineMs: number): Promise<void> {
  for (;;) {
    const h = await rpc<{ hash: string } | null>(url, 'eth_getBlockByNumber', ['latest', false]).catch(() => null)
    if (h?.hash === hash) return
    if (Date.now() > deadlineMs) throw new Error('the joining node did not reach the head in time')
    await new Promise((r) => setTimeout(r, 200))
  }
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
      const t0 = performance.now()
      const m = await net.start(i, { sealer: false, bootnodes: [source.enode!], args: ['--syncmode', mode] })
      await untilHead(m.node!.url, head.hash, Date.now() + 3_600_000)
      const secs = (performance.now() - t0) / 1000
      const synced = /State sync done[^\n]*pivot=(\d+)/.exec(m.node!.output())
      await net.stop(i)
      return { secs, before, after: load(), pivot: synced?.[1] }
    }
    const full = await join(1, 'full')
    const snap = await join(2, 'snap')
    const txs = built.paid.length + built.contracts.length
    return [
      { metric: 'chain', value: `${built.head} blocks, ${txs} transactions, ${built.paid.length} accounts paid, ${built.contracts.length} contracts × 30 slots (sealed in-process in ${buildSecs.toFixed(1)} s)` },
      { metric: 'full sync join', value: `${full.secs.toFixed(1)} s (load ${full.before} → ${full.after})` },
      { metric: 'snap sync join', value: `${snap.secs.toFixed(1)} s, pivot ${snap.pivot ?? 'none (fell back)'} (load ${snap.before} → ${snap.after})` },
      { metric: 'full / snap', value: `${(full.secs / snap.secs).toFixed(1)}×` },
    ]
  } finally {
    await net.close()
  }
}
