import { HttpError, RpcError } from './errors.ts'
import type { MedrecApi, MedrecMethodName } from './medrec.ts'

/** JSON-RPC 2.0 over the UI server's same-origin `/rpc`, with the session's bearer token when there is one. */
export interface Rpc {
  call<T>(method: string, params?: readonly unknown[]): Promise<T>
  /** A `medrec_*` operation (one object parameter), typed by gatekeeper/api.ts. */
  medrec<M extends MedrecMethodName>(method: M, ...params: MedrecApi[M][0] extends undefined ? [] : [MedrecApi[M][0]]): Promise<MedrecApi[M][1]>
}

interface Reply {
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

// bigints travel as 0x quantities, as the node reads them.
const encode = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))

export function createRpc(token: () => string | undefined): Rpc {
  let id = 0
  const call = async <T>(method: string, params: readonly unknown[] = []): Promise<T> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' }
    const t = token()
    if (t !== undefined) headers.authorization = `Bearer ${t}`
    const res = await fetch('/rpc', { method: 'POST', headers, body: encode({ jsonrpc: '2.0', id: ++id, method, params }), credentials: 'omit', cache: 'no-store' })
    const text = await res.text()
    let reply: Reply | undefined
    try {
      reply = JSON.parse(text) as Reply
    } catch {
      reply = undefined
    }
    if (reply?.error !== undefined) throw new RpcError(method, reply.error.code, reply.error.message, reply.error.data)
    if (!res.ok || reply === undefined) {
      const body = (reply ?? {}) as { message?: unknown }
      throw new HttpError(res.status, `HTTP_${res.status}`, typeof body.message === 'string' ? body.message : `${method}: the node answered HTTP ${res.status}`)
    }
    return reply.result as T
  }
  return {
    call,
    medrec: (method, ...params) => call(method, params),
  }
}
