import type { RpcErrorJson } from './errors.ts'

/** One WebSocket client, as handlers and the subscription hub see it. */
export interface WsConnection {
  /** Process-unique, for logs. */
  readonly id: number
  readonly closed: boolean
  /**
   * Queues one text frame. Returns false when the connection is gone, or when this frame
   * would push its send queue over the limit: the slow consumer is then dropped.
   */
  send(text: string): boolean
  /** Runs `fn` once when the connection closes (immediately if it already has). */
  onClose(fn: () => void): void
  close(code?: number, reason?: string): void
}

export interface RpcContext {
  transport: 'http' | 'ws'
  /** Set on WebSocket only: the connection subscriptions belong to. */
  connection?: WsConnection
  /** The caller sent a valid bearer token (HTTP: with this request; WebSocket: with its upgrade). Unset: not authenticated. */
  authenticated?: boolean
  /** Why a token that was sent is not valid, for the protected calls' answers. */
  authError?: Error
}

export type RpcHandler = (params: unknown[], ctx: RpcContext) => unknown | Promise<unknown>
export type RpcMethods = Record<string, RpcHandler>

export type RpcId = string | number | null

export interface RpcSuccess {
  jsonrpc: '2.0'
  id: RpcId
  result: unknown
}
export interface RpcFailure {
  jsonrpc: '2.0'
  id: RpcId
  error: RpcErrorJson
}
export type RpcResponse = RpcSuccess | RpcFailure

/** Server tuning beyond RpcConfig; every field has a default (see server.ts). */
export interface RpcServerTuning {
  /** Longest a single call may run before it is answered with -32002 (geth: 30 s). */
  callTimeoutMs: number
  /** Longest a client may take to send a full HTTP request. */
  requestTimeoutMs: number
  /** WebSocket ping interval; a client that missed the previous pong is dropped. */
  wsPingIntervalMs: number
  /** Bytes a WebSocket client may leave unread before it is dropped. */
  wsMaxQueueBytes: number
}
