/**
 * The contract-write workload of the throughput benches (single node and network): the Store
 * fixture deployed once, `senders` fresh keys funded, and `Store.set(v)` pre-signed for each
 * sender, interleaved by nonce, so the sending loop never waits on signing.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Common } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { encodeFunctionData, type Abi, type Hex } from 'viem'
import { privateKeyToAddress as addressOf } from '../../node/keys/index.ts'
import { ROOT } from '../harness/process.ts'
import { rpc, waitFor } from '../harness/rpc.ts'

export interface WorkloadSetup {
  common: Common
  /** Pays for the deployment and funds the senders. */
  funderKey: Uint8Array
  /** The funder's next nonce. */
  funderNonce: bigint
  senders: number
  perSender: number
  send(raw: Uint8Array): Promise<string>
  receipt(hash: string): Promise<{ contractAddress: string }>
}

export interface SignedWrite {
  raw: string
  hash: string
  /** Index of the sending key. */
  sender: number
}

export async function prepareStoreWorkload(o: WorkloadSetup): Promise<{ contract: Hex; txs: SignedWrite[] }> {
  const { common } = o
  const fees = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: common.chainId() }
  const store = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/contracts/Store.json'), 'utf8')) as { abi: Abi; bytecode: Hex }
  let nonce = o.funderNonce
  const deploy = createFeeMarket1559Tx({ ...fees, nonce: nonce++, gasLimit: 3_000_000n, data: hexToBytes(store.bytecode) }, { common }).sign(o.funderKey)
  const contract = (await o.receipt(await o.send(deploy.serialize()))).contractAddress as Hex
  const keys = Array.from({ length: o.senders }, (_, i) => keccak_256(new TextEncoder().encode(`medrec bench sender ${i}`)))
  const funding = keys.map((k) => createFeeMarket1559Tx({ ...fees, nonce: nonce++, gasLimit: 21_000n, to: addressOf(k), value: 10n ** 20n }, { common }).sign(o.funderKey))
  const fundHashes = await Promise.all(funding.map((tx) => o.send(tx.serialize())))
  await o.receipt(fundHashes[fundHashes.length - 1]!)

  process.stderr.write(`  signing ${o.perSender * o.senders} transactions from ${o.senders} senders...\n`)
  const txs: SignedWrite[] = []
  for (let n = 0; n < o.perSender; n++) {
    for (const [i, k] of keys.entries()) {
      const data = hexToBytes(encodeFunctionData({ abi: store.abi, functionName: 'set', args: [BigInt(1 + ((n * 7 + i) % 1000))] }))
      const tx = createFeeMarket1559Tx({ ...fees, nonce: BigInt(n), gasLimit: 100_000n, to: contract, data }, { common }).sign(k)
      txs.push({ raw: bytesToHex(tx.serialize()), hash: bytesToHex(tx.hash()), sender: i })
    }
  }
  return { contract, txs }
}

/** One pre-signed write and the node it goes to. */
export interface QueuedWrite {
  url: string
  raw: string
  hash: string
}

/**
 * The network benches' load: the Store workload funded from `funder` through the first node,
 * `rate × seconds` writes spread over the nodes so that sender i always goes to node i mod N
 * (its nonces arrive in order).
 */
export async function prepareNetworkLoad(o: { common: Common; funder: { key: Uint8Array; address: string }; urls: string[]; rate: number; seconds: number; senders: number; receiptTimeoutMs: number }): Promise<QueuedWrite[]> {
  const url = o.urls[0]!
  const { txs } = await prepareStoreWorkload({
    common: o.common,
    funderKey: o.funder.key,
    funderNonce: BigInt(await rpc<string>(url, 'eth_getTransactionCount', [o.funder.address, 'pending'])),
    senders: o.senders,
    perSender: Math.ceil((o.rate * o.seconds) / o.senders),
    send: (raw) => rpc<string>(url, 'eth_sendRawTransaction', [bytesToHex(raw)]),
    receipt: (hash) => waitFor(() => rpc<{ contractAddress: string } | null>(url, 'eth_getTransactionReceipt', [hash]), `receipt ${hash}`, o.receiptTimeoutMs),
  })
  return txs.map((t) => ({ url: o.urls[t.sender % o.urls.length]!, raw: t.raw, hash: t.hash }))
}

/**
 * Sends `queue` open loop at `rate` per second (at most 256 requests in flight); returns each
 * hash's send time on `clock` and how many sends were refused.
 */
export async function sendOpenLoop(queue: readonly QueuedWrite[], rate: number, clock: () => number): Promise<{ submitted: Map<string, number>; rejected: number }> {
  const submitted = new Map<string, number>()
  const started = performance.now()
  let rejected = 0
  const inflight = new Set<Promise<void>>()
  for (const [j, item] of queue.entries()) {
    const wait = started + (j * 1000) / rate - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    submitted.set(item.hash, clock())
    const p = rpc<string>(item.url, 'eth_sendRawTransaction', [item.raw]).then(
      () => undefined,
      (err: unknown) => {
        // A refused write leaves a nonce gap: its sender's later writes wait forever. Say why.
        const e = err as Error
        if (rejected++ < 3) process.stderr.write(`  refused by ${item.url}: ${e.message}${e.cause === undefined ? '' : ` (${String(e.cause)})`}\n`)
      },
    )
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    if (inflight.size > 256) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  return { submitted, rejected }
}

/** Waits until every sender's last write has a receipt at `url`, or `giveUpMs` after the sending ended. */
export async function waitForDrain(url: string, queue: readonly QueuedWrite[], senders: number, giveUpMs: number): Promise<void> {
  const lastOfEach = queue.slice(-senders)
  const sendEnd = performance.now()
  await waitFor(async () => {
    if (performance.now() - sendEnd > giveUpMs) return true
    const r = await Promise.all(lastOfEach.map((x) => rpc<unknown>(url, 'eth_getTransactionReceipt', [x.hash])))
    return r.every((x) => x !== null)
  }, 'the load to drain', giveUpMs + 60_000)
}
