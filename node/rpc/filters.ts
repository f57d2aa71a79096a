/**
 * Polling filters (eth_newFilter & co.): each filter collects what arrived since it was last
 * polled. Unpolled filters expire after five minutes, as in geth, so abandoned clients do not
 * keep memory forever; a filter that collects more than `maxPending` items before being polled
 * is removed and reports that on the next poll instead of silently losing items.
 */
import { randomBytes } from 'node:crypto'
import { createLogger, toData, toQuantity, type Hex } from '../../common/index.ts'
import type { HeadEvent, RawLog } from '../chain/index.ts'
import { RpcError } from './errors.ts'
import { formatLog, type LogJson } from './format.ts'

const log = createLogger('rpc')

export interface LogFilter {
  fromBlock: bigint
  toBlock: bigint
  addresses: Uint8Array[]
  /** Positional; null is a wildcard, a list matches any of its topics. */
  topics: (Uint8Array[] | null)[]
  blockHash?: Uint8Array
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Address and topic criteria of a filter against one log (the block range is the caller's
 * job). Topics are positional: a log with fewer topics than criteria positions does not match.
 */
export function matchLog(raw: RawLog, filter: Pick<LogFilter, 'addresses' | 'topics'>): boolean {
  const [address, topics] = raw
  if (filter.addresses.length > 0 && !filter.addresses.some((a) => sameBytes(a, address))) return false
  if (filter.topics.length > topics.length) return false
  for (let i = 0; i < filter.topics.length; i++) {
    const wanted = filter.topics[i]
    if (wanted === null || wanted === undefined) continue
    const got = topics[i]!
    if (!wanted.some((t) => sameBytes(t, got))) return false
  }
  return true
}

/** Random 16-byte id as a hex quantity (geth's rpc.NewID): used for filters and subscriptions. */
export function randomId(): Hex {
  for (;;) {
    const n = BigInt('0x' + randomBytes(16).toString('hex'))
    if (n !== 0n) return toQuantity(n)
  }
}

export interface FilterManagerModules {
  getLogs(filter: LogFilter): Promise<LogJson[]>
  headNumber(): bigint
}

export interface FilterManagerOptions {
  /** Clock in ms; tests inject one to expire filters. */
  now?: () => number
  /** Unpolled filters are removed after this long (geth: 5 minutes). */
  timeoutMs?: number
  /** Most items a filter may hold between polls. */
  maxPending?: number
  /** Most live filters at once. */
  maxFilters?: number
}

export const FILTER_DEFAULTS = {
  timeoutMs: 5 * 60 * 1000,
  maxPending: 10_000,
  maxFilters: 10_000,
} as const

export interface FilterManager {
  newLogFilter(filter: LogFilter): Hex
  newBlockFilter(): Hex
  newPendingTxFilter(): Hex
  /** Items since the previous poll: logs, or block / transaction hashes. */
  getFilterChanges(id: string): LogJson[] | Hex[]
  /** All logs matching a log filter's criteria (eth_getLogs over its range). */
  getFilterLogs(id: string): Promise<LogJson[]>
  uninstallFilter(id: string): boolean
  onHead(ev: HeadEvent): void
  onPendingTx(hash: Uint8Array): void
  /** Removes expired filters now (also done on a timer and on access). */
  prune(): number
  size(): number
  close(): void
}

type Filter =
  | { kind: 'logs'; criteria: LogFilter; openEnded: boolean; items: LogJson[]; lastPoll: number; overflow: boolean }
  | { kind: 'blocks'; items: Hex[]; lastPoll: number; overflow: boolean }
  | { kind: 'pending'; items: Hex[]; lastPoll: number; overflow: boolean }

export function createFilterManager(modules: FilterManagerModules, opts: FilterManagerOptions = {}): FilterManager {
  const now = opts.now ?? Date.now
  const timeoutMs = opts.timeoutMs ?? FILTER_DEFAULTS.timeoutMs
  const maxPending = opts.maxPending ?? FILTER_DEFAULTS.maxPending
  const maxFilters = opts.maxFilters ?? FILTER_DEFAULTS.maxFilters
  const filters = new Map<string, Filter>()

  const expired = (f: Filter) => now() - f.lastPoll >= timeoutMs

  function prune(): number {
    let removed = 0
    for (const [id, f] of filters) {
      if (expired(f)) {
        filters.delete(id)
        removed++
      }
    }
    if (removed > 0) log.debug('Removed expired filters', { count: removed })
    return removed
  }
  // The sweep only frees memory; correctness comes from the check on access.
  const timer = setInterval(prune, Math.max(1000, Math.min(60_000, timeoutMs / 5)))
  timer.unref()

  function install(f: Filter): Hex {
    if (filters.size >= maxFilters) prune()
    if (filters.size >= maxFilters) throw RpcError.limit(`too many filters installed (limit ${maxFilters}): uninstall unused filters with eth_uninstallFilter`)
    const id = randomId()
    filters.set(id, f)
    return id
  }

  /** A live filter, polled now; expired or unknown ids are "filter not found" as in geth. */
  function poll(id: string): Filter {
    const f = filters.get(id)
    if (f === undefined || expired(f)) {
      filters.delete(id)
      throw RpcError.server('filter not found')
    }
    if (f.overflow) {
      filters.delete(id)
      throw RpcError.limit(`filter collected more than ${maxPending} items between polls and was removed: poll more often or narrow the filter, then install it again`)
    }
    f.lastPoll = now()
    return f
  }

  function push<T>(f: { items: T[]; overflow: boolean }, item: T): void {
    if (f.overflow) return
    if (f.items.length >= maxPending) {
      f.overflow = true
      f.items = []
      return
    }
    f.items.push(item)
  }

  return {
    newLogFilter(criteria) {
      // "latest" (or no toBlock) reaches us already resolved to the head number, so an upper
      // bound equal to the head at install time is taken as "latest": the filter follows new
      // blocks. A bound beyond the head was given explicitly and is kept.
      const openEnded = criteria.toBlock === modules.headNumber()
      return install({ kind: 'logs', criteria, openEnded, items: [], lastPoll: now(), overflow: false })
    },
    newBlockFilter() {
      return install({ kind: 'blocks', items: [], lastPoll: now(), overflow: false })
    },
    newPendingTxFilter() {
      return install({ kind: 'pending', items: [], lastPoll: now(), overflow: false })
    },
    getFilterChanges(id) {
      const f = poll(id)
      const items = f.items
      f.items = []
      return items
    },
    async getFilterLogs(id) {
      const f = poll(id)
      if (f.kind !== 'logs') throw RpcError.server('filter not found')
      const c = f.criteria
      return modules.getLogs(f.openEnded && c.blockHash === undefined ? { ...c, toBlock: modules.headNumber() } : c)
    },
    uninstallFilter(id) {
      const f = filters.get(id)
      filters.delete(id)
      return f !== undefined && !expired(f)
    },
    onHead(ev) {
      const { block } = ev
      const number = block.header.number
      let blockHash: Hex | undefined
      for (const f of filters.values()) {
        if (f.kind === 'blocks') {
          blockHash ??= toData(block.hash())
          push(f, blockHash)
        } else if (f.kind === 'logs') {
          const c = f.criteria
          if (c.blockHash !== undefined || number < c.fromBlock || (!f.openEnded && number > c.toBlock)) continue
          let logIndex = 0
          for (const [txIndex, r] of ev.receipts.entries()) {
            for (const raw of r.logs) {
              if (matchLog(raw, c)) push(f, formatLog(raw, { block, txIndex, logIndex }))
              logIndex++
            }
          }
        }
      }
    },
    onPendingTx(hash) {
      let hex: Hex | undefined
      for (const f of filters.values()) {
        if (f.kind !== 'pending') continue
        hex ??= toData(hash)
        push(f, hex)
      }
    },
    prune,
    size: () => filters.size,
    close() {
      clearInterval(timer)
      filters.clear()
    },
  }
}
