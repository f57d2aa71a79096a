/**
 * Single-node throughput: signed contract-write transactions from many senders, submitted
 * over JSON-RPC at a fixed rate (open loop) to a dev node; reports included tx/s and the
 * latency from submit to the block that includes it (seen through eth_subscribe newHeads).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { Interface } from 'ethers'
import WebSocket from 'ws'
import { createChainCommon } from '../evm/index.ts'
import { percentile, printTable, type Row } from './report.ts'
import { ROOT, rpc, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../test/helpers/node-process.ts'

const DEV_KEY0 = hexToBytes('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')

export interface ThroughputOptions {
  rate: number
  seconds: number
  senders: number
  period: number
  /** Existing endpoint instead of a fresh node (e.g. another client for comparison). */
  url?: string
  wsUrl?: string
  label: string
}

function addressOf(pk: Uint8Array): Uint8Array {
  return keccak_256(secp256k1.getPublicKey(pk, false).subarray(1)).subarray(12)
}

export async function runThroughput(o: ThroughputOptions): Promise<Row[]> {
  let node: NodeProcess | undefined
  const dir = tempDir('medrec-bench-')
  try {
    let url = o.url
    let wsUrl = o.wsUrl
    if (url === undefined) {
      node = await startNodeProcess(['--dev', '--dev.period', String(o.period), '--log.level', process.env.MEDREC_BENCH_LOG ?? 'warn'], { datadir: dir.path })
      url = node.url
      wsUrl = node.wsUrl
    }
    const common = createChainCommon({ chainId: BigInt(await rpc<string>(url, 'eth_chainId')), period: o.period, epoch: 30000n })
    const artifact = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/contracts/Store.json'), 'utf8')) as { abi: unknown[]; bytecode: string }
    const iface = new Interface(artifact.abi as never)
    const send = (raw: Uint8Array) => rpc<string>(url!, 'eth_sendRawTransaction', [bytesToHex(raw)])
    const receipt = (hash: string) => waitFor(() => rpc<{ contractAddress: string; status: string } | null>(url!, 'eth_getTransactionReceipt', [hash]), `receipt ${hash}`, 60_000)
    const fees = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: common.chainId() }

    // Deploy the contract and fund the senders from dev account 0.
    let nonce0 = BigInt(await rpc<string>(url, 'eth_getTransactionCount', [new Address(addressOf(DEV_KEY0)).toString(), 'pending']))
    const deploy = createFeeMarket1559Tx({ ...fees, nonce: nonce0++, gasLimit: 3_000_000n, data: hexToBytes(artifact.bytecode as `0x${string}`) }, { common }).sign(DEV_KEY0)
    const contract = (await receipt(await send(deploy.serialize()))).contractAddress
    const keys = Array.from({ length: o.senders }, (_, i) => keccak_256(new TextEncoder().encode(`medrec bench sender ${i}`)))
    const funding = keys.map((k) => createFeeMarket1559Tx({ ...fees, nonce: nonce0++, gasLimit: 21_000n, to: addressOf(k), value: 10n ** 20n }, { common }).sign(DEV_KEY0))
    const fundHashes = await Promise.all(funding.map((tx) => send(tx.serialize())))
    await receipt(fundHashes[fundHashes.length - 1]!)

    // Pre-sign the whole workload so the bench process never limits the rate.
    const total = Math.ceil(o.rate * o.seconds)
    const perSender = Math.ceil(total / o.senders)
    process.stderr.write(`  signing ${perSender * o.senders} transactions from ${o.senders} senders...\n`)
    const txs: Array<{ raw: string; hash: string }> = []
    for (let n = 0; n < perSender; n++) {
      for (const [i, k] of keys.entries()) {
        const data = hexToBytes(iface.encodeFunctionData('set', [BigInt(1 + ((n * 7 + i) % 1000))]) as `0x${string}`)
        const tx = createFeeMarket1559Tx({ ...fees, nonce: BigInt(n), gasLimit: 100_000n, to: contract as `0x${string}`, data }, { common }).sign(k)
        txs.push({ raw: bytesToHex(tx.serialize()), hash: bytesToHex(tx.hash()) })
      }
    }

    // Inclusion times from newHeads: each head's transaction hashes are marked included.
    const submitted = new Map<string, number>()
    const included = new Map<string, number>()
    const blocks: Array<{ at: number; txs: number; number: number }> = []
    const ws = new WebSocket(wsUrl!)
    await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
    ws.on('message', async (msg) => {
      const m = JSON.parse(msg.toString()) as { method?: string; params?: { result: { number: string; hash: string } } }
      if (m.method !== 'eth_subscription') return
      const at = performance.now()
      const b = await rpc<{ transactions: string[] }>(url!, 'eth_getBlockByHash', [m.params!.result.hash, false])
      for (const h of b.transactions) if (!included.has(h)) included.set(h, at)
      blocks.push({ at, txs: b.transactions.length, number: Number(m.params!.result.number) })
    })

    process.stderr.write(`  submitting ${txs.length} at ${o.rate}/s for ${o.seconds}s...\n`)
    const start = performance.now()
    let errors = 0
    let firstError = ''
    const inflight = new Set<Promise<unknown>>()
    for (const [i, tx] of txs.entries()) {
      const due = start + (i / o.rate) * 1000
      const wait = due - performance.now()
      if (wait > 1) await new Promise((r) => setTimeout(r, wait))
      submitted.set(tx.hash, performance.now())
      const p = rpc(url, 'eth_sendRawTransaction', [tx.raw]).catch((err: Error) => {
        errors++
        firstError ||= err.message
      })
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
      if (inflight.size > 256) await Promise.race(inflight)
    }
    await Promise.all(inflight)
    const submitEnd = performance.now()
    await waitFor(async () => included.size >= txs.length - errors || performance.now() - submitEnd > 30_000, 'inclusion', 60_000)
    ws.close()

    // Steady state: blocks from the first full period after the first second to the last
    // block that included anything.
    const withTxs = blocks.filter((b) => b.txs > 0)
    const counted = withTxs.filter((b) => b.at >= start + 1000)
    const windowStart = counted.length > 1 ? withTxs[withTxs.indexOf(counted[0]!) - 1]?.at ?? start : start
    const windowEnd = counted.length > 0 ? counted[counted.length - 1]!.at : performance.now()
    const countedTxs = counted.reduce((s, b) => s + b.txs, 0)
    const latencies = [...included].map(([h, at]) => at - (submitted.get(h) ?? at)).filter((x) => x >= 0)
    const rss = node === undefined ? undefined : readRss(node.proc.pid!)
    return [
      { metric: `${o.label}: submitted tx/s`, value: (txs.length / ((submitEnd - start) / 1000)).toFixed(0) },
      { metric: `${o.label}: included tx/s (steady window)`, value: (countedTxs / ((windowEnd - windowStart) / 1000)).toFixed(0) },
      { metric: `${o.label}: included / submitted`, value: `${included.size} / ${txs.length}` },
      { metric: `${o.label}: latency p50 submit→block (ms)`, value: percentile(latencies, 50).toFixed(0) },
      { metric: `${o.label}: latency p99 submit→block (ms)`, value: percentile(latencies, 99).toFixed(0) },
      { metric: `${o.label}: rejected submissions`, value: errors === 0 ? '0' : `${errors} (first: ${firstError})` },
      { metric: `${o.label}: blocks / max txs per block`, value: `${withTxs.length} / ${Math.max(0, ...withTxs.map((b) => b.txs))}` },
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

export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kb / 1024
}

export async function idleRss(): Promise<Row[]> {
  const dir = tempDir('medrec-bench-')
  const node = await startNodeProcess(['--dev', '--log.level', 'warn'], { datadir: dir.path })
  try {
    await new Promise((r) => setTimeout(r, 5000))
    return [{ metric: 'dev node idle RSS after 5 s (MB)', value: readRss(node.proc.pid!).toFixed(0) }]
  } finally {
    await node.stop()
    dir.remove()
  }
}

export { printTable }
