import { keccak256, type Abi, type Address, type Hex, type LocalAccount } from 'viem'
import { ClientError, ClientErrorCode, type DecodedRevert } from './errors.ts'
import { decodeRevertData } from './revert.ts'
import { revertDataOf, type Rpc } from './rpc.ts'
import type { TxReceipt, WriteOptions } from './types.ts'

/** One contract call to send: where, what, and how to name and decode it when it fails. */
export interface CallRequest {
  to: Address
  data: Hex
  /** The called contract's ABI, tried first when decoding a revert. */
  abi: Abi
  /** `Contract.function`, for messages. */
  label: string
  /** Fixed gas limit (skips estimation), e.g. for a call to a contract created by an earlier transaction of the same batch. */
  gas?: bigint
  /** Wei sent with the call (default 0). */
  value?: bigint
}

export interface SentTx {
  hash: Hex
  nonce: bigint
  gas: bigint
  request: CallRequest
}

export interface RawLog {
  address: Address
  topics: Hex[]
  data: Hex
}

export interface IncludedTx extends TxReceipt {
  logs: RawLog[]
}

export interface SenderOptions {
  pollMs: number
  timeoutMs: number
  /** Multiplier applied to eth_estimateGas, as a percentage (120 = +20%). */
  gasMarginPercent: number
}

export interface Sender {
  readonly address: Address
  chainId(): Promise<number>
  /** eth_call from this account at `block` (default latest); a revert throws REVERTED with the decoded error. */
  call(request: CallRequest, block?: bigint | 'latest'): Promise<Hex>
  /**
   * Estimates, signs and sends one transaction; resolves once the node accepted it. Sends go out
   * in call order (each takes its place in the queue when called; estimation runs meanwhile).
   */
  send(request: CallRequest, opts?: WriteOptions): Promise<SentTx>
  /** Sends the requests back to back with consecutive nonces, in order, without waiting for inclusion. */
  sendBatch(requests: readonly CallRequest[]): Promise<SentTx[]>
  /** Polls until the transaction is included; throws REVERTED, REPLACED, DROPPED or TIMEOUT. */
  wait(sent: SentTx): Promise<IncludedTx>
  /** Forgets the local nonce counter; the next send reads eth_getTransactionCount(pending). */
  resync(): Promise<void>
}

interface RpcReceipt {
  transactionHash: Hex
  blockNumber: Hex
  blockHash: Hex
  gasUsed: Hex
  status: Hex
  logs: { address: Address; topics: Hex[]; data: Hex }[]
}

interface Fees {
  maxFeePerGas: bigint
  maxPriorityFeePerGas: bigint
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function revertError(label: string, revert: DecodedRevert, context: Record<string, unknown> = {}): ClientError {
  return new ClientError(ClientErrorCode.REVERTED, `${label} reverted: ${revert.text}`, { ...context, revert })
}

export function createSender(rpc: Rpc, account: LocalAccount, opts: SenderOptions): Sender {
  const address = account.address
  let chainIdPromise: Promise<number> | undefined
  /** The next nonce to use; undefined: read it from the node (pool included) before the next send. */
  let nextNonce: bigint | undefined
  let lock: Promise<unknown> = Promise.resolve()

  /** Runs `fn` after every earlier locked section: nonces are assigned and sent in order. */
  function locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = lock.then(fn)
    lock = run.catch(() => undefined)
    return run
  }

  const chainId = (): Promise<number> => {
    chainIdPromise ??= rpc.request<Hex>('eth_chainId', []).then((h) => Number(BigInt(h)))
    chainIdPromise.catch(() => (chainIdPromise = undefined))
    return chainIdPromise
  }

  async function fees(): Promise<Fees> {
    const [block, tip] = await Promise.all([
      rpc.request<{ baseFeePerGas?: Hex } | null>('eth_getBlockByNumber', ['latest', false]),
      rpc.request<Hex>('eth_maxPriorityFeePerGas', []),
    ])
    const baseFee = block?.baseFeePerGas === undefined ? 0n : BigInt(block.baseFeePerGas)
    const maxPriorityFeePerGas = BigInt(tip)
    // Room for the base fee to double (six full blocks) before the transaction stops being executable.
    return { maxFeePerGas: baseFee * 2n + maxPriorityFeePerGas, maxPriorityFeePerGas }
  }

  async function estimate(request: CallRequest): Promise<bigint> {
    try {
      const gas = BigInt(await rpc.request<Hex>('eth_estimateGas', [{ from: address, to: request.to, data: request.data }]))
      return (gas * BigInt(opts.gasMarginPercent)) / 100n
    } catch (err) {
      const data = revertDataOf(err)
      if (data !== undefined) throw revertError(request.label, decodeRevertData(data, request.abi), { to: request.to })
      throw err
    }
  }

