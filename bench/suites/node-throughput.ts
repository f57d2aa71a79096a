/**
 * Single-node throughput: signed contract-write transactions from many senders, submitted
 * over JSON-RPC at a fixed rate (open loop) to a dev node; reports included tx/s and the
 * latency from submit to the block that includes it (seen through eth_subscribe newHeads).
 *
 * Environment: MEDREC_BENCH_LOG sets the node's --log.level; MEDREC_BENCH_CPU_PROF=DIR starts
 * the node with --cpu-prof into DIR (main thread and recovery workers, written at shutdown).
 */
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import WebSocket from 'ws'
import { createChainCommon } from '../../evm/index.ts'
import { percentile, printTable, type Row } from './report.ts'
import { prepareStoreWorkload } from './workload.ts'
import { privateKeyToAddress as addressOf } from '../../node/keys/index.ts'
import { startNodeProcess, tempDir, type NodeProcess } from '../harness/process.ts'
import { rpc, waitFor } from '../harness/rpc.ts'

const DEV_KEY0 = hexToBytes('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')

export interface ThroughputOptions {
  rate: number
  seconds: number
  senders: number
  period: number
  /** Existing endpoint instead of a fresh node (e.g. another client for comparison). */
  url?: string
  wsUrl?: string
  /** Process id of that endpoint, to report its CPU time. */
  pid?: number
  label: string
}

/** After the last submission, the chain gets this long to include what it accepted. */
const DRAIN_CAP_MS = 180_000
/**
 * Empty blocks sealed after the last submission and the last inclusion that end the drain
 * early: the chain holds the remaining transactions and seals without them, so they are stuck
 * (ganache 7.9.2 leaves out-of-order nonces in its future queue for good: its issue #4522).
 */
const EMPTY_BLOCKS_TO_GIVE_UP = 3

/** User + system CPU seconds from /proc: the whole process, and its main thread alone. */
export function cpuSeconds(pid: number): { all: number; main: number } {
  const read = (path: string) => {
    const stat = readFileSync(path, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  }
  return { all: read(`/proc/${pid}/stat`), main: read(`/proc/${pid}/task/${pid}/stat`) }
}

/**
 * eth_sendRawTransaction over plain node:http with kept-alive sockets: the load generator
 * shares the machine's cores with the node, and fetch costs it several times more CPU per
 * request. Resolves with the hash, rejects with the JSON-RPC error message.
 */
function rawSender(url: string, sockets: number): { send(raw: string): Promise<string>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets })
  const { hostname, port } = new URL(url)
  let id = 0
  return {
    send(raw) {
      const body = `{"jsonrpc":"2.0","id":${++id},"method":"eth_sendRawTransaction","params":["${raw}"]}`
      return new Promise((resolve, reject) => {
        const req = request({ agent, hostname, port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            try {
              const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { result?: string; error?: { code: number; message: string } }
              if (r.error !== undefined) reject(new Error(`eth_sendRawTransaction: ${r.error.code} ${r.error.message}`))
              else resolve(r.result!)
            } catch (err) {
              reject(err as Error)
            }
          })
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body)
      })
    },
    close: () => agent.destroy(),
  }
}

