/**
 * The MedRec app's own origin (`medrec start --ui`): the built app, the sign-in exchange, and the
 * node's JSON-RPC, notifications and key figures for a signed-in page. Checks, in this order:
 * Host in --ui.vhosts (a DNS-rebound name is refused before anything else), an Origin header
 * only if it is this origin's own, for the API routes no Sec-Fetch-Site of another site (another
 * port of 127.0.0.1 is same-site, not same-origin), JSON bodies only, then the session token.
 * Sessions are bearer tokens the app keeps in sessionStorage, never cookies: a browser attaches a
 * cookie to requests from other ports of the same host (SameSite does not separate ports), a
 * header it never attaches by itself.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createLogger, errorMessage } from '../../common/index.ts'
import { NodeError, NodeErrorCode, type UiConfig } from '../config/index.ts'
import { createRpcDispatcher, hostAllowed, RpcError, type RpcMethods, type RpcServerModules } from '../rpc/index.ts'
import { isUiError } from './errors.ts'
import { SECURITY_HEADERS } from './headers.ts'
import type { MetricsSampler } from './metrics-sampler.ts'
import { parseRelayBody, RELAY_BODY_BYTES, RELAY_BURST, RELAY_REFILL_MS, type GatekeeperRelay } from './relay.ts'
import { createSessions, type Session } from './session.ts'
import { SIGNIN_HOWTO, verifySigninCode } from './signin.ts'
import { DEFAULT_ASSETS_DIR, staticFiles } from './static.ts'

const log = createLogger('ui')

/** The namespaces the app uses: what /rpc serves (with --dev, also what the RPC port serves). */
export const UI_APIS: readonly string[] = ['eth', 'net', 'web3', 'txpool', 'clique', 'miner', 'admin', 'medrec']

/** Which screens make sense for this node (the app may show all anyway). */
export type UiRole = 'provider' | 'patient' | 'operator' | 'researcher'

export interface UiIdentity {
  /** The node's own account (the gatekeeper's, else the authority's); null when it has none. */
  account: string | null
  chainId: number
  roles: UiRole[]
}

export interface UiServerOptions extends UiConfig {
  /** The node's JWT secret: sign-in codes are signed with it. Absent: nobody can sign in. */
  jwtSecret: Uint8Array | undefined
  /** Namespaces /rpc serves (the protected methods among them still need a session). */
  apis: string[]
  /** Largest /rpc body (the RPC's --rpc limits). */
  maxRequestBytes: number
  batchRequestLimit: number
  batchResponseMaxSize: number
  /** Refused sign-in attempts at once, and one more every `signinRefillMs` (default 20, 2 s). */
  signinBurst?: number
  signinRefillMs?: number
}

export interface UiServerModules extends Pick<RpcServerModules, 'subscriptions'> {
  /** The node's method table (the same one the RPC port dispatches into). */
  methods: RpcMethods
  /** GET /medrec/events when a gatekeeper runs (node/rpc's notificationEvents). */
  events?: (req: IncomingMessage, res: ServerResponse) => void
  identity(): Promise<UiIdentity> | UiIdentity
  metrics: MetricsSampler
  /** POST /api/gatekeeper (relay.ts) when a gatekeeper runs; throws coded errors carrying `httpStatus`. */
  relay?: GatekeeperRelay
}

export interface UiServer {
  /** Resolves with the UI's URL (`http://127.0.0.1:8550/`). */
  listen(): Promise<{ url: string; port: number }>
  close(): Promise<void>
}

/** Body limit of POST /api/session (a code is a few hundred bytes). */
const SESSION_BODY_BYTES = 4096

type Json = Record<string, unknown>

