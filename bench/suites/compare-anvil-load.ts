/**
 * The parts of the anvil comparison (compare-anvil.ts) that act on one endpoint, medrec or anvil
 * alike: anvil itself (installed on demand from its npm package into .bench-cache/, not a project
 * dependency, as the ganache comparison does), the contracts, the timed calls and the burst.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Common } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import WebSocket from 'ws'
import { percentile } from './report.ts'
import { cpuSeconds } from './node-throughput.ts'
import { privateKeyToAddress as addressOf } from '../../node/keys/index.ts'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from '../harness/errors.ts'
import { ROOT } from '../harness/process.ts'
import { rpc, rpcRaw, waitFor } from '../harness/rpc.ts'

export const ANVIL_VERSION = '1.7.1'
const ANVIL_PACKAGE = '@foundry-rs/anvil-linux-amd64'
const CACHE = join(ROOT, '.bench-cache', `anvil-${ANVIL_VERSION}`)

/** Dev accounts 0 and 1 of the shared mnemonic (anvil's and medrec --dev's first accounts). */
const DEV_KEY0 = hexToBytes('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
const DEV_ADDR0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const DEV_ADDR1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'

/** An endpoint under test: its URLs and the process whose CPU is counted. */
export interface Endpoint {
  label: string
  url: string
  wsUrl: string
  pid: number
}

export interface Anvil extends Endpoint {
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** anvil with medrec --dev's chain id, block time and gas limit (its accounts are already the same). */
export async function startAnvil(opts: { blockTime: number; gasLimit: bigint }): Promise<Anvil> {
  const bin = join(CACHE, 'node_modules', ...ANVIL_PACKAGE.split('/'), 'bin', 'anvil')
  if (!existsSync(bin)) {
    process.stderr.write(`  installing ${ANVIL_PACKAGE}@${ANVIL_VERSION} into ${CACHE} (once)...\n`)
    mkdirSync(CACHE, { recursive: true })
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', CACHE, `${ANVIL_PACKAGE}@${ANVIL_VERSION}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (err) {
      // The package ships a linux-x64 binary only; elsewhere, or offline, there is no anvil to compare with.
      throw new BenchError(BenchErrorCode.NODE_START_FAILED, `could not install ${ANVIL_PACKAGE}@${ANVIL_VERSION} into ${CACHE} (linux-x64 and the npm registry are needed): ${errorMessage(err)}`, undefined, err)
    }
  }
  const port = await freePort()
  const proc = spawn(bin, ['--host', '127.0.0.1', '--port', String(port), '--chain-id', '1337', '--block-time', String(opts.blockTime), '--gas-limit', opts.gasLimit.toString(), '--silent'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  await waitFor(() => rpc(url, 'eth_chainId').catch(() => undefined), 'anvil to listen', 30_000)
  return {
    label: `anvil ${ANVIL_VERSION}`,
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    pid: proc.pid!,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * The loop contract, hand-assembled: `n = calldata[0:32]`, then n times
 * `acc = keccak256(acc, i)`, returning acc. ~114 gas per iteration (a Solidity-style loop body:
 * stack work, two MSTOREs, a KECCAK256, a conditional jump), so n = 2,000 is a ~250k-gas call and
 * n = 98,000 an ~11.2M-gas one.
 */
export const LOOP_RUNTIME = '600035600060005b828110156024578160005280602052604060002091506001016007565b5060005260206000f3'
/** Iterations of the small call and of the ~11M-gas one. */
export const LOOP_SMALL = 2_000n
export const LOOP_BIG = 98_000n

/** Init code that returns `runtime` (hex without 0x, under 256 bytes) as the contract's code. */
export const initCode = (runtime: string): string => `60${(runtime.length / 2).toString(16).padStart(2, '0')}80600b6000396000f3${runtime}`

const fees = (common: Common) => ({ maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: common.chainId() })
const word = (n: bigint) => n.toString(16).padStart(64, '0')

async function deploy(url: string, common: Common, nonce: bigint, initcode: string): Promise<string> {
  const tx = createFeeMarket1559Tx({ ...fees(common), nonce, gasLimit: 3_000_000n, data: hexToBytes(`0x${initcode}`) }, { common }).sign(DEV_KEY0)
  const hash = await rpc<string>(url, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
  const r = await waitFor(() => rpc<{ contractAddress: string; status: string } | null>(url, 'eth_getTransactionReceipt', [hash]), `deployment ${hash}`, 60_000)
  if (r.status !== '0x1') throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the comparison's contract deployment ${hash} failed at ${url} (status ${r.status})`)
  return r.contractAddress
}

export interface TimedCalls {
  /** Per call, milliseconds as the client sees them (request to answer), one call at a time. */
  ms: number[]
  /** Calls the endpoint answered with an error (medrec: its 30 s request limit), counted in `ms` with the time they took. */
  failed: number
  firstError: string
  /** CPU seconds the endpoint's process spent over the timed calls. */
  cpu: number
  /** The last answer (gas for an estimate). */
  answer: string
}

export interface CallFigures {
  estimateWrite: TimedCalls
  callLoop: TimedCalls
  /** One run of the big loop (eth_call with its gas), to split an estimate into runs. */
  callBig: TimedCalls
  estimateBig: TimedCalls
}

/**
 * Deploys Store and the loop contract from dev account 0, then times, one after the other:
 * eth_estimateGas of `Store.set(42)` from dev account 1 (a first write: a new slot and a log),
 * eth_call of the 2,000-iteration loop, eth_call of the ~11.2M-gas loop and eth_estimateGas of
 * it. One untimed call of each kind warms the endpoint first.
 */
export async function timeCalls(ep: Endpoint, common: Common, o: { calls: number; bigCalls: number; storeBytecode: string }): Promise<CallFigures> {
  let nonce = BigInt(await rpc<string>(ep.url, 'eth_getTransactionCount', [DEV_ADDR0, 'pending']))
  const store = await deploy(ep.url, common, nonce++, o.storeBytecode.replace(/^0x/, ''))
  const loop = await deploy(ep.url, common, nonce++, initCode(LOOP_RUNTIME))
  // Store.set(42): selector of set(uint256).
  const setData = `0x60fe47b1${word(42n)}`
  const big = { from: DEV_ADDR1, to: loop, data: `0x${word(LOOP_BIG)}` }

  const timed = async (n: number, method: string, params: unknown[]): Promise<TimedCalls> => {
    const out: TimedCalls = { ms: [], failed: 0, firstError: '', cpu: 0, answer: '' }
    const one = async () => {
      const r = await rpcRaw(ep.url, method, params)
      if (r.error === undefined) out.answer = String(r.result)
      else if (out.failed++ === 0) out.firstError = `${r.error.code} ${r.error.message}`
    }
    await one()
    out.failed = 0
    const c0 = cpuSeconds(ep.pid).all
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      await one()
      out.ms.push(performance.now() - t0)
    }
    out.cpu = cpuSeconds(ep.pid).all - c0
    return out
  }
  return {
    estimateWrite: await timed(o.calls, 'eth_estimateGas', [{ from: DEV_ADDR1, to: store, data: setData }]),
    callLoop: await timed(o.calls, 'eth_call', [{ from: DEV_ADDR1, to: loop, data: `0x${word(LOOP_SMALL)}` }, 'latest']),
    callBig: await timed(o.bigCalls, 'eth_call', [{ ...big, gas: '0xb71b00' }, 'latest']),
    estimateBig: await timed(o.bigCalls, 'eth_estimateGas', [big]),
  }
}

/** eth_sendRawTransaction over node:http with kept-alive sockets (cheaper for the load generator than fetch). */
function rawSender(url: string, sockets: number): { send(raw: string): Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets })
  const { hostname, port } = new URL(url)
  let id = 0
  return {
    send: (raw) =>
      new Promise((resolve, reject) => {
        const body = `{"jsonrpc":"2.0","id":${++id},"method":"eth_sendRawTransaction","params":["${raw}"]}`
        const req = request({ agent, hostname, port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code: number; message: string } }
            if (r.error === undefined) resolve()
            else reject(new Error(`${r.error.code} ${r.error.message}`))
          })
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body)
      }),
    close: () => agent.destroy(),
  }
}