  async function call(request: CallRequest, block: bigint | 'latest' = 'latest'): Promise<Hex> {
    try {
      return await rpc.request<Hex>('eth_call', [{ from: address, to: request.to, data: request.data, ...(request.gas === undefined ? {} : { gas: request.gas }) }, block])
    } catch (err) {
      const data = revertDataOf(err)
      if (data !== undefined) throw revertError(request.label, decodeRevertData(data, request.abi), { to: request.to })
      throw err
    }
  }

  async function pendingNonce(): Promise<bigint> {
    return BigInt(await rpc.request<Hex>('eth_getTransactionCount', [address, 'pending']))
  }

  async function signAndSend(request: CallRequest, nonce: bigint, gas: bigint, fee: Fees, id: number): Promise<SentTx> {
    const raw = await account.signTransaction({
      type: 'eip1559',
      chainId: id,
      nonce: Number(nonce),
      to: request.to,
      data: request.data,
      value: request.value ?? 0n,
      gas,
      maxFeePerGas: fee.maxFeePerGas,
      maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
    })
    const hash = keccak256(raw)
    try {
      await rpc.request<Hex>('eth_sendRawTransaction', [raw])
    } catch (err) {
      if (err instanceof ClientError) {
        throw new ClientError(err.code, `${request.label}: the node refused the transaction (nonce ${nonce}): ${err.message}`, { ...err.context, hash, nonce }, err)
      }
      throw err
    }
    return { hash, nonce, gas, request }
  }

  const isNonceTooLow = (err: unknown): boolean => err instanceof ClientError && /nonce too low/i.test(err.message)

  interface Prepared {
    items: { request: CallRequest; gas: bigint }[]
    fee: Fees
    id: number
  }

  /** Gas (estimated unless fixed), fees and chain id for the requests; started before the lock is taken. */
  function prepare(requests: readonly CallRequest[], o: WriteOptions): Promise<Prepared> {
    const both = o.maxFeePerGas !== undefined && o.maxPriorityFeePerGas !== undefined
    const p = Promise.all([Promise.all(requests.map((r) => o.gas ?? r.gas ?? estimate(r))), both ? undefined : fees(), chainId()]).then(([gases, suggested, id]) => {
      const fee: Fees = {
        maxFeePerGas: o.maxFeePerGas ?? suggested!.maxFeePerGas,
        maxPriorityFeePerGas: o.maxPriorityFeePerGas ?? suggested!.maxPriorityFeePerGas,
      }
      if (fee.maxPriorityFeePerGas > fee.maxFeePerGas) fee.maxFeePerGas = fee.maxPriorityFeePerGas
      return { items: requests.map((request, i) => ({ request, gas: gases[i]! })), fee, id }
    })
    p.catch(() => undefined) // awaited in the locked section; do not report it as unhandled meanwhile
    return p
  }

  /**
   * Takes its place in the send queue now (so writes go out in call order), waits for its own
   * preparation, then sends with consecutive nonces from the counter. If the counter was stale
   * (another process used the key) it reads the nonce again and retries the whole batch once.
   */
  function sendQueued(preparing: Promise<Prepared>): Promise<SentTx[]> {
    return locked(async () => {
      const { items, fee, id } = await preparing
      for (let attempt = 0; ; attempt++) {
        nextNonce ??= await pendingNonce()
        const sent: SentTx[] = []
        try {
          for (const p of items) {
            sent.push(await signAndSend(p.request, nextNonce, p.gas, fee, id))
            nextNonce += 1n
          }
          return sent
        } catch (err) {
          nextNonce = undefined
          if (attempt === 0 && sent.length === 0 && isNonceTooLow(err)) continue
          if (err instanceof ClientError && sent.length > 0) {
            throw new ClientError(err.code, `${err.message} (after ${sent.length} transaction(s) of the batch were sent: ${sent.map((s) => s.hash).join(', ')})`, { ...err.context, sent: sent.map((s) => s.hash) }, err)
          }
          throw err
        }
      }
    })
  }

  function send(request: CallRequest, o: WriteOptions = {}): Promise<SentTx> {
    const preparing = prepare([request], o)
    if (o.nonce === undefined) return sendQueued(preparing).then((sent) => sent[0]!)
    // An explicit nonce bypasses the counter, which then resyncs from the node.
    const explicit = o.nonce
    return locked(async () => {
      const { items, fee, id } = await preparing
      try {
        return await signAndSend(request, explicit, items[0]!.gas, fee, id)
      } finally {
        nextNonce = undefined
      }
    })
  }

  function sendBatch(requests: readonly CallRequest[]): Promise<SentTx[]> {
    return sendQueued(prepare(requests, {}))
  }

