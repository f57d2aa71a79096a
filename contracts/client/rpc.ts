import type { Hex } from 'viem'
import { ClientError, ClientErrorCode } from './errors.ts'

/** JSON-RPC error code of `execution reverted` (geth): `data` carries the revert bytes. */
export const REVERT_RPC_CODE = 3

export interface Rpc {
  /**
   * One JSON-RPC call. Every failure is a ClientError RPC; an error answer keeps its
   * JSON-RPC code and data in the context (`rpcCode`, `rpcData`), see revertDataOf.
   */
  request<T>(method: string, params: readonly unknown[]): Promise<T>
}

interface RpcResponse {
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

const json = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))

export function createRpc(url: string, requestTimeoutMs: number): Rpc {
  let id = 0
  return {
    async request<T>(method: string, params: readonly unknown[]): Promise<T> {
      let body: RpcResponse
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: json({ jsonrpc: '2.0', id: ++id, method, params }),
          signal: AbortSignal.timeout(requestTimeoutMs),
        })
        const text = await res.text()
        try {
          body = JSON.parse(text) as RpcResponse
        } catch {
          throw new ClientError(ClientErrorCode.RPC, `${method}: the node at ${url} answered HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, { method, status: res.status })
        }
      } catch (err) {
        if (err instanceof ClientError) throw err
        throw new ClientError(ClientErrorCode.RPC, `${method}: cannot reach the node at ${url}: ${err instanceof Error ? err.message : String(err)}`, { method }, err)
      }
      if (body === null || typeof body !== 'object') throw new ClientError(ClientErrorCode.RPC, `${method}: malformed JSON-RPC answer from ${url}`, { method })
      if (body.error !== undefined) {
        const { code, message, data } = body.error
        throw new ClientError(ClientErrorCode.RPC, `${method}: ${message} (JSON-RPC error ${code})`, { method, rpcCode: code, rpcData: data })
      }
      return body.result as T
    },
  }
}

/** The revert bytes of an `execution reverted` answer (JSON-RPC code 3 with data), else undefined. */
export function revertDataOf(err: unknown): Hex | undefined {
  if (!(err instanceof ClientError) || err.code !== ClientErrorCode.RPC || err.context?.rpcCode !== REVERT_RPC_CODE) return undefined
  const data = err.context.rpcData
  return typeof data === 'string' && /^0x(?:[0-9a-fA-F]{2})*$/.test(data) ? (data as Hex) : undefined
}
