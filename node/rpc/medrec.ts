import type { IncomingMessage, ServerResponse } from 'node:http'
import { ClientError, isClientError, type Rpc } from '../../contracts/client/index.ts'
import { isCodedError } from '../../common/index.ts'
import type { Gatekeeper } from '../../gatekeeper/index.ts'
import { GatekeeperErrorCode, isGatekeeperError } from '../../gatekeeper/index.ts'
import { RpcError } from './errors.ts'
import type { RpcMethods } from './types.ts'

/**
 * JSON-RPC calls into this node from inside it (the gatekeeper reads chain state and sends its
 * transactions through the same method table as remote callers, without HTTP).
 */
export function createInProcessRpc(methods: RpcMethods): Rpc {
  const bigintSafe = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)
  return {
    async request<T>(method: string, params: readonly unknown[]): Promise<T> {
      const handler = methods[method]
      if (handler === undefined) throw new ClientError('RPC', `${method}: not available in this node`, { method, rpcCode: -32601 })
      try {
        return (await handler(JSON.parse(JSON.stringify(params, bigintSafe)) as unknown[], { transport: 'http' })) as T
      } catch (err) {
        if (err instanceof RpcError) throw new ClientError('RPC', `${method}: ${err.message} (JSON-RPC error ${err.rpcCode})`, { method, rpcCode: err.rpcCode, rpcData: err.data })
        throw new ClientError('RPC', `${method}: ${(err as Error).message}`, { method }, err)
      }
    },
  }
}

function objectParam(params: unknown[], method: string, required: boolean): Record<string, unknown> {
  const p = params[0]
  if (p === undefined && !required) return {}
  if (p === null || typeof p !== 'object' || Array.isArray(p) || params.length > 1) {
    throw RpcError.invalidParams(`invalid argument 0: ${method} takes one object parameter, e.g. ${method === 'medrec_fetch' ? '{"relationship":"0x…"}' : '{…}'}`)
  }
  return p as Record<string, unknown>
}

function str(o: Record<string, unknown>, key: string, required = true): string | undefined {
  const v = o[key]
  if (v === undefined && !required) return undefined
  if (typeof v !== 'string' || v === '') throw RpcError.invalidParams(`invalid argument 0: "${key}" must be a non-empty string`)
  return v
}

function int(o: Record<string, unknown>, key: string, required = true): number | undefined {
  const v = o[key]
  if (v === undefined && !required) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw RpcError.invalidParams(`invalid argument 0: "${key}" must be a non-negative integer`)
  return v
}

/** Gatekeeper and client failures become JSON-RPC errors whose message says what to do; the code travels in `data`. */
function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err
  if (isGatekeeperError(err)) {
    return err.code === GatekeeperErrorCode.BAD_REQUEST ? RpcError.invalidParams(err.message) : RpcError.server(err.message, { code: err.code })
  }
  if (isClientError(err)) return err.code === 'INVALID_ARGUMENT' || err.code === 'INVALID_QUERY' ? RpcError.invalidParams(err.message) : RpcError.server(err.message, { code: err.code })
  if (isCodedError(err)) return RpcError.server(err.message, { code: err.code })
  return RpcError.internal((err as Error).message ?? String(err), err)
}

const wrap =
  (fn: (params: unknown[]) => Promise<unknown> | unknown) =>
  async (params: unknown[]): Promise<unknown> => {
    try {
      return await fn(params)
    } catch (err) {
      throw toRpcError(err)
    }
  }

/** The `medrec_*` namespace (gatekeeper/api.ts): the gatekeeper's operations with the node's account. */
export function createMedrecMethods(gk: Gatekeeper): RpcMethods {
  const table: RpcMethods = {
    medrec_gatekeeperInfo: () => gk.info(),
    medrec_addPatient: (p) => gk.provider.addPatient(objectParam(p, 'medrec_addPatient', true) as never),
    medrec_addRecord: (p) => gk.provider.addRecord(objectParam(p, 'medrec_addRecord', true) as never),
    medrec_update: (p) => gk.provider.update(objectParam(p, 'medrec_update', false) as never),
    medrec_import: (p) => gk.provider.import(objectParam(p, 'medrec_import', true) as never),
    medrec_relationships: () => gk.participant.relationships(),
    medrec_accept: (p) => gk.participant.decide(str(objectParam(p, 'medrec_accept', true), 'relationship')!, true),
    medrec_reject: (p) => gk.participant.decide(str(objectParam(p, 'medrec_reject', true), 'relationship')!, false),
    medrec_share: (p) => gk.participant.share(objectParam(p, 'medrec_share', true) as never),
    medrec_revoke: (p) => {
      const o = objectParam(p, 'medrec_revoke', true)
      return gk.participant.revoke(str(o, 'relationship')!, str(o, 'viewer')!)
    },
    medrec_fetch: (p) => {
      const o = objectParam(p, 'medrec_fetch', true)
      const ids = o.pointerIds
      if (ids !== undefined && (!Array.isArray(ids) || !ids.every((i) => Number.isSafeInteger(i) && (i as number) >= 0))) throw RpcError.invalidParams('invalid argument 0: "pointerIds" must be an array of pointer numbers')
      const transport = str(o, 'transport', false)
      if (transport !== undefined && transport !== 'http' && transport !== 'p2p') throw RpcError.invalidParams('invalid argument 0: "transport" must be "http" or "p2p"')
      return gk.participant.fetch(str(o, 'relationship')!, ids as number[] | undefined, transport)
    },
    medrec_audit: (p) => {
      const o = objectParam(p, 'medrec_audit', false)
      return gk.requester.audit(str(o, 'relationship', false), str(o, 'gatekeeper', false))
    },
    medrec_anchorAudit: () => gk.anchorAudit(),
    medrec_bounties: () => gk.participant.bounties(),
    medrec_collectBounty: (p) => gk.participant.collectBounty(int(objectParam(p, 'medrec_collectBounty', true), 'index')!),
    /** The aggregates collected so far, as stored locally (for `medrec bounty export`). */
    medrec_collectedBounties: () => gk.participant.collectedBounties(),
    medrec_notifications: (p) => gk.notifications.since(int(objectParam(p, 'medrec_notifications', false), 'since', false) ?? 0),
  }
  return Object.fromEntries(Object.entries(table).map(([k, fn]) => [k, wrap(fn as (params: unknown[]) => unknown)]))
}

/**
 * GET /medrec/events: the watch service's notifications as server-sent events. Replays what the
 * client missed (`Last-Event-ID` or `?since=`), then streams; a comment every 15 s keeps proxies open.
 */
export function notificationEvents(gk: Gatekeeper): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://node')
    const since = Number(req.headers['last-event-id'] ?? url.searchParams.get('since') ?? 0)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    const write = (n: { id: number }) => res.write(`id: ${n.id}\nevent: notification\ndata: ${JSON.stringify(n)}\n\n`)
    for (const n of gk.notifications.since(Number.isSafeInteger(since) && since > 0 ? since : 0)) write(n)
    const unsubscribe = gk.subscribe(write)
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
    req.on('close', () => {
      clearInterval(keepAlive)
      unsubscribe()
    })
  }
}
