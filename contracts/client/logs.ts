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

type Topics = ReturnType<typeof encodeEventTopics>

/** `q`'s logs in [from, to], asked window by window (LOG_WINDOW blocks per eth_getLogs). */
async function scan<const A extends Abi, N extends ContractEventName<A>>(rpc: Rpc, q: LogQuery<A, N>, topics: Topics, from: bigint, to: bigint): Promise<Extract<LoggedEvent<A>, { eventName: N }>[]> {
  const out: Extract<LoggedEvent<A>, { eventName: N }>[] = []
  for (let start = from; start <= to; start += LOG_WINDOW) {
    const end = start + LOG_WINDOW - 1n < to ? start + LOG_WINDOW - 1n : to
    const logs = await rpc.request<LogJson[]>('eth_getLogs', [{ address: q.address, topics, fromBlock: hex(start), toBlock: hex(end) }])
    for (const log of logs) {
      if (log.removed === true || log.topics.length === 0) continue
      const ev = decodeLog(q.abi, log.topics as [Hex, ...Hex[]], log.data) as DecodedEvent<A>
      if (ev.eventName !== q.eventName) continue
      out.push({ ...ev, blockNumber: BigInt(log.blockNumber), transactionHash: log.transactionHash } as Extract<LoggedEvent<A>, { eventName: N }>)
    }
  }
  return out
}

/**
 * The contract's `eventName` logs in chain order. A bounded range is read as asked; a read to the
 * head (no `fromBlock`/`toBlock`) given an `index` scans only the blocks after its last read.
 */
export async function readEvents<const A extends Abi, N extends ContractEventName<A>>(rpcOrNone: Rpc | undefined, q: LogQuery<A, N>, index?: LogIndex): Promise<Extract<LoggedEvent<A>, { eventName: N }>[]> {
  const rpc = needRpc(rpcOrNone, `${String(q.eventName)} of ${q.address}`)
  const topics = encodeEventTopics({ abi: q.abi, eventName: q.eventName, args: q.args } as Parameters<typeof encodeEventTopics>[0])
  if (index !== undefined && q.fromBlock === undefined && q.toBlock === undefined) return index.read(rpc, q, topics)
  const to = q.toBlock ?? BigInt(await rpc.request<Hex>('eth_blockNumber', []))
  return scan(rpc, q, topics, q.fromBlock ?? 0n, to)
}

interface Mark {
  number: bigint
  hash: Hex
}

/** One log stream (contract, event, topics) as far as it was read. */
interface Stream {
  events: LoggedEvent<Abi>[]
  /** The heads earlier reads ended at, oldest first: the newest still canonical is where a read resumes. */
  marks: Mark[]
}

/** A stream keeps this many marks: a reorg deeper than the oldest makes the next read start again from genesis. */
const MARKS = 64
/** A read retries this many times while the head changes branch under it. */
const READ_ATTEMPTS = 3

async function blockAt(rpc: Rpc, tag: bigint | 'latest'): Promise<Mark | undefined> {
  const b = await rpc.request<{ number: Hex; hash: Hex } | null>('eth_getBlockByNumber', [typeof tag === 'bigint' ? hex(tag) : tag, false])
  return b === null ? undefined : { number: BigInt(b.number), hash: b.hash.toLowerCase() as Hex }
}

/**
 * What a client has read of the contracts' event logs, by stream, with the head each read ended
 * at (number and hash). The next read checks that head is still canonical and asks only for the
 * blocks after it; after a reorg, the events above the newest mark still canonical are dropped
 * and read again. So a list read costs the blocks since the last read, not the chain's length.
 * One index per client and transport (what one node served is not another's word).
 */
export class LogIndex {
  readonly #streams = new Map<string, Stream>()
  readonly #max: number
  constructor(maxStreams = 256) {
    this.#max = maxStreams
  }

  async read<const A extends Abi, N extends ContractEventName<A>>(rpc: Rpc, q: LogQuery<A, N>, topics: Topics): Promise<Extract<LoggedEvent<A>, { eventName: N }>[]> {
    const key = `${q.address.toLowerCase()}|${String(q.eventName)}|${JSON.stringify(topics)}`
    for (let attempt = 1; ; attempt++) {
      const s = this.#streams.get(key) ?? { events: [], marks: [] }
      this.#streams.delete(key) // re-inserted below: the map's order is least recently read first
      // Resume after the newest mark still on the canonical chain; what came after it may be gone.
      while (s.marks.length > 0) {
        const m = s.marks.at(-1)!
        if ((await blockAt(rpc, m.number))?.hash === m.hash) break
        s.marks.pop()
      }
      const kept = s.marks.at(-1)
      if (kept === undefined) s.events = []
      else if (s.events.length > 0 && s.events.at(-1)!.blockNumber > kept.number) s.events = s.events.filter((e) => e.blockNumber <= kept.number)
      const head = await blockAt(rpc, 'latest')
      if (head === undefined) throw new ClientError(ClientErrorCode.RPC, 'eth_getBlockByNumber("latest") answered null: the node has no head block', {})
      const fresh = kept === undefined || head.number > kept.number ? await scan(rpc, q, topics, kept === undefined ? 0n : kept.number + 1n, head.number) : []
      // The logs stand for the chain up to `head` only if it is still canonical after the scan.
      if ((await blockAt(rpc, head.number))?.hash !== head.hash) {
        if (attempt < READ_ATTEMPTS) continue
        throw new ClientError(ClientErrorCode.RPC, `the head changed branch during ${READ_ATTEMPTS} reads of ${String(q.eventName)} logs of ${q.address}: retry when the chain settles`, { address: q.address })
      }
      s.events.push(...(fresh as LoggedEvent<Abi>[]))
      if (kept?.number !== head.number) s.marks.push(head)
      if (s.marks.length > MARKS) s.marks.splice(0, s.marks.length - MARKS)
      this.#streams.set(key, s)
      if (this.#streams.size > this.#max) this.#streams.delete(this.#streams.keys().next().value as string)
      return [...s.events] as Extract<LoggedEvent<A>, { eventName: N }>[]
    }
  }
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
