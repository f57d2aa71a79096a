/** The harness's JSON-RPC client: one call over HTTP (fetch keeps sockets alive), and polling. */
import { errorMessage } from '../../common/errors.ts'
import { accessOf, bearer } from '../../node/rpc/access.ts'
import { BenchError, BenchErrorCode } from './errors.ts'

let nextId = 0

/** Node URL → its JWT secret (DIR/jwtsecret), for the protected methods (medrec_*, admin_*, …). */
const secrets = new Map<string, Uint8Array>()

/** Calls to `url` (of protected methods, by default) carry a fresh token signed with `secret` from now on. */
export function useNodeSecret(url: string, secret: Uint8Array): void {
  secrets.set(url, secret)
}

/** Headers that authenticate to a node started here (its HTTP or WS URL), e.g. for a WebSocket or /medrec/events; {} for other URLs. */
export async function authHeaders(url: string): Promise<Record<string, string>> {
  const secret = secrets.get(url.replace(/\/+$/, ''))
  return secret === undefined ? {} : { authorization: await bearer(secret) }
}

export interface RpcCallOptions {
  /**
   * Which calls carry a token (for a node started here): 'protected' (default) only the methods
   * that need one, so the hot path (eth_sendRawTransaction) stays unsigned; true every call;
   * false none (what an unauthenticated caller gets); a string: this Authorization header as is.
   */
  auth?: 'protected' | boolean | string
  /** Extra headers (e.g. Origin or Host), sent as given. */
  headers?: Record<string, string>
}

export interface RpcResponse {
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

/** One JSON-RPC call over HTTP; the whole response object. Throws (RPC) only when the node cannot be reached. */
export async function rpcRaw(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<RpcResponse> {
  const auth = opts.auth ?? 'protected'
  const sign = auth === true || (auth === 'protected' && accessOf(method, params).protected)
  const authorization = typeof auth === 'string' && auth !== 'protected' ? { authorization: auth } : sign ? await authHeaders(url) : {}
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...authorization, ...opts.headers }, body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params }) })
    return (await res.json()) as RpcResponse
  } catch (err) {
    // fetch says only "fetch failed"; the cause's code (ECONNREFUSED: the node is down) says why.
    const code = (err as { cause?: { code?: unknown } }).cause?.code
    throw new BenchError(BenchErrorCode.RPC, `${method} to ${url} failed: ${errorMessage(err)}${typeof code === 'string' ? ` (${code})` : ''}`, undefined, err)
  }
}

/** One JSON-RPC call; an error answer is a BenchError (RPC) with the JSON-RPC code in its context. */
export async function rpc<T>(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<T> {
  const body = await rpcRaw(url, method, params, opts)
  if (body.error !== undefined) throw new BenchError(BenchErrorCode.RPC, `${method} to ${url}: ${body.error.message} (code ${body.error.code})`, { code: body.error.code })
  return body.result as T
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export interface WaitOptions {
  /** Between polls; default 100 ms. */
  everyMs?: number
  /**
   * true (default): an error `fn` throws counts as "not yet" (a node still starting or restarting
   * refuses connections) and the last one is named if the wait times out; false: it ends the wait.
   */
  retryErrors?: boolean
}

/**
 * Polls `fn` until it returns a value (not undefined/null/false), for at most `timeoutMs`
 * (default 20 s); a timeout names `what`. The one poll of the harness, the bench suites and the
 * tests (test/helpers/node-process.ts re-exports it).
 */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000, opts: WaitOptions = {}): Promise<T> {
  const end = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    let v: T | undefined | null | false
    try {
      v = await fn()
    } catch (err) {
      if (opts.retryErrors === false) throw err
      lastError = err
      v = undefined
    }
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > end) {
      const last = lastError === undefined ? '' : ` (last error: ${errorMessage(lastError)})`
      throw new BenchError(BenchErrorCode.TIMEOUT, `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last}`, undefined, lastError)
    }
    await sleep(opts.everyMs ?? 100)
  }
}

export const quantity = (n: number | bigint): string => `0x${n.toString(16)}`
export const toNumber = (q: string): number => Number(BigInt(q))
