/**
 * eth_subscribe over WebSocket: newHeads, logs, newPendingTransactions (hashes, or with `true`
 * the transactions as eth_getTransactionByHash has them), syncing, and (with --gatekeeper)
 * medrecNotifications, the watch service's notifications. Notifications are
 * serialized once per event and written to each subscriber's connection; a connection that
 * cannot keep up is dropped by its send queue (WsConnection.send), never buffered without end.
 */
import { createLogger, toData, type Hex } from '../../common/index.ts'
import type { HeadEvent } from '../chain/index.ts'
import { RpcError, RpcErrorCode } from './errors.ts'
import { matchLog, randomId, type LogFilter } from './filters.ts'
import { formatHeader, formatLog } from './format.ts'
import type { WsConnection } from './types.ts'
import * as v from './validate.ts'

const log = createLogger('rpc')

export const SUBSCRIPTION_KINDS = ['newHeads', 'logs', 'newPendingTransactions', 'syncing', 'medrecNotifications'] as const
export type SubscriptionKind = (typeof SUBSCRIPTION_KINDS)[number]

export interface SubscriptionHubOptions {
  /** Most subscriptions one connection may hold. */
  maxPerConnection?: number
  /** Notifications held for a subscription whose id has not been sent yet. */
  maxHeld?: number
  /** A pending transaction as eth_getTransactionByHash has it, for `newPendingTransactions` with `true`; undefined once gone. */
  pendingTx?: (hash: Uint8Array) => unknown
  /** eth_syncing's progress, for the `syncing` subscription (absent: never syncing). */
  syncing?: () => SyncStatus | false
  /** How often the `syncing` subscription looks at the progress (default 1 s). */
  syncPollMs?: number
}

/** The block heights of a sync in progress. */
export interface SyncStatus {
  startingBlock: bigint
  currentBlock: bigint
  highestBlock: bigint
}

/** geth: while a sync runs, its `syncing` subscribers hear the progress again every 60 s. */
export const SYNC_REPEAT_MS = 60_000

export interface SubscriptionHub {
  /**
   * eth_subscribe params `[kind, options?]`. The subscription starts held: notifications wait
   * until `activate()`, which the server calls once the reply carrying the id is written, so a
   * client never sees a notification for an id it does not know yet.
   */
  subscribe(conn: WsConnection, params: unknown[]): { id: Hex; activate(): void }
  /** True when `id` was a live subscription of this connection. */
  unsubscribe(conn: WsConnection, id: string): boolean
  publishHead(ev: HeadEvent): void
  publishPendingTx(hash: Uint8Array): void
  /** A gatekeeper notification (any JSON value) to medrecNotifications subscribers. */
  publishNotification(notification: unknown): void
  /** Live subscriptions, across connections. */
  size(): number
}

interface Sub {
  id: Hex
  kind: SubscriptionKind
  criteria: Pick<LogFilter, 'addresses' | 'topics'> | undefined
  /** newPendingTransactions: whole transactions instead of hashes. */
  full?: boolean
  /** Notifications waiting for activation; undefined once active. */
  held: string[] | undefined
}

function isKind(s: unknown): s is SubscriptionKind {
  return typeof s === 'string' && (SUBSCRIPTION_KINDS as readonly string[]).includes(s)
}

/** The notification frame, built by splicing the already-serialized result. */
function frame(id: string, resultJson: string): string {
  return `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"${id}","result":${resultJson}}}`
}

