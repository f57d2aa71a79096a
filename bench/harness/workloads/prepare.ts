/**
 * Prepares a workload: fresh sender accounts funded by member 0, the workload's set-up, and
 * every transaction of the run signed before the clock starts, so sending never waits on signing.
 * Transactions are interleaved by nonce (sender 0..S-1 at nonce 0, then at nonce 1, …); sender i
 * always goes to node i mod N, so each sender's nonces reach one pool in order and consecutive
 * sends go round-robin.
 */
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { createExecCommon } from '../../../evm/index.ts'
import { privateKeyToAddress } from '../../../node/keys/index.ts'
import { BenchError, BenchErrorCode } from '../errors.ts'
import { rpc, waitFor } from '../rpc.ts'
import type { TxFields, Workload, WorkloadContext, WorkloadPlan } from './types.ts'

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

export interface SignedTx {
  raw: string
  hash: string
  /** Index of the sending account; senders + i is node i's own key (a plan's `authority` transactions). */
  sender: number
  /** Index of the node it is sent to (sender mod nodes). */
  node: number
}

export interface PreparedWorkload {
  name: string
  senders: number
  /** The contract the transactions call (null for transfers). */
  contract: string | null
  /** In send order. */
  txs: SignedTx[]
  /** The plan's off-chain requests, if it has any. */
  requests?: WorkloadPlan['requests']
}

export interface WorkloadOptions {
  workload: Workload
  chainId: bigint
  /** JSON-RPC endpoints in node order; set-up goes through the first. */
  urls: string[]
  /** Member 0's key: funded in the genesis, pays the deployments and funds the senders. */
  funderKey: Uint8Array
  /** Every node's key in node order. */
  nodeKeys: Uint8Array[]
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
const SETUP_TIMEOUT_MS = 120_000
/** Each sender gets up to 1,000 ether (a quarter of the funder's balance shared out, on a chain that holds less): enough for any workload's gas and values. */
const SENDER_FUNDS = 10n ** 21n
/** Below this a sender could not pay for a run's transactions (a 1M-gas call reserves 0.1 ether at the harness's fee cap). */
const MIN_SENDER_FUNDS = 10n ** 18n

interface Receipt { status: string; contractAddress: string | null }

export async function prepareWorkload(o: WorkloadOptions): Promise<PreparedWorkload> {
  const progress = o.progress ?? (() => {})
  const common = createExecCommon(o.chainId)
  const sign = (fields: TxFields & { nonce: bigint }, key: Uint8Array) => createFeeMarket1559Tx({ ...FEES, chainId: o.chainId, ...fields }, { common }).sign(key)

  // Set-up nonces are tracked here per account, starting from the pending count.
  const nonces = new Map<string, bigint>()
  const nextNonce = async (key: Uint8Array): Promise<bigint> => {
    const address = hex(privateKeyToAddress(key))
    const n = nonces.get(address) ?? BigInt(await rpc<string>(o.urls[0]!, 'eth_getTransactionCount', [address, 'pending']))
    nonces.set(address, n + 1n)
    return n
  }
  const receipts = (hash: string, what: string) =>
    Promise.all(o.urls.map((u) => waitFor(() => rpc<Receipt | null>(u, 'eth_getTransactionReceipt', [hash]), what, SETUP_TIMEOUT_MS)))
  const ctx: WorkloadContext = {
    chainId: o.chainId,
    common,
    urls: o.urls,
    funderKey: o.funderKey,
    nodeKeys: o.nodeKeys,
    senderKeys: Array.from({ length: o.senders }, () => secp256k1.utils.randomSecretKey()),
    senderAddresses: [],
    send: async (fields, key) => rpc<string>(o.urls[0]!, 'eth_sendRawTransaction', [hex(sign({ ...fields, nonce: await nextNonce(key) }, key).serialize())]),
    async deploy(initcode, gasLimit, what) {
      const hash = await ctx.send({ data: bytes(initcode), gasLimit }, o.funderKey)
      const [r] = await receipts(hash, what)
      if (r!.status !== '0x1' || r!.contractAddress === null) throw new BenchError(BenchErrorCode.RPC, `${what} failed (receipt status ${r!.status}): the init code reverted or ran out of gas`)
      return r!.contractAddress
    },
    async waitIncluded(hash, what) {
      const [r] = await receipts(hash, what)
      if (r!.status !== '0x1') throw new BenchError(BenchErrorCode.RPC, `${what} failed: transaction ${hash} reverted`)
    },
    progress,
  }
  ctx.senderAddresses = ctx.senderKeys.map((k) => privateKeyToAddress(k))

  progress(`funding ${o.senders} senders…`)
  const funder = hex(privateKeyToAddress(o.funderKey))
  const balance = BigInt(await rpc<string>(o.urls[0]!, 'eth_getBalance', [funder, 'latest']))
  // Half the balance stays with the funder for deployments and set-up (a dev chain's accounts hold 10,000 ether).
  const funds = [SENDER_FUNDS, balance / 2n / BigInt(o.senders)].reduce((a, b) => (a < b ? a : b))
  if (funds < MIN_SENDER_FUNDS) {
    throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the funding account ${funder} holds ${balance} wei: too little to give ${o.senders} senders 1 ether each; fund it or use a genesis-funded key`)
  }
  let last = ''
  for (const to of ctx.senderAddresses) last = await ctx.send({ to, value: funds, gasLimit: 21_000n }, o.funderKey)
  await ctx.waitIncluded(last, 'the senders to be funded')
  progress(`setting up ${o.workload.name}…`)
  const plan = await o.workload.setup(ctx)

  progress(`signing ${o.count} ${o.workload.name} transactions from ${o.senders} senders…`)
  const base = await Promise.all(ctx.senderKeys.map((k) => nextNonce(k)))
  // The nodes' keys may have sent on their own during set-up (a gatekeeper signs with its
  // node's key): their nonces are read afresh, not from the set-up's count.
  const authority = plan.authority
  const nodeBase = authority === undefined ? [] : await Promise.all(o.nodeKeys.map((k) => rpc<string>(o.urls[0]!, 'eth_getTransactionCount', [hex(privateKeyToAddress(k)), 'pending']).then(BigInt)))
  const authoritySent = authority === undefined ? [] : o.nodeKeys.map(() => 0)
  let fromSenders = 0
  let turn = 0
  const txs: SignedTx[] = []
  for (let seq = 0; txs.length < o.count; seq++) {
    for (let i = 0; i < o.senders && txs.length < o.count; i++) {
      const tx = sign({ ...plan.tx(i, seq), nonce: base[i]! + BigInt(seq) }, ctx.senderKeys[i]!)
      txs.push({ raw: hex(tx.serialize()), hash: hex(tx.hash()), sender: i, node: i % o.urls.length })
      if (authority !== undefined && ++fromSenders % authority.every === 0 && txs.length < o.count) {
        const node = turn++ % o.nodeKeys.length
        const k = authoritySent[node]!++
        const atx = sign({ ...authority.tx(node, k), nonce: nodeBase[node]! + BigInt(k) }, o.nodeKeys[node]!)
        // Sender indices past the senders name the nodes' own keys.
        txs.push({ raw: hex(atx.serialize()), hash: hex(atx.hash()), sender: o.senders + node, node })
      }
    }
  }
  return { name: o.workload.name, senders: o.senders, contract: plan.contract, txs, ...(plan.requests === undefined ? {} : { requests: plan.requests }) }
}
