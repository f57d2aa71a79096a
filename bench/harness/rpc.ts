/** The harness's JSON-RPC client: one call over HTTP (fetch keeps sockets alive), and polling. */
import { errorMessage } from '../../common/errors.ts'
import { accessOf, bearer } from '../../node/rpc/auth.ts'
import { BenchError, BenchErrorCode } from './errors.ts'

let nextId = 0

/** Node URL → its JWT secret (DIR/jwtsecret), for the protected methods (medrec_*, admin_*, …). */
const secrets = new Map<string, Uint8Array>()

/** Calls to `url` of protected methods carry a fresh token signed with `secret` from now on. */
export function useNodeSecret(url: string, secret: Uint8Array): void {
  secrets.set(url, secret)
}

export async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  let body: { result?: unknown; error?: { code: number; message: string } }
  // Signed only where needed: the hot path (eth_sendRawTransaction) stays as it was.
  const secret = accessOf(method, params).protected ? secrets.get(url) : undefined
  const auth: Record<string, string> = secret === undefined ? {} : { authorization: await bearer(secret) }
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params }) })
    body = (await res.json()) as typeof body
  } catch (err) {
    // fetch says only "fetch failed"; the cause's code (ECONNREFUSED: the node is down) says why.
    const code = (err as { cause?: { code?: unknown } }).cause?.code
    throw new BenchError(BenchErrorCode.RPC, `${method} to ${url} failed: ${errorMessage(err)}${typeof code === 'string' ? ` (${code})` : ''}`, undefined, err)
  }
  if (body.error !== undefined) throw new BenchError(BenchErrorCode.RPC, `${method} to ${url}: ${body.error.message} (code ${body.error.code})`, { code: body.error.code })
  return body.result as T
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `fn` every `everyMs` until it returns a value (not undefined/null/false); a timeout names `what`. */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs: number, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > end) throw new BenchError(BenchErrorCode.TIMEOUT, `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)
    await sleep(everyMs)
  }
}

export const quantity = (n: number | bigint): string => `0x${n.toString(16)}`
export const toNumber = (q: string): number => Number(BigInt(q))
