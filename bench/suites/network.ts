/**
 * `npm run bench -- network`: four authority node processes on 127.0.0.1, contract writes
 * submitted round-robin to all of them, then a fifth, fresh node syncing the result. Prints
 * included tx/s, submit→inclusion latency, block interval, block propagation between nodes,
 * and sync import speed.
 */
import { createChainCommon } from '../../evm/index.ts'
import { readProcCpuMs } from '../harness/collect.ts'
import { createLocalNetwork } from '../harness/local-network.ts'
import { freePorts } from '../harness/ports.ts'
import { readBlockEvents, relayDelays } from '../harness/propagation.ts'
import { rpc, waitFor } from '../harness/rpc.ts'
import { keepNodeLogs } from './node-logs.ts'
import { percentile, type Row } from './report.ts'
import { prepareNetworkLoad, sendOpenLoop, waitForDrain } from './workload.ts'

export interface NetworkBenchOptions {
  nodes: number
  rate: number
  seconds: number
  senders: number
  period: number
}

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')

export async function runNetworkBench(o: NetworkBenchOptions): Promise<Row[]> {
  const net = await createLocalNetwork(o.nodes + 1, { authorities: o.nodes, period: o.period, logLevel: process.env.MEDREC_BENCH_LOG ?? 'info' })
  try {
    process.stderr.write(`  starting ${o.nodes} authority nodes...\n`)
    // Each authority serves its block events beside /metrics (propagation below).
    const metricsUrls = (await freePorts(o.nodes)).map((p) => `http://127.0.0.1:${p}/metrics`)
    const start = (i: number) => net.start(i, { args: ['--metrics', '--metrics.port', new URL(metricsUrls[i]!).port] })
    await start(0)
    await Promise.all(Array.from({ length: o.nodes - 1 }, (_, i) => start(i + 1)))
    const urls = net.members.slice(0, o.nodes).map((m) => m.node!.url)
    const common = createChainCommon({ chainId: 4242n, period: o.period, epoch: 30000n })

    // Block arrivals at every node: first-seen time per (block, node), and who sealed it.
    const seen = new Map<string, { miner: string; at: Map<number, number> }>()
    const sockets = net.members.slice(0, o.nodes).map((m, i) => {
      const ws = new WebSocket(m.node!.wsUrl)
      ws.onopen = () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
      ws.onmessage = (ev) => {
        const msg = JSON.parse(String(ev.data)) as { params?: { result: { hash: string } } }
        const h = msg.params?.result
        if (h === undefined) return
        const entry = seen.get(h.hash) ?? { miner: '', at: new Map<number, number>() }
        if (!entry.at.has(i)) entry.at.set(i, performance.now())
        seen.set(h.hash, entry)
      }
      return ws
    })

    // Deploy the fixture contract, fund the senders from member 0, pre-sign the workload.
    const queue = await prepareNetworkLoad({ common, funder: net.members[0]!, urls, rate: o.rate, seconds: o.seconds, senders: o.senders, receiptTimeoutMs: 120_000 })
    process.stderr.write(`  sending ${o.rate}/s for ${o.seconds}s to ${o.nodes} nodes...\n`)
    const nodeCpuMs = () => net.members.slice(0, o.nodes).map((m) => readProcCpuMs(m.node!.proc.pid!) ?? NaN)
    const cpuBefore = nodeCpuMs()
    const { submitted, rejected } = await sendOpenLoop(queue, o.rate, () => performance.now())

    // Inclusion: walk node 0's canonical chain once the load has drained (or 60 s after sending).
    const included = new Map<string, number>()
    const firstBlock = 1
    await waitForDrain(urls[0]!, queue, o.senders, 60_000)
    // CPU (all threads: main, sender recovery, LevelDB) per node, from the first send to the drain.
    const cpuMs = nodeCpuMs().map((ms, i) => ms - cpuBefore[i]!)
    const head = Number(BigInt(await rpc<string>(urls[0]!, 'eth_blockNumber')))
    let txsInChain = 0
    for (let n = firstBlock; n <= head; n++) {
      const b = await rpc<{ hash: string; transactions: string[] }>(urls[0]!, 'eth_getBlockByNumber', [`0x${n.toString(16)}`, false])
      const at = seen.get(b.hash)?.at.get(0)
      txsInChain += b.transactions.length
      for (const h of b.transactions) if (submitted.has(h) && at !== undefined) included.set(h, at)
    }
    const latencies = [...included].map(([h, at]) => at - submitted.get(h)!)
    const inclusionTimes = [...included.values()].sort((a, b) => a - b)
    // Sustained: inclusions while the load ran, after the first two periods (the first block
    // takes one period to fill). A network that keeps up includes about the offered rate here;
    // one that falls behind includes less and drains after the sending stops.
    const sendTimes = [...submitted.values()]
    const windowStart = Math.min(...sendTimes) + 2 * o.period * 1000
    const windowEnd = Math.max(...sendTimes)
    const inWindow = inclusionTimes.filter((t) => t >= windowStart && t <= windowEnd).length
    const drainSecs = inclusionTimes.length > 0 ? Math.max(0, inclusionTimes.at(-1)! - windowEnd) / 1000 : NaN
    // Propagation: a block's arrival at each other node after it reached its sealer's node.
    const sealerIndex = new Map(net.members.map((m, i) => [m.address, i]))
    const propagation: number[] = []
    const arrivals: number[] = []
    for (const [hash, { at }] of seen) {
      const t0 = at.get(0)
      if (t0 !== undefined) arrivals.push(t0)
      const by = sealerIndex.get(await rpc<string>(urls[0]!, 'clique_getSigner', [hash]).catch(() => ''))
      const origin = by === undefined ? undefined : at.get(by)
      if (origin === undefined) continue
      for (const [node, t] of at) if (node !== by) propagation.push(t - origin)
    }
    // Propagation proper, from the nodes' own block events (one clock): sealed at its node →
    // prechecked and relayed at each other node (a block is relayed before it is executed).
    const relay = relayDelays(await Promise.all(metricsUrls.map(readBlockEvents)))
    // While the load runs: before it the bench signs the whole workload, its own event loop busy
    // for seconds, and stamps the heads that arrive meanwhile late (a 9 s "interval", then 0 ms).
    const loaded = arrivals.filter((t) => t >= windowStart - 2 * o.period * 1000 && t <= windowEnd).sort((a, b) => a - b)
    const intervals = loaded.slice(1).map((t, i) => t - loaded[i]!)
    for (const ws of sockets) ws.close()

    // A fresh node syncs everything from the others.
    process.stderr.write('  syncing a fresh node...\n')
    const syncStart = performance.now()
    await net.start(o.nodes, { sealer: false })
    const target = Number(BigInt(await rpc<string>(urls[0]!, 'eth_blockNumber')))
    await waitFor(async () => Number(BigInt(await rpc<string>(net.members[o.nodes]!.node!.url, 'eth_blockNumber'))) >= target, 'the fresh node to sync', 300_000)
    const syncSecs = (performance.now() - syncStart) / 1000

    return [
      { metric: 'nodes (authorities) / senders / period', value: `${o.nodes} / ${o.senders} / ${o.period} s` },
      { metric: 'offered tx/s (round-robin over the nodes)', value: fmt(o.rate) },
      { metric: 'submitted / rejected', value: `${submitted.size} / ${rejected}` },
      { metric: 'included tx/s while sending (sustained, after 2 periods)', value: fmt(inWindow / ((windowEnd - windowStart) / 1000)) },
      { metric: 'last inclusion after the last send (s)', value: fmt(drainSecs, 1) },
      { metric: 'included of submitted', value: `${included.size} (${fmt((100 * included.size) / submitted.size, 1)}%)` },
      { metric: 'node CPU per included tx (ms, mean of the nodes, all threads)', value: fmt(cpuMs.reduce((a, b) => a + b, 0) / cpuMs.length / included.size, 2) },
      { metric: 'latency submit→block p50 / p99 (ms)', value: `${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))}` },
      { metric: 'block interval p50 / p99 (ms, at node 0, while sending)', value: `${fmt(percentile(intervals, 50))} / ${fmt(percentile(intervals, 99))}` },
      { metric: 'block propagation p50 / p99 (ms, sealed→relayed by each peer)', value: `${fmt(percentile(relay, 50))} / ${fmt(percentile(relay, 99))}` },
      { metric: 'new head at peers p50 / p99 (ms, sealer→peers, incl. import)', value: `${fmt(percentile(propagation, 50))} / ${fmt(percentile(propagation, 99))}` },
      { metric: 'sync of a fresh node: blocks/s, tx/s (start included)', value: `${fmt(target / syncSecs)} blocks/s, ${fmt(txsInChain / syncSecs)} tx/s (${target} blocks, ${txsInChain} tx in ${fmt(syncSecs, 1)} s)` },
    ]
  } finally {
    keepNodeLogs(net.members)
    await net.close()
  }
}