export function createSubscriptionHub(opts: SubscriptionHubOptions = {}): SubscriptionHub {
  const maxPerConnection = opts.maxPerConnection ?? 1000
  const maxHeld = opts.maxHeld ?? 10_000
  const byConn = new Map<WsConnection, Map<string, Sub>>()
  const syncPollMs = opts.syncPollMs ?? 1000
  /** The last sync state announced, and when; the poll runs only while a syncing subscription lives. */
  let lastSync: { syncing: boolean; atMs: number } = { syncing: false, atMs: 0 }
  let syncTimer: NodeJS.Timeout | undefined

  /** geth's syncing notification: `{syncing: true, status}` with plain numbers (geth's docs), `false` when done. */
  function syncJson(s: SyncStatus): string {
    const status = { startingBlock: Number(s.startingBlock), currentBlock: Number(s.currentBlock), highestBlock: Number(s.highestBlock), pulledStates: 0, knownStates: 0 }
    return JSON.stringify({ syncing: true, status })
  }

  function pollSync(): void {
    if (all('syncing').next().done === true) {
      clearInterval(syncTimer)
      syncTimer = undefined
      return
    }
    const s = opts.syncing?.() ?? false
    const now = Date.now()
    // A change is announced at once; an unchanged sync every SYNC_REPEAT_MS, as geth.
    if (s === false ? !lastSync.syncing : lastSync.syncing && now - lastSync.atMs < SYNC_REPEAT_MS) return
    lastSync = { syncing: s !== false, atMs: now }
    const json = s === false ? 'false' : syncJson(s)
    for (const [conn, sub] of all('syncing')) deliver(conn, sub, frame(sub.id, json))
  }

  function watchSync(conn: WsConnection, sub: Sub): void {
    // A sync already running is announced to the new subscriber at once.
    const s = opts.syncing?.() ?? false
    if (s !== false) deliver(conn, sub, frame(sub.id, syncJson(s)))
    if (syncTimer === undefined) {
      lastSync = { syncing: s !== false, atMs: Date.now() }
      syncTimer = setInterval(pollSync, syncPollMs)
      syncTimer.unref()
    }
  }

  function subsOf(conn: WsConnection): Map<string, Sub> {
    let subs = byConn.get(conn)
    if (subs === undefined) {
      subs = new Map()
      byConn.set(conn, subs)
      // Subscriptions die with their connection.
      conn.onClose(() => byConn.delete(conn))
    }
    return subs
  }

  function deliver(conn: WsConnection, sub: Sub, text: string): void {
    if (sub.held === undefined) {
      conn.send(text)
      return
    }
    sub.held.push(text)
    if (sub.held.length > maxHeld) {
      log.warn('Dropping WebSocket client: subscription backlog before activation', { conn: conn.id, sub: sub.id })
      conn.close(1008, 'subscription backlog too large')
    }
  }

  function* all(kind: SubscriptionKind): Generator<[WsConnection, Sub]> {
    for (const [conn, subs] of byConn) {
      if (conn.closed) continue
      for (const sub of subs.values()) if (sub.kind === kind) yield [conn, sub]
    }
  }

  return {
    subscribe(conn, params) {
      if (conn.closed) throw RpcError.server('connection closed')
      const kind = params[0]
      if (typeof kind !== 'string') throw RpcError.invalidParams(`invalid argument 0: expected a subscription name (${SUBSCRIPTION_KINDS.join(', ')})`)
      if (!isKind(kind)) throw new RpcError(RpcErrorCode.METHOD_NOT_FOUND, `no "${kind}" subscription in eth namespace`)
      let criteria: Sub['criteria']
      let full = false
      if (kind === 'logs') {
        v.params(params, 1, 2)
        const f = params[1] === undefined || params[1] === null ? { addresses: [], topics: [] } : v.filterObject(params[1], 1)
        criteria = { addresses: f.addresses, topics: f.topics }
      } else if (kind === 'newPendingTransactions') {
        v.params(params, 1, 2)
        full = params[1] !== undefined && params[1] !== null && v.bool(params[1], 1)
      } else {
        v.params(params, 1, 1)
      }
      const subs = subsOf(conn)
      if (subs.size >= maxPerConnection) throw RpcError.limit(`too many subscriptions on this connection (limit ${maxPerConnection}): unsubscribe unused ones`)
      const sub: Sub = { id: randomId(), kind, criteria, full, held: [] }
      subs.set(sub.id, sub)
      if (kind === 'syncing') watchSync(conn, sub)
      return {
        id: sub.id,
        activate() {
          const held = sub.held
          if (held === undefined) return
          sub.held = undefined
          for (const text of held) if (!conn.send(text)) break
        },
      }
    },

    unsubscribe(conn, id) {
      const subs = byConn.get(conn)
      return subs?.delete(id.toLowerCase()) ?? false
    },

    publishHead(ev) {
      let headerJson: string | undefined
      for (const [conn, sub] of all('newHeads')) {
        headerJson ??= JSON.stringify(formatHeader(ev.block.header))
        deliver(conn, sub, frame(sub.id, headerJson))
      }
      let logs: Array<{ raw: HeadEvent['receipts'][number]['logs'][number]; json: string }> | undefined
      for (const [conn, sub] of all('logs')) {
        if (logs === undefined) {
          logs = []
          let logIndex = 0
          for (const [txIndex, r] of ev.receipts.entries()) {
            for (const raw of r.logs) logs.push({ raw, json: JSON.stringify(formatLog(raw, { block: ev.block, txIndex, logIndex: logIndex++ })) })
          }
        }
        for (const l of logs) if (matchLog(l.raw, sub.criteria!)) deliver(conn, sub, frame(sub.id, l.json))
      }
    },

    publishPendingTx(hash) {
      let json: string | undefined
      let fullJson: string | null | undefined
      for (const [conn, sub] of all('newPendingTransactions')) {
        if (sub.full) {
          // Gone already (mined or replaced in the same turn): nothing to show in full.
          if (fullJson === undefined) {
            const tx = opts.pendingTx?.(hash)
            fullJson = tx === undefined ? null : JSON.stringify(tx)
          }
          if (fullJson !== null) deliver(conn, sub, frame(sub.id, fullJson))
          continue
        }
        json ??= JSON.stringify(toData(hash))
        deliver(conn, sub, frame(sub.id, json))
      }
    },

    publishNotification(notification) {
      let json: string | undefined
      for (const [conn, sub] of all('medrecNotifications')) {
        json ??= JSON.stringify(notification)
        deliver(conn, sub, frame(sub.id, json))
      }
    },

    size() {
      let n = 0
      for (const subs of byConn.values()) n += subs.size
      return n
    },
  }
}