/**
 * The burst's contract, hand-assembled: calldata (key, value); `values[caller][key] = value` (a
 * fresh slot per write, at keccak256(caller, key), as a Solidity nested mapping puts it),
 * `counts[caller] += 1` (slot = the caller) and LOG3(1, caller, key) of the value: ~50k gas, and
 * writes of different senders touch different slots (nothing in it serialises them).
 */
export const WRITER_RUNTIME = '33600052600035602052604060002060203590553354600101335560203560405260003533600160206040a300'

/** Deploys the writer, funds `senders` fresh keys from dev account 0 and signs `perSender` writes each, interleaved by nonce. */
async function prepareWrites(ep: Endpoint, common: Common, senders: number, perSender: number): Promise<Array<{ raw: string; hash: string }>> {
  let nonce = BigInt(await rpc<string>(ep.url, 'eth_getTransactionCount', [DEV_ADDR0, 'pending']))
  const writer = await deploy(ep.url, common, nonce++, initCode(WRITER_RUNTIME))
  const keys = Array.from({ length: senders }, (_, i) => keccak_256(new TextEncoder().encode(`medrec compare-anvil sender ${i}`)))
  let last = ''
  for (const k of keys) {
    const tx = createFeeMarket1559Tx({ ...fees(common), nonce: nonce++, gasLimit: 21_000n, to: addressOf(k), value: 10n ** 20n }, { common }).sign(DEV_KEY0)
    last = await rpc<string>(ep.url, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
  }
  await waitFor(() => rpc<unknown>(ep.url, 'eth_getTransactionReceipt', [last]), 'the senders to be funded', 60_000)
  process.stderr.write(`  signing ${senders * perSender} writes from ${senders} senders...\n`)
  const txs: Array<{ raw: string; hash: string }> = []
  for (let n = 0; n < perSender; n++) {
    for (const [i, k] of keys.entries()) {
      const data = hexToBytes(`0x${word(BigInt(n))}${word(BigInt(1 + i))}`)
      const tx = createFeeMarket1559Tx({ ...fees(common), nonce: BigInt(n), gasLimit: 100_000n, to: writer as `0x${string}`, data }, { common }).sign(k)
      txs.push({ raw: bytesToHex(tx.serialize()), hash: bytesToHex(tx.hash()) })
    }
  }
  return txs
}

/** Deterministic shuffle of each window of `size` items (mulberry32): nonces of a sender arrive out of order. */
export function shuffleWindows<T>(items: T[], size: number, seed: number): T[] {
  let s = seed >>> 0
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const out = [...items]
  for (let start = 0; start < out.length; start += size) {
    const end = Math.min(out.length, start + size)
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(rand() * (i - start + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
  }
  return out
}

export interface BurstFigures {
  sent: number
  included: number
  refused: number
  firstRefusal: string
  /** First submission → the head that included the last transaction. */
  seconds: number
  /** First submission → the answer to the last one (how fast the endpoint takes transactions in). */
  sendSeconds: number
  /** Transactions in blocks by the last answer: how much the endpoint builds while it takes transactions in. */
  includedWhileSending: number
  latencyP50: number
  latencyP99: number
  /** CPU seconds of the endpoint's process (all threads) over the burst, and of its main thread. */
  cpu: number
  cpuMain: number
  blocks: number
  maxPerBlock: number
  gasPerTx: number
}

/**
 * The block-building burst: `total` fresh-slot writes (WRITER_RUNTIME) from `senders` fresh funded keys, sent as
 * fast as the endpoint takes them with `inflight` requests outstanding, in windows of `inflight`
 * shuffled so that each sender's nonces arrive out of order; inclusion seen through newHeads.
 */
export async function runBurst(ep: Endpoint, common: Common, o: { total: number; senders: number; inflight: number }): Promise<BurstFigures> {
  const txs = await prepareWrites(ep, common, o.senders, Math.ceil(o.total / o.senders))
  const queue = shuffleWindows(txs.slice(0, o.total), o.inflight, 20)
  const submitted = new Map<string, number>()
  const included = new Map<string, number>()
  const blocks: Array<{ txs: number; gas: number }> = []
  const ws = new WebSocket(ep.wsUrl)
  await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }))
  let heads = Promise.resolve()
  ws.on('message', (msg) => {
    const m = JSON.parse(msg.toString()) as { method?: string; params?: { result: { hash: string } } }
    if (m.method !== 'eth_subscription') return
    const at = performance.now()
    const { hash } = m.params!.result
    heads = heads.then(async () => {
      const b = await rpc<{ transactions: string[]; gasUsed: string } | null>(ep.url, 'eth_getBlockByHash', [hash, false])
      let fresh = 0
      for (const h of b?.transactions ?? []) {
        if (!submitted.has(h) || included.has(h)) continue
        included.set(h, at)
        fresh++
      }
      if (fresh > 0) blocks.push({ txs: fresh, gas: Number(BigInt(b!.gasUsed)) })
    })
  })

  const c0 = cpuSeconds(ep.pid)
  const start = performance.now()
  const sender = rawSender(ep.url, o.inflight)
  let refused = 0
  let firstRefusal = ''
  const inflight = new Set<Promise<void>>()
  for (const tx of queue) {
    submitted.set(tx.hash, performance.now())
    const p = sender.send(tx.raw).catch((err: Error) => {
      submitted.delete(tx.hash)
      refused++
      firstRefusal ||= err.message
    })
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    if (inflight.size >= o.inflight) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  const sent = performance.now()
  const includedWhileSending = included.size
  sender.close()
  const accepted = queue.length - refused
  await waitFor(async () => included.size >= accepted, 'the burst to be included', 180_000, { everyMs: 50 })
  await heads
  ws.close()
  const c1 = cpuSeconds(ep.pid)
  const last = Math.max(...included.values())
  const latencies = [...submitted].map(([h, at]) => included.get(h)! - at)
  const gas = blocks.reduce((s, b) => s + b.gas, 0)
  return {
    sent: queue.length,
    included: included.size,
    refused,
    firstRefusal,
    seconds: (last - start) / 1000,
    sendSeconds: (sent - start) / 1000,
    includedWhileSending,
    latencyP50: percentile(latencies, 50),
    latencyP99: percentile(latencies, 99),
    cpu: c1.all - c0.all,
    cpuMain: c1.main - c0.main,
    blocks: blocks.length,
    maxPerBlock: Math.max(0, ...blocks.map((b) => b.txs)),
    gasPerTx: gas / Math.max(1, included.size),
  }
}