  async function receiptOf(hash: Hex): Promise<RpcReceipt | null> {
    return rpc.request<RpcReceipt | null>('eth_getTransactionReceipt', [hash])
  }

  async function included(sent: SentTx, r: RpcReceipt): Promise<IncludedTx> {
    const blockNumber = BigInt(r.blockNumber)
    const out: IncludedTx = {
      hash: sent.hash,
      nonce: sent.nonce,
      blockNumber,
      blockHash: r.blockHash,
      gasUsed: BigInt(r.gasUsed),
      logs: r.logs.map((l) => ({ address: l.address, topics: l.topics, data: l.data })),
    }
    if (BigInt(r.status) === 1n) return out
    // The receipt has no revert data: replay the call on the parent block's state to decode it.
    const context = { hash: sent.hash, nonce: sent.nonce, blockNumber, gasUsed: out.gasUsed, to: sent.request.to }
    if (out.gasUsed >= sent.gas) {
      throw new ClientError(ClientErrorCode.REVERTED, `${sent.request.label} ran out of gas in block ${blockNumber} (gas limit ${sent.gas})`, {
        ...context,
        revert: { errorName: 'OutOfGas', args: [], text: `OutOfGas(${sent.gas})`, data: '0x' },
      })
    }
    try {
      await call({ ...sent.request, gas: sent.gas }, blockNumber - 1n)
    } catch (err) {
      if (err instanceof ClientError && err.code === ClientErrorCode.REVERTED && err.revert !== undefined) {
        throw revertError(`${sent.request.label} (block ${blockNumber})`, err.revert, context)
      }
    }
    throw new ClientError(ClientErrorCode.REVERTED, `${sent.request.label} reverted in block ${blockNumber}; replaying it on the parent block does not revert, so an earlier transaction of that block changed the outcome`, {
      ...context,
      revert: { errorName: '', args: [], text: 'unknown (state changed within the block)', data: '0x' },
    })
  }

  async function wait(sent: SentTx): Promise<IncludedTx> {
    const deadline = Date.now() + opts.timeoutMs
    const context = { hash: sent.hash, nonce: sent.nonce, to: sent.request.to }
    let lastRpcError: ClientError | undefined
    try {
      for (;;) {
        try {
          const outcome = await poll()
          if (outcome !== undefined) return outcome
          lastRpcError = undefined
        } catch (err) {
          // A node that does not answer for a moment is not a verdict: keep polling until the deadline.
          if (!(err instanceof ClientError && err.code === ClientErrorCode.RPC && err.context?.rpcCode === undefined)) throw err
          lastRpcError = err
        }
        if (Date.now() >= deadline) {
          if (lastRpcError !== undefined) {
            throw new ClientError(ClientErrorCode.TIMEOUT, `${sent.request.label} (${sent.hash}): no answer from the node within ${opts.timeoutMs} ms: ${lastRpcError.message}`, context, lastRpcError)
          }
          const known = (await rpc.request<unknown>('eth_getTransactionByHash', [sent.hash])) !== null
          if (known) {
            throw new ClientError(ClientErrorCode.TIMEOUT, `${sent.request.label} (${sent.hash}) is still pending after ${opts.timeoutMs} ms (nonce ${sent.nonce})`, context)
          }
          throw new ClientError(ClientErrorCode.DROPPED, `${sent.request.label} (${sent.hash}) was dropped: the node no longer knows it and nonce ${sent.nonce} was not used within ${opts.timeoutMs} ms`, context)
        }
        await sleep(opts.pollMs)
      }
    } catch (err) {
      // The counter may now be ahead of what the node will ever include: read it again.
      if (!(err instanceof ClientError && err.code === ClientErrorCode.REVERTED)) await resync()
      throw err
    }

    /** One round: the included transaction, a REPLACED error, or undefined (still waiting). */
    async function poll(): Promise<IncludedTx | undefined> {
      const r = await receiptOf(sent.hash)
      if (r !== null) return included(sent, r)
      const used = BigInt(await rpc.request<Hex>('eth_getTransactionCount', [address, 'latest']))
      if (used <= sent.nonce) return undefined
      // Included between the two reads?
      const again = await receiptOf(sent.hash)
      if (again !== null) return included(sent, again)
      throw new ClientError(
        ClientErrorCode.REPLACED,
        `${sent.request.label} (${sent.hash}) was replaced: another transaction of ${address} took nonce ${sent.nonce} (the account nonce is now ${used}) and this hash has no receipt`,
        { ...context, accountNonce: used },
      )
    }
  }

  function resync(): Promise<void> {
    return locked(async () => {
      nextNonce = undefined
    })
  }

  return { address, chainId, call, send, sendBatch, wait, resync }
}