export async function runThroughput(o: ThroughputOptions): Promise<Row[]> {
  let node: NodeProcess | undefined
  const dir = tempDir('medrec-bench-')
  try {
    let url = o.url
    let wsUrl = o.wsUrl
    if (url === undefined) {
      const prof = process.env.MEDREC_BENCH_CPU_PROF
      const env = prof === undefined ? undefined : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${prof}` }
      node = await startNodeProcess({ args: ['--dev', '--dev.period', String(o.period), '--log.level', process.env.MEDREC_BENCH_LOG ?? 'warn'], datadir: dir.path, env })
      url = node.url
      wsUrl = node.wsUrl
    }
    const pid = node?.proc.pid ?? o.pid
    const common = createChainCommon({ chainId: BigInt(await rpc<string>(url, 'eth_chainId')), period: o.period, epoch: 30000n })
    const send = (raw: Uint8Array) => rpc<string>(url!, 'eth_sendRawTransaction', [bytesToHex(raw)])
    const receipt = (hash: string) => waitFor(() => rpc<{ contractAddress: string; status: string } | null>(url!, 'eth_getTransactionReceipt', [hash]), `receipt ${hash}`, 60_000)
    // Deploy the contract, fund the senders from dev account 0 and pre-sign the whole workload,
    // so the bench process never limits the rate.
    const { txs } = await prepareStoreWorkload({
      common,
      funderKey: DEV_KEY0,
      funderNonce: BigInt(await rpc<string>(url, 'eth_getTransactionCount', [new Address(addressOf(DEV_KEY0)).toString(), 'pending'])),
      senders: o.senders,
      perSender: Math.ceil(Math.ceil(o.rate * o.seconds) / o.senders),
      send,
      receipt,
    })

    // Inclusion times from newHeads: each head's transaction hashes are marked included.
    const submitted = new Map<string, number>()
    const included = new Map<string, number>()
    /** txs: workload transactions first seen in this block; all: every transaction in it. */
    const blocks: Array<{ at: number; txs: number; all: number; number: number }> = []
    let lastProgress = 0
    let headError = ''
    const ws = new WebSocket(wsUrl!)
    await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
    // Heads are handled one at a time, in arrival order, so "consecutive empty blocks" is exact.
    let heads = Promise.resolve()
    ws.on('message', (msg) => {
      const m = JSON.parse(msg.toString()) as { method?: string; params?: { result: { number: string; hash: string } } }
      if (m.method !== 'eth_subscription') return
      const at = performance.now()
      const { hash, number } = m.params!.result
      heads = heads.then(async () => {
        try {
          const b = await rpc<{ transactions: string[] } | null>(url!, 'eth_getBlockByHash', [hash, false])
          const hashes = b?.transactions ?? []
          let fresh = 0
          for (const h of hashes) {
            if (included.has(h) || !submitted.has(h)) continue
            included.set(h, at)
            fresh++
          }
          if (fresh > 0) lastProgress = at
          blocks.push({ at, txs: fresh, all: hashes.length, number: Number(number) })
        } catch (err) {
          headError ||= (err as Error).message
        }
      })
    })

    process.stderr.write(`  submitting ${txs.length} at ${o.rate}/s for ${o.seconds}s...\n`)
    const cpu0 = { bench: process.cpuUsage(), node: pid === undefined ? undefined : cpuSeconds(pid) }
    const start = performance.now()
    let errors = 0
    let firstError = ''
    let late = 0
    const MAX_INFLIGHT = 256
    const sender = rawSender(url, MAX_INFLIGHT)
    const inflight = new Set<Promise<unknown>>()
    for (const [i, tx] of txs.entries()) {
      const due = start + (i / o.rate) * 1000
      const wait = due - performance.now()
      if (wait > 1) await new Promise((r) => setTimeout(r, wait))
      else if (wait < -100) late++
      submitted.set(tx.hash, performance.now())
      const p = sender.send(tx.raw).catch((err: Error) => {
        submitted.delete(tx.hash)
        errors++
        firstError ||= err.message
      })
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
      if (inflight.size >= MAX_INFLIGHT) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    sender.close()
    const submitEnd = performance.now()
    // Drain: until everything accepted is included, or the chain keeps sealing empty blocks
    // while transactions it accepted are still out (stuck), or the cap.
    const accepted = txs.length - errors
    const stuck = () => blocks.filter((b) => b.all === 0 && b.at > Math.max(lastProgress, submitEnd)).length >= EMPTY_BLOCKS_TO_GIVE_UP
    await waitFor(
      async () => included.size >= accepted || stuck() || performance.now() - submitEnd > DRAIN_CAP_MS,
      'inclusion',
      DRAIN_CAP_MS + 10_000,
    )
    await heads
    ws.close()
    const drainEnd = lastInclusion(included) ?? performance.now()
    const benchCpu = process.cpuUsage(cpu0.bench)
    const cpu1 = pid === undefined ? undefined : cpuSeconds(pid)
    const nodeCpu = cpu0.node === undefined || cpu1 === undefined ? undefined : { all: cpu1.all - cpu0.node.all, main: cpu1.main - cpu0.node.main }

    // Steady state: blocks from the first full period after the first second to the last
    // block that included anything.
    blocks.sort((x, y) => x.number - y.number)
    const withTxs = blocks.filter((b) => b.txs > 0)
    const counted = withTxs.filter((b) => b.at >= start + 1000)
    const windowStart = counted.length > 1 ? withTxs[withTxs.indexOf(counted[0]!) - 1]?.at ?? start : start
    const windowEnd = counted.length > 0 ? counted[counted.length - 1]!.at : performance.now()
    const countedTxs = counted.reduce((s, b) => s + b.txs, 0)
    // A transaction never included counts as infinitely late.
    const latencies = [...submitted].map(([h, sent]) => (included.get(h) ?? Infinity) - sent)
    const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'never (not included)')
    const rss = node === undefined ? undefined : readRss(node.proc.pid!)
    const missing = accepted - included.size
    const wall = (drainEnd - start) / 1000
    return [
      { metric: `${o.label}: submitted tx/s`, value: `${(txs.length / ((submitEnd - start) / 1000)).toFixed(0)}${late > 0 ? ` (${late} sent >100 ms late: ${MAX_INFLIGHT} requests in flight)` : ''}` },
      { metric: `${o.label}: included tx/s (steady window)`, value: (countedTxs / ((windowEnd - windowStart) / 1000)).toFixed(0) },
      { metric: `${o.label}: included tx/s (first submit → last inclusion)`, value: (included.size / wall).toFixed(0) },
      { metric: `${o.label}: included / submitted`, value: `${included.size} / ${txs.length}${missing > 0 ? ` (${missing} accepted, never included)` : ''}` },
      { metric: `${o.label}: latency p50 submit→block (ms)`, value: ms(percentile(latencies, 50)) },
      { metric: `${o.label}: latency p99 submit→block (ms)`, value: ms(percentile(latencies, 99)) },
      { metric: `${o.label}: rejected submissions`, value: errors === 0 ? '0' : `${errors} (first: ${firstError})` },
      { metric: `${o.label}: blocks / max txs per block`, value: `${withTxs.length} / ${Math.max(0, ...withTxs.map((b) => b.txs))}` },
      ...(nodeCpu === undefined
        ? []
        : [
            { metric: `${o.label}: node CPU, cores busy / ms per included tx`, value: `${(nodeCpu.all / wall).toFixed(2)} / ${((nodeCpu.all * 1000) / Math.max(1, included.size)).toFixed(2)}` },
            { metric: `${o.label}: node main thread, cores busy / ms per included tx`, value: `${(nodeCpu.main / wall).toFixed(2)} / ${((nodeCpu.main * 1000) / Math.max(1, included.size)).toFixed(2)}` },
          ]),
      { metric: `${o.label}: load generator CPU, cores busy`, value: ((benchCpu.user + benchCpu.system) / 1e6 / wall).toFixed(2) },
      ...(headError === '' ? [] : [{ metric: `${o.label}: newHeads block fetch failed`, value: headError }]),
      ...(rss === undefined ? [] : [{ metric: `${o.label}: node RSS after load (MB)`, value: rss.toFixed(0) }]),
    ]
  } catch (err) {
    if (node !== undefined) process.stderr.write(`node output (last 40 lines):\n${node.output().split('\n').slice(-40).join('\n')}\n`)
    throw err
  } finally {
    await node?.stop()
    dir.remove()
  }
}

function lastInclusion(included: Map<string, number>): number | undefined {
  let last: number | undefined
  for (const at of included.values()) if (last === undefined || at > last) last = at
  return last
}

export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb / 1024
}

export async function idleRss(): Promise<Row[]> {
  const dir = tempDir('medrec-bench-')
  const node = await startNodeProcess({ args: ['--dev', '--log.level', 'warn'], datadir: dir.path })
  try {
    await new Promise((r) => setTimeout(r, 5000))
    return [{ metric: 'dev node idle RSS after 5 s (MB)', value: readRss(node.proc.pid!).toFixed(0) }]
  } finally {
    await node.stop()
    dir.remove()
  }
}

export { printTable }