export function createUiServer(opts: UiServerOptions, modules: UiServerModules): UiServer {
  const assets = staticFiles(opts.assetsDir ?? DEFAULT_ASSETS_DIR)
  const sessions = createSessions()
  const dispatcher = createRpcDispatcher(opts, modules)
  /** Codes made before this moment are refused: one used before a restart stays used. */
  const startedS = Math.floor(Date.now() / 1000)
  const signinLimit = bucket(opts.signinBurst ?? 20, opts.signinRefillMs ?? 2000)
  const relayLimit = bucket(RELAY_BURST, RELAY_REFILL_MS)
  /** Open event streams, ended at close. */
  const streams = new Set<ServerResponse>()
  let closing: Promise<void> | undefined

  // ---- answers ----

  function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Cache-Control': 'no-store', ...headers })
    res.end(body)
  }
  function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    send(res, status, 'application/json', JSON.stringify(body), headers)
  }
  /** A refusal: `{error, message}`, the message naming the fix. */
  function refuse(res: ServerResponse, status: number, error: string, message: string, headers: Record<string, string> = {}): void {
    // What was refused and why, never a body, code or token (--log.level debug: why does my browser or proxy get 403?).
    if (log.enabled('debug')) log.debug('UI refused a request', { status, error, method: res.req.method, path: (res.req.url ?? '').split('?')[0] })
    json(res, status, { error, message }, headers)
  }

  /** Reads a JSON body up to `limit` bytes; answers 415/413/400 itself and resolves undefined then. */
  function readJson(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string | undefined> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    // A cross-origin "simple" POST (text/plain, forms, no type) is never read.
    if (type !== 'application/json') {
      refuse(res, 415, 'UNSUPPORTED_MEDIA_TYPE', `only application/json bodies are accepted, not ${JSON.stringify(req.headers['content-type'] ?? '(none)')}: send Content-Type: application/json`, { Connection: 'close' })
      return Promise.resolve(undefined)
    }
    const tooLarge = () => {
      refuse(res, 413, 'TOO_LARGE', `request body too large: limit ${limit} bytes`, { Connection: 'close' })
      res.on('finish', () => req.socket.destroySoon())
    }
    if (Number(req.headers['content-length']) > limit) {
      tooLarge()
      return Promise.resolve(undefined)
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = []
      let size = 0
      let done = false
      req.on('data', (chunk: Buffer) => {
        if (done) return
        size += chunk.length
        if (size > limit) {
          done = true
          chunks.length = 0
          tooLarge()
          resolve(undefined)
          return
        }
        chunks.push(chunk)
      })
      req.on('error', () => {
        if (!done) (done = true), resolve(undefined)
      })
      req.on('end', () => {
        if (!done) (done = true), resolve(Buffer.concat(chunks).toString('utf8'))
      })
    })
  }

  const session = (req: IncomingMessage): Session | undefined => sessions.get(req.headers.authorization)
  const notSignedIn = (res: ServerResponse): void =>
    refuse(res, 401, 'UNAUTHORIZED', `not signed in, or the session ended: sign in again (${SIGNIN_HOWTO})`, { 'WWW-Authenticate': 'Bearer' })

  // ---- routes ----

  async function sessionInfo(s: Session): Promise<Json> {
    const id = await modules.identity()
    return { expires: s.expires, account: id.account, chainId: id.chainId, roles: id.roles }
  }

  async function postSession(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only refusals spend the budget: a person signing in with fresh links is never held up.
    const wait = signinLimit.wait()
    if (wait > 0) return refuse(res, 429, 'RATE_LIMITED', `too many refused sign-in attempts: wait ${wait} s`, { 'Retry-After': String(wait) })
    res.once('finish', () => {
      if (res.statusCode !== 200) signinLimit.take()
    })
    const text = await readJson(req, res, SESSION_BODY_BYTES)
    if (text === undefined) return
    let code: unknown
    try {
      code = (JSON.parse(text) as Json | null)?.code
    } catch {
      code = undefined
    }
    if (typeof code !== 'string' || code === '') return refuse(res, 400, 'BAD_REQUEST', 'expected {"code": "<the code from the sign-in link>"}')
    if (opts.jwtSecret === undefined) return refuse(res, 401, 'UI_BAD_CODE', 'this node has no JWT secret, so no sign-in code can be valid: restart it (it makes DIR/jwtsecret at start)')
    try {
      const claims = await verifySigninCode(code, opts.jwtSecret, { notBeforeS: startedS })
      const { token, session: s } = sessions.open(claims)
      log.info('UI signed in', { expires: new Date(s.expires).toISOString() })
      json(res, 200, { token, ...(await sessionInfo(s)) })
    } catch (err) {
      if (!isUiError(err)) throw err
      refuse(res, 401, err.code, err.message)
    }
  }

  async function postRpc(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readJson(req, res, opts.maxRequestBytes)
    if (text === undefined) return
    const authenticated = session(req) !== undefined
    const authError = authenticated ? undefined : RpcError.unauthorized(`this method needs a signed-in session: sign in to the UI (${SIGNIN_HOWTO})`)
    const reply = await dispatcher.handleMessage(text, { transport: 'http', authenticated, authError }, [])
    send(res, 200, 'application/json', reply ?? '')
  }

  async function postRelay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (modules.relay === undefined) return refuse(res, 404, 'NOT_FOUND', 'no gatekeeper runs on this node, so it cannot relay requests: start it with --gatekeeper')
    const wait = relayLimit.wait()
    if (wait > 0) return refuse(res, 429, 'RATE_LIMITED', `too many gatekeeper requests through this node: wait ${wait} s`, { 'Retry-After': String(wait) })
    relayLimit.take()
    const text = await readJson(req, res, RELAY_BODY_BYTES)
    if (text === undefined) return
    const body = parseRelayBody(text)
    if (!body.ok) return refuse(res, 400, 'BAD_REQUEST', body.message)
    try {
      const { reply } = await modules.relay(body.relationship, body.request)
      send(res, 200, 'application/json', reply)
    } catch (err) {
      const coded = err as { code?: unknown; httpStatus?: unknown }
      if (typeof coded.code !== 'string' || typeof coded.httpStatus !== 'number') throw err
      refuse(res, coded.httpStatus, coded.code, errorMessage(err))
    }
  }

  function events(req: IncomingMessage, res: ServerResponse): void {
    if (session(req) === undefined) return notSignedIn(res)
    if (modules.events === undefined) return refuse(res, 404, 'NOT_FOUND', 'no gatekeeper runs on this node, so it has no notifications: start it with --gatekeeper')
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v)
    streams.add(res)
    res.once('close', () => streams.delete(res))
    modules.events(req, res)
  }

  async function serveStatic(path: string, res: ServerResponse): Promise<void> {
    const file = await assets.lookup(path)
    if (file === undefined) {
      if (path === '/' || path === '/index.html') return send(res, 503, 'text/plain; charset=utf-8', 'the app is not built: run `npm install` (or `node ui/build.ts`) in the medrec-node checkout, then reload\n')
      return send(res, 404, 'text/plain; charset=utf-8', `not found: ${path}\n`)
    }
    const body = await assets.read(file)
    // The page must never come from a cache (it is what decides which scripts run); assets are revalidated.
    send(res, 200, file.type, body, { 'Cache-Control': file.type.startsWith('text/html') ? 'no-store' : 'no-cache' })
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host
    // First: a page on a rebound DNS name reaches us as same-origin; only its Host gives it away.
    if (!hostAllowed(host, opts.vhosts)) {
      return refuse(res, 403, 'FORBIDDEN_HOST', `invalid host ${host === undefined ? '(none)' : JSON.stringify(host)}: not in --ui.vhosts (${opts.vhosts.join(',')}); if you reach the UI under that name, start the node with --ui.vhosts ${[...opts.vhosts, host ?? 'NAME'].join(',')}`)
    }
    // Browsers send Origin on every cross-origin request and on same-origin ones but GET/HEAD; only our own passes.
    const origin = req.headers.origin
    if (origin !== undefined && origin.toLowerCase() !== `http://${host!.toLowerCase()}`) {
      return refuse(res, 403, 'FORBIDDEN_ORIGIN', `requests from ${origin} are refused: the MedRec app is served only to its own origin (http://${host})`)
    }
    const path = (req.url ?? '/').split('?')[0]!
    const method = req.method ?? 'GET'
    const api = path === '/rpc' || path.startsWith('/api/') || path === '/medrec/events'
    if (api) {
      // Another port of this host is same-site, not same-origin: neither may use the API.
      const site = req.headers['sec-fetch-site']
      if (site === 'cross-site' || site === 'same-site') return refuse(res, 403, 'FORBIDDEN_SITE', `a ${site} request cannot use the MedRec app's API: open the app itself`)
    }
    if (path === '/api/session') {
      if (method === 'POST') return postSession(req, res)
      if (method === 'GET') {
        const s = session(req)
        return s === undefined ? notSignedIn(res) : json(res, 200, await sessionInfo(s))
      }
      if (method === 'DELETE') {
        if (!sessions.close(req.headers.authorization)) return notSignedIn(res)
        res.writeHead(204, { ...SECURITY_HEADERS, 'Cache-Control': 'no-store' })
        return void res.end()
      }
      return refuse(res, 405, 'METHOD_NOT_ALLOWED', '/api/session takes POST (sign in), GET (the session) and DELETE (sign out)', { Allow: 'POST, GET, DELETE' })
    }
    if (path === '/rpc') {
      if (method !== 'POST') return refuse(res, 405, 'METHOD_NOT_ALLOWED', 'JSON-RPC 2.0 requests go to POST /rpc with a JSON body', { Allow: 'POST' })
      return postRpc(req, res)
    }
    if (path === '/api/gatekeeper') {
      if (method !== 'POST') return refuse(res, 405, 'METHOD_NOT_ALLOWED', '/api/gatekeeper takes POST {relationship, request}', { Allow: 'POST' })
      return postRelay(req, res)
    }
    if (path === '/medrec/events' && method === 'GET') return events(req, res)
    if (path === '/api/metrics' && method === 'GET') {
      if (session(req) === undefined) return notSignedIn(res)
      return json(res, 200, modules.metrics.snapshot())
    }
    if (api) return refuse(res, 404, 'NOT_FOUND', `no ${method} ${path}: the API is POST /rpc, /api/session, /api/gatekeeper, GET /api/metrics and GET /medrec/events`)
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' })
    return serveStatic(path, res)
  }

  const http = createServer({ requestTimeout: 30_000, headersTimeout: 30_000, keepAliveTimeout: 120_000 }, (req, res) => {
    if (closing !== undefined) return send(res, 503, 'text/plain; charset=utf-8', 'the node is shutting down\n', { Connection: 'close' })
    route(req, res).catch((err: unknown) => {
      log.error('UI request failed', { path: (req.url ?? '').split('?')[0] }, err)
      if (!res.headersSent) refuse(res, 500, 'INTERNAL', `internal error: ${errorMessage(err)}`)
      else res.end()
    })
  })
  // No WebSocket on this origin: the app uses /rpc and /medrec/events.
  http.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'))

  return {
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error & { code?: string }) => {
          const code = err.code === 'EADDRINUSE' ? NodeErrorCode.UI_PORT_IN_USE : NodeErrorCode.UI_LISTEN_FAILED
          const why = err.code === 'EADDRINUSE' ? 'is already in use: stop the other process or pass --ui.port' : `cannot be listened on: ${errorMessage(err)}`
          reject(new NodeError(code, `UI port ${opts.addr}:${opts.port} ${why}`, undefined, err))
        }
        http.once('error', onError)
        http.listen(opts.port, opts.addr, () => {
          http.off('error', onError)
          http.on('error', (err) => log.error('UI server error', {}, err))
          const { address, port } = http.address() as AddressInfo
          const host = address.includes(':') ? `[${address}]` : address
          resolve({ url: `http://${host}:${port}/`, port })
        })
      })
    },
    close() {
      closing ??= (async () => {
        const closed = http.listening ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve()
        for (const res of streams) res.end(() => res.socket?.destroy())
        http.closeIdleConnections()
        const force = setTimeout(() => http.closeAllConnections(), 1000)
        await closed
        clearTimeout(force)
      })()
      return closing
    },
  }
}

/** One token bucket: `burst` at once, one more every `refillMs`. */
function bucket(burst: number, refillMs: number): { wait(): number; take(): void } {
  let tokens = burst
  let at = performance.now()
  const refill = (): void => {
    const now = performance.now()
    tokens = Math.min(burst, tokens + (now - at) / refillMs)
    at = now
  }
  return {
    /** 0 when a token is there, else whole seconds until one is (for Retry-After). */
    wait() {
      refill()
      return tokens >= 1 ? 0 : Math.max(1, Math.ceil(((1 - tokens) * refillMs) / 1000))
    },
    take() {
      refill()
      tokens = Math.max(0, tokens - 1)
    },
  }
}
