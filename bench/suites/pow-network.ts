/**
 * `npm run bench -- pow` (network part): three mining node processes on 127.0.0.1 (one mining
 * thread each) at a 2 s target block time, contract writes submitted round-robin to them.
 * Prints included tx/s, submit→inclusion latency, block interval and the fork rate: the share
 * of blocks that some node held as its head and that the final chain does not contain.
 */
import { createChainCommon } from '../../evm/index.ts'
import { createLocalNetwork } from '../harness/local-network.ts'
import { rpc, waitFor } from '../harness/rpc.ts'
import { keepNodeLogs } from './node-logs.ts'
import { percentile, type Row } from './report.ts'
import { prepareNetworkLoad, sendOpenLoop, waitForDrain } from './workload.ts'

export interface PowNetworkBenchOptions {
  miners: number
  rate: number
  seconds: number
  senders: number
  targetBlockTime: number
  /** Starting difficulty: near the miners' joint hashes per target block time converges fastest. */
  difficulty: bigint
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
interface RpcBlock { hash: string; number: string; timestamp: string; transactions: string[]; miner: string; difficulty: string }

export async function runPowNetworkBench(o: PowNetworkBenchOptions): Promise<Row[]> {
  const net = await createLocalNetwork(o.miners, { pow: { targetBlockTime: o.targetBlockTime, difficulty: o.difficulty }, logLevel: process.env.MEDREC_BENCH_LOG ?? 'info' })
  try {
    process.stderr.write(`  starting ${o.miners} mining nodes (1 thread each)...\n`)
    await net.start(0, { miner: true })
    await Promise.all(Array.from({ length: o.miners - 1 }, (_, i) => net.start(i + 1, { miner: true })))
    const urls = net.members.map((m) => m.node!.url)
    const common = createChainCommon({ chainId: 4242n })
    const head = async (url: string) => Number(BigInt(await rpc<string>(url, 'eth_blockNumber')))
    const blockAt = (url: string, n: number | string) => rpc<RpcBlock>(url, 'eth_getBlockByNumber', [typeof n === 'string' ? n : `0x${n.toString(16)}`, false])

    // Every head any node adopts: the blocks that were mined and travelled, canonical or not.
    const heads = new Map<string, number>()
    const sockets = net.members.map((m) => {
      const ws = new WebSocket(m.node!.wsUrl)
      ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
      ws.onmessage = (ev) => {
        const h = (JSON.parse(String(ev.data)) as { params?: { result: { hash: string; number: string } } }).params?.result
        if (h !== undefined && !heads.has(h.hash)) heads.set(h.hash, Number(BigInt(h.number)))
      }
      return ws
    })

    process.stderr.write('  deploying and funding (the difficulty settles meanwhile)...\n')
    const queue = await prepareNetworkLoad({ common, funder: net.members[0]!, urls, rate: o.rate, seconds: o.seconds, senders: o.senders, receiptTimeoutMs: 300_000 })
    const firstBlock = (await head(urls[0]!)) + 1
    process.stderr.write(`  sending ${o.rate}/s for ${o.seconds}s to ${o.miners} miners...\n`)
    // Send times on the wall clock: latency runs to the including block's timestamp.
    const { submitted, rejected } = await sendOpenLoop(queue, o.rate, () => Date.now())
    const hashrate = (await Promise.all(urls.map((u) => rpc<string>(u, 'eth_hashrate')))).reduce((s, h) => s + Number(BigInt(h)), 0)
    await waitForDrain(urls[0]!, queue, o.senders, 120_000)
    // Let a few more blocks settle any fork at the tip.
    const settleTo = (await head(urls[0]!)) + 3
    await waitFor(async () => (await head(urls[0]!)) >= settleTo, 'three more blocks', 60_000)
    for (const ws of sockets) ws.close()

    const last = settleTo - 3
    const canonical = new Set<string>()
    const latencies: number[] = []
    let included = 0
    let firstTs = 0
    let lastTs = 0
    const difficulties: bigint[] = []
    for (let n = firstBlock; n <= last; n++) {
      const b = await blockAt(urls[0]!, n)
      canonical.add(b.hash)
      const ts = Number(BigInt(b.timestamp)) * 1000
      if (n === firstBlock) firstTs = ts
      lastTs = ts
      difficulties.push(BigInt(b.difficulty))
      for (const h of b.transactions) {
        const at = submitted.get(h)
        if (at === undefined) continue
        included++
        latencies.push(ts - at)
      }
    }
    const blocks = last - firstBlock + 1
    const window = [...heads].filter(([, n]) => n >= firstBlock && n <= last)
    const orphans = window.filter(([h]) => !canonical.has(h)).length
    const secs = (lastTs - firstTs) / 1000
    return [
      { metric: 'miners (1 thread each) / target block time', value: `${o.miners} / ${o.targetBlockTime} s` },
      { metric: 'joint hash rate at the end (hashes/s)', value: fmt(hashrate) },
      { metric: 'offered tx/s (round-robin) / submitted / rejected', value: `${o.rate} / ${submitted.size} / ${rejected}` },
      { metric: 'included tx/s (over the measured blocks)', value: fmt(included / secs, 1) },
      { metric: 'included of submitted', value: `${included} (${fmt((100 * included) / submitted.size, 1)}%)` },
      { metric: 'latency submit→block timestamp p50 / p99 (ms)', value: `${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))}` },
      { metric: 'block interval, mean over the chain (s)', value: `${fmt(secs / Math.max(1, blocks - 1), 2)} (${blocks} blocks)` },
      { metric: 'difficulty first → last measured block', value: `${difficulties[0] ?? 'n/a'} → ${difficulties.at(-1) ?? 'n/a'}` },
      { metric: 'fork rate: heads seen but not in the final chain', value: `${orphans} of ${window.length} (${fmt((100 * orphans) / Math.max(1, window.length), 1)}%)` },
    ]
  } finally {
    keepNodeLogs(net.members)
    await net.close()
  }
}
