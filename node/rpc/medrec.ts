import type { IncomingMessage, ServerResponse } from 'node:http'
import { ClientError, isClientError, type Rpc } from '../../contracts/client/index.ts'
import { errorMessage, isCodedError } from '../../common/index.ts'
import type { Gatekeeper } from '../../gatekeeper/index.ts'
import { GatekeeperErrorCode, isGatekeeperError, MEDREC_METHODS, type MedrecMethod } from '../../gatekeeper/index.ts'
import { RpcError } from './errors.ts'
import { medrecParams, type MedrecParams } from './medrec-params.ts'
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
      if (handler === undefined) throw new ClientError('CLIENT_RPC', `${method}: not available in this node`, { method, rpcCode: -32601 })
      try {
        return (await handler(JSON.parse(JSON.stringify(params, bigintSafe)) as unknown[], { transport: 'http' })) as T
      } catch (err) {
        if (err instanceof RpcError) throw new ClientError('CLIENT_RPC', `${method}: ${err.message} (JSON-RPC error ${err.rpcCode})`, { method, rpcCode: err.rpcCode, rpcData: err.data })
        throw new ClientError('CLIENT_RPC', `${method}: ${errorMessage(err)}`, { method }, err)
      }
    },
  }
}

/** Gatekeeper and client failures become JSON-RPC errors whose message says what to do; the code travels in `data`. */
function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err
  if (isGatekeeperError(err)) {
    return err.code === GatekeeperErrorCode.BAD_REQUEST ? RpcError.invalidParams(err.message) : RpcError.server(err.message, { code: err.code })
  }
  if (isClientError(err, 'CLIENT_INVALID_ARGUMENT') || isClientError(err, 'CLIENT_INVALID_QUERY')) return RpcError.invalidParams(err.message)
  if (isClientError(err)) return RpcError.server(err.message, { code: err.code })
  if (isCodedError(err)) return RpcError.server(err.message, { code: err.code })
  return RpcError.internal(errorMessage(err), err)
}

type Handlers = { [M in MedrecMethod]: (p: M extends keyof MedrecParams ? MedrecParams[M] : Record<string, never>) => Promise<unknown> | unknown }

/**
 * The `medrec_*` namespace (gatekeeper/api.ts): the gatekeeper's operations with the node's
 * account. Every call's params pass its declared schema (medrec-params.ts) before the gatekeeper
 * sees them.
 */
export function createMedrecMethods(gk: Gatekeeper): RpcMethods {
  const table: Handlers = {
    medrec_gatekeeperInfo: () => gk.info(),
    medrec_addPatient: (p) => gk.provider.addPatient(p),
    medrec_addRecord: (p) => gk.provider.addRecord(p),
    medrec_update: (p) => gk.provider.update(p),
    medrec_import: (p) => gk.provider.import(p),
    medrec_consentRequests: () => gk.provider.consentRequests(),
    medrec_requireConsent: (p) => gk.provider.requireConsent(p),
    medrec_approve: (p) => gk.provider.approve(p),
    medrec_relationships: () => gk.participant.relationships(),
    medrec_accept: (p) => gk.participant.decide(p.relationship, true),
    medrec_reject: (p) => gk.participant.decide(p.relationship, false),
    medrec_delete: (p) => gk.participant.remove(p.relationship),
    medrec_share: (p) => gk.participant.share(p),
    medrec_revoke: (p) => gk.participant.revoke(p.relationship, p.viewer),
    medrec_fetch: (p) => gk.participant.fetch(p.relationship, p.pointerIds, p.transport),
    medrec_audit: (p) => gk.requester.audit(p.relationship, p.gatekeeper),
    medrec_anchorAudit: (p) => gk.anchorAudit(p.delegate),
    medrec_bounties: () => gk.participant.bounties(),
    medrec_collectBounty: (p) => gk.participant.collectBounty(p.index),
    /** The aggregates collected so far, as stored locally (for `medrec bounty export`). */
    medrec_collectedBounties: () => gk.participant.collectedBounties(),
    medrec_notifications: (p) => gk.notifications.since(p.since ?? 0),
  }
  return Object.fromEntries(
    MEDREC_METHODS.map((method) => {
      // The schema of `method` yields its handler's parameter type; TypeScript cannot correlate the two through the loop.
      const handler = table[method] as (p: Record<string, unknown>) => unknown
      return [
        method,
        async (params: unknown[]): Promise<unknown> => {
          try {
            return await handler(medrecParams(method, params))
          } catch (err) {
            throw toRpcError(err)
          }
        },
      ]
    }),
  )
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
    // Send the headers now: a client (the app's fetch) sees the stream open before the first event.
    res.flushHeaders()
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
