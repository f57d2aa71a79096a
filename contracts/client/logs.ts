import { encodeEventTopics, type Abi, type Address, type ContractEventName, type Hex } from 'viem'
import { decodeLog } from '../bindings.ts'
import type { DecodedEvent } from './core.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import type { Rpc } from './rpc.ts'

/**
 * Reads of what the contracts keep in events rather than state (issue 23: query and bounty
 * texts, the lists of relationships and participants). Texts a contract still commits to in
 * state (a pointer's query hash) are checked against it by the caller.
 */

/** eth_getLogs is asked for at most this many blocks at once (the node's MAX_LOG_RANGE). */
export const LOG_WINDOW = 10_000n

export interface LogJson {
  address: Address
  topics: Hex[]
  data: Hex
  blockNumber: Hex
  transactionHash: Hex
  logIndex: Hex
  removed?: boolean
}

/** A decoded event with where it was logged. */
export type LoggedEvent<A extends Abi> = DecodedEvent<A> & { blockNumber: bigint; transactionHash: Hex }

const hex = (n: bigint): Hex => `0x${n.toString(16)}`

function needRpc(rpc: Rpc | undefined, what: string): Rpc {
  if (rpc === undefined) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, `${what} is read from event logs, which needs the JSON-RPC transport: create the client with it`)
  return rpc
}

export interface LogQuery<A extends Abi, N extends ContractEventName<A>> {
  abi: A
  address: Address
  eventName: N
  /** Indexed arguments to filter on (viem's encodeEventTopics `args`). */
  args?: Record<string, unknown>
  /** Inclusive block range; default: genesis to the head. */
  fromBlock?: bigint
  toBlock?: bigint
}

/** The contract's `eventName` logs in chain order, asked window by window (LOG_WINDOW blocks). */
export async function readEvents<const A extends Abi, N extends ContractEventName<A>>(rpcOrNone: Rpc | undefined, q: LogQuery<A, N>): Promise<Extract<LoggedEvent<A>, { eventName: N }>[]> {
  const rpc = needRpc(rpcOrNone, `${String(q.eventName)} of ${q.address}`)
  const topics = encodeEventTopics({ abi: q.abi, eventName: q.eventName, args: q.args } as Parameters<typeof encodeEventTopics>[0])
  const to = q.toBlock ?? BigInt(await rpc.request<Hex>('eth_blockNumber', []))
  const out: Extract<LoggedEvent<A>, { eventName: N }>[] = []
  for (let from = q.fromBlock ?? 0n; from <= to; from += LOG_WINDOW) {
    const end = from + LOG_WINDOW - 1n < to ? from + LOG_WINDOW - 1n : to
    const logs = await rpc.request<LogJson[]>('eth_getLogs', [{ address: q.address, topics, fromBlock: hex(from), toBlock: hex(end) }])
    for (const log of logs) {
      if (log.removed === true || log.topics.length === 0) continue
      const ev = decodeLog(q.abi, log.topics as [Hex, ...Hex[]], log.data) as DecodedEvent<A>
      if (ev.eventName !== q.eventName) continue
      out.push({ ...ev, blockNumber: BigInt(log.blockNumber), transactionHash: log.transactionHash } as Extract<LoggedEvent<A>, { eventName: N }>)
    }
  }
  return out
}

/** Block timestamps (seconds), one eth_getBlockByNumber per distinct block. */
export async function blockTimes(rpcOrNone: Rpc | undefined, blocks: readonly bigint[]): Promise<Map<bigint, number>> {
  const rpc = needRpc(rpcOrNone, 'a block time')
  const out = new Map<bigint, number>()
  await Promise.all(
    [...new Set(blocks)].map(async (n) => {
      const b = await rpc.request<{ timestamp: Hex } | null>('eth_getBlockByNumber', [hex(n), false])
      if (b === null) throw new ClientError(ClientErrorCode.NOT_FOUND, `block ${n} is not known to this node`, {})
      out.set(n, Number(BigInt(b.timestamp)))
    }),
  )
  return out
}

/** A bounded memo of immutable texts (a pointer's query once checked against its hash). */
export class TextCache {
  readonly #map = new Map<string, string>()
  readonly #max: number
  constructor(max = 10_000) {
    this.#max = max
  }
  get(key: string): string | undefined {
    return this.#map.get(key)
  }
  set(key: string, text: string): void {
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string)
    this.#map.set(key, text)
  }
}
