/**
 * Workloads: fresh sender accounts funded by member 0, and every transaction of the run signed
 * before the clock starts, so sending never waits on signing. Transactions are interleaved by
 * nonce (sender 0..S-1 at nonce 0, then at nonce 1, …); sender i always goes to node i mod N,
 * so each sender's nonces reach one pool in order and consecutive sends go round-robin.
 */
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createExecCommon } from '../../evm/index.ts'
import { privateKeyToAddress } from '../keys/index.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { rpc, waitFor } from './rpc.ts'

export const WORKLOADS = ['transfer', 'donothing'] as const
export type WorkloadName = (typeof WORKLOADS)[number]

export function isWorkload(s: string): s is WorkloadName {
  return (WORKLOADS as readonly string[]).includes(s)
}

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** The 4-byte selector of BlockBench's `nothing()`. */
export const NOTHING_SELECTOR = hex(keccak_256(new TextEncoder().encode('nothing()')).subarray(0, 4))

/**
 * BlockBench's DoNothing contract, written by hand: the runtime dispatches on the selector as
 * solc does, so a call pays for the transaction, the dispatch and nothing else (and a call with
 * the wrong selector reverts, which the harness would see as failed receipts).
 */
export const DONOTHING_INITCODE = (() => {
  // 0  PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR          selector = calldata[0..4]
  // 6  PUSH4 <nothing()> EQ PUSH1 0x13 JUMPI        matches: jump to 19
  // 15 PUSH1 0 DUP1 REVERT                          anything else reverts
  // 19 JUMPDEST STOP                                nothing()
  const runtime = `600035 60e0 1c 63${NOTHING_SELECTOR.slice(2)} 14 6013 57 6000 80 fd 5b 00`.replaceAll(' ', '')
  const len = runtime.length / 2
  // PUSH1 len DUP1 PUSH1 <offset 11> PUSH1 0 CODECOPY PUSH1 0 RETURN
  return `0x60${len.toString(16).padStart(2, '0')}80600b6000396000f3${runtime}`
})()

export interface SignedTx {
  raw: string
  hash: string
  /** Index of the sending account. */
  sender: number
  /** Index of the node it is sent to (sender mod nodes). */
  node: number
}

export interface PreparedWorkload {
  name: WorkloadName
  senders: number
  /** The DoNothing contract (donothing only). */
  contract: string | undefined
  /** In send order. */
  txs: SignedTx[]
  /** Gas limit of each workload transaction. */
  gasPerTx: number
}

export interface WorkloadOptions {
  name: WorkloadName
  chainId: bigint
  /** JSON-RPC endpoints in node order; set-up goes through the first. */
  urls: string[]
  /** Member 0's key: funded in the genesis, pays the deployment and funds the senders. */
  funderKey: Uint8Array
  /** Transactions to sign. */
  count: number
  /** Sending accounts; default from the rate (see `defaultSenders`). */
  senders: number
  progress?: (line: string) => void
}

/** Enough senders that none sends faster than ~10/s, at least 16 and at most 256, a multiple of the node count. */
export function defaultSenders(rate: number, nodes: number): number {
  const base = Math.min(256, Math.max(16, Math.ceil(rate / 10)))
  return Math.ceil(base / nodes) * nodes
}

const FEES = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }
const GAS = { transfer: 21_000, donothing: 30_000 } as const
const SETUP_TIMEOUT_MS = 120_000

interface Receipt { status: string; contractAddress: string | null }

/** Waits until every node has the receipt of `hash` (so no node refuses a sender as unfunded). */
async function includedEverywhere(urls: string[], hash: string, what: string): Promise<Receipt> {
  const receipts = await Promise.all(urls.map((u) => waitFor(() => rpc<Receipt | null>(u, 'eth_getTransactionReceipt', [hash]), what, SETUP_TIMEOUT_MS)))
  return receipts[0]!
}

export async function prepareWorkload(o: WorkloadOptions): Promise<PreparedWorkload> {
  const progress = o.progress ?? (() => {})
  const common = createExecCommon(o.chainId)
  const base = { ...FEES, chainId: o.chainId }
  const funder = hex(privateKeyToAddress(o.funderKey))
  let nonce = BigInt(await rpc<string>(o.urls[0]!, 'eth_getTransactionCount', [funder, 'pending']))
  const sign = (fields: Record<string, unknown>, key: Uint8Array) => createFeeMarket1559Tx({ ...base, ...fields }, { common }).sign(key)
  const send = (raw: Uint8Array) => rpc<string>(o.urls[0]!, 'eth_sendRawTransaction', [hex(raw)])

  progress(`funding ${o.senders} senders${o.name === 'donothing' ? ' and deploying DoNothing' : ''}…`)
  let contract: string | undefined
  if (o.name === 'donothing') {
    const deploy = sign({ nonce: nonce++, gasLimit: 100_000n, data: bytes(DONOTHING_INITCODE) }, o.funderKey)
    const r = await includedEverywhere(o.urls, await send(deploy.serialize()), 'the DoNothing deployment')
    if (r.status !== '0x1' || r.contractAddress === null) throw new BenchError(BenchErrorCode.RPC, `the DoNothing deployment failed (receipt status ${r.status})`)
    contract = r.contractAddress
  }
  const keys = Array.from({ length: o.senders }, () => secp256k1.utils.randomSecretKey())
  const addresses = keys.map((k) => privateKeyToAddress(k))
  let last = ''
  for (const a of addresses) last = await send(sign({ nonce: nonce++, gasLimit: 21_000n, to: a, value: 10n ** 21n }, o.funderKey).serialize())
  await includedEverywhere(o.urls, last, 'the senders to be funded')

  progress(`signing ${o.count} ${o.name} transactions from ${o.senders} senders…`)
  const calldata = bytes(NOTHING_SELECTOR)
  const txs: SignedTx[] = []
  for (let n = 0n; txs.length < o.count; n++) {
    for (let i = 0; i < o.senders && txs.length < o.count; i++) {
      const fields =
        o.name === 'transfer'
          ? { nonce: n, gasLimit: BigInt(GAS.transfer), to: addresses[(i + 1) % o.senders], value: 1n }
          : { nonce: n, gasLimit: BigInt(GAS.donothing), to: bytes(contract!), data: calldata }
      const tx = sign(fields, keys[i]!)
      txs.push({ raw: hex(tx.serialize()), hash: hex(tx.hash()), sender: i, node: i % o.urls.length })
    }
  }
  return { name: o.name, senders: o.senders, contract, txs, gasPerTx: GAS[o.name] }
}

