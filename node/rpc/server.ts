/**
 * JSON-RPC 2.0 over HTTP (POST /) and WebSocket (upgrade on the same port). Transport only:
 * framing, batches, limits, CORS, timeouts and error mapping; methods come from the table and
 * eth_subscribe/eth_unsubscribe from the SubscriptionHub. Access (auth.ts) is enforced here, in
 * this order: Host (--rpc.vhosts), browser Origin for WebSocket (--ws.origins), JSON content type
 * (no cross-origin "simple" POST), namespace (--rpc.api), bearer token for protected methods.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import { createLogger, errorMessage, toData, toQuantity } from '../../common/index.ts'
import { EvmErrorCode, isEvmError } from '../../evm/index.ts'
import type { RpcConfig } from '../config/index.ts'
import { accessOf, accessOfRoute, hostAllowed, missingToken, originAllowed as wsOriginAllowed, verifyAuthorization } from './auth.ts'
import { RpcError } from './errors.ts'
import type { SubscriptionHub } from './subscriptions.ts'
import type { RpcContext, RpcId, RpcMethods, RpcServerTuning, WsConnection } from './types.ts'
import * as v from './validate.ts'

const log = createLogger('rpc')

export const SERVER_DEFAULTS: RpcServerTuning = {
  callTimeoutMs: 30_000,
  requestTimeoutMs: 30_000,
  wsPingIntervalMs: 30_000,
  wsMaxQueueBytes: 16 * 1024 * 1024,
}

export interface RpcServerModules {
  methods: RpcMethods
  subscriptions: SubscriptionHub
  /** Extra GET routes on the same port (e.g. `/medrec/events`, server-sent events). */
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => void>
}

export interface RpcServer {
  listen(): Promise<{ url: string; wsUrl: string; port: number }>
  close(): Promise<void>
}

/**
 * Last line of defence: handlers return formatted JSON values, but a stray bigint would make
 * JSON.stringify throw and a Uint8Array would become an object of indices.
 */
function safeReplacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key]
  if (typeof raw === 'bigint') return raw < 0n ? `-${toQuantity(-raw)}` : toQuantity(raw)
  if (raw instanceof Uint8Array) return toData(raw)
  return value
}
export function stringifyResponse(value: unknown): string {
  return JSON.stringify(value, safeReplacer)
}

function errorFrame(id: RpcId, err: RpcError): string {
  return stringifyResponse({ jsonrpc: '2.0', id, error: err.toJSON() })
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function validId(id: unknown): id is RpcId {
  return id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))
}

/** What dispatching needs of the RPC settings: namespaces, the token secret, batch limits. */
export type RpcDispatchConfig = Pick<RpcConfig, 'apis' | 'jwtSecret' | 'batchRequestLimit' | 'batchResponseMaxSize'>

export interface RpcDispatcher {
  /** The verdict on an Authorization header (a JWT bearer token), for a request's context. */
  authenticate(header: string | undefined): Promise<Pick<RpcContext, 'authenticated' | 'authError'>>
  /** A whole message (HTTP body or WS frame) → the reply text, or undefined when none is due. `after` collects work to do once the reply is written. */
  handleMessage(text: string, ctx: RpcContext, after: Array<() => void>): Promise<string | undefined>
}

/**
 * Calls into the method table under the access rules (namespaces, the protected methods), single
 * and batch. This file's transport and the UI server's /rpc (node/ui) both dispatch through it,
 * each with its own namespaces and its own way of setting `ctx.authenticated`.
 */
export function createRpcDispatcher(opts: RpcDispatchConfig, modules: Pick<RpcServerModules, 'methods' | 'subscriptions'>, callTimeoutMs: number = SERVER_DEFAULTS.callTimeoutMs): RpcDispatcher {
  const { methods, subscriptions } = modules
  const apis = new Set(opts.apis)
  const tuning = { callTimeoutMs }

  /** The verdict on an Authorization header, checked once per HTTP request or WebSocket upgrade. */
  async function authenticate(header: string | undefined): Promise<Pick<RpcContext, 'authenticated' | 'authError'>> {
    // Most calls carry no token and need none: their refusal is made only if a protected call comes.
    if (header === undefined) return { authenticated: false }
    try {
      await verifyAuthorization(header, opts.jwtSecret)
      return { authenticated: true }
    } catch (err) {
      return { authenticated: false, authError: err as Error }
    }
  }

  // ---- dispatch (shared by both transports) ----

  /** Runs one call. `after` collects work to do once the reply is written (subscription activation). */
  async function call(method: string, params: unknown[], ctx: RpcContext, after: Array<() => void>): Promise<unknown> {
    const subscription = method === 'eth_subscribe' || method === 'eth_unsubscribe'
    if (!subscription && !Object.hasOwn(methods, method)) throw RpcError.methodNotFound(method)
    const access = accessOf(method, params)
    if (!apis.has(access.namespace)) throw RpcError.namespaceDisabled(method, access.namespace, opts.apis)
    if (access.protected && ctx.authenticated !== true) throw ctx.authError ?? missingToken(opts.jwtSecret)
    if (subscription) {
      const conn = ctx.connection
      if (ctx.transport !== 'ws' || conn === undefined) throw RpcError.notificationsNotSupported()
      if (method === 'eth_unsubscribe') {
        v.params(params, 1, 1)
        return subscriptions.unsubscribe(conn, v.filterId(params[0], 0))
      }
      const sub = subscriptions.subscribe(conn, params)
      after.push(sub.activate)
      return sub.id
    }
    const handler = methods[method]!
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        Promise.resolve().then(() => handler(params, ctx)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(RpcError.timeout()), tuning.callTimeoutMs)
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * One request object → its serialized response, or undefined for a notification. `payload`
   * gets the bytes of the reply's result or error member (what a batch's size limit counts).
   */
  async function handleItem(item: unknown, ctx: RpcContext, after: Array<() => void>, payload?: { bytes: number }): Promise<string | undefined> {
    if (!isRecord(item)) return errorFrame(null, RpcError.invalidRequest(`expected a request object, got ${Array.isArray(item) ? 'array' : item === null ? 'null' : typeof item}`))
    const hasId = Object.hasOwn(item, 'id')
    if (hasId && !validId(item.id)) return errorFrame(null, RpcError.invalidRequest('id must be a string, a number or null'))
    const id: RpcId = hasId ? (item.id as RpcId) : null
    if (item.jsonrpc !== '2.0') return errorFrame(id, RpcError.invalidRequest('jsonrpc must be "2.0"'))
    if (typeof item.method !== 'string' || item.method === '') return errorFrame(id, RpcError.invalidRequest('method must be a non-empty string'))
    if (item.params !== undefined && item.params !== null && !Array.isArray(item.params)) {
      return errorFrame(id, RpcError.invalidRequest('params must be an array (positional parameters)'))
    }
    const method = item.method
    const params = Array.isArray(item.params) ? (item.params as unknown[]) : []
    const started = performance.now()
    let reply: string
    try {
      const result = await call(method, params, ctx, after)
      const text = stringifyResponse(result === undefined ? null : result)
      if (payload !== undefined) payload.bytes = Buffer.byteLength(text)
      reply = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${text}}`
    } catch (err) {
      let rpcErr: RpcError
      if (err instanceof RpcError) {
        rpcErr = err
      } else if (isEvmError(err, EvmErrorCode.MISSING_STATE)) {
        // State a full node pruned (or never had): geth's -32000 "missing trie node", not a bug of ours.
        rpcErr = RpcError.server(err.message)
      } else {
        log.error('RPC method failed', { method }, err)
        rpcErr = RpcError.internal(errorMessage(err), err)
      }
      reply = errorFrame(id, rpcErr)
      if (payload !== undefined) payload.bytes = Buffer.byteLength(stringifyResponse(rpcErr.toJSON()))
    }
    if (log.enabled('trace')) log.trace('Served', { method, transport: ctx.transport, ms: Math.round(performance.now() - started) })
    // Notifications run but are never answered (JSON-RPC 2.0 §4.1).
    return hasId ? reply : undefined
  }

  /** A whole message (HTTP body or WS frame) → the reply text, or undefined when none is due. */
  async function handleMessage(text: string, ctx: RpcContext, after: Array<() => void>): Promise<string | undefined> {
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      return errorFrame(null, RpcError.parse(errorMessage(err)))
    }
    if (!Array.isArray(body)) return handleItem(body, ctx, after)
    if (body.length === 0) return errorFrame(null, RpcError.invalidRequest('empty batch'))
    if (opts.batchRequestLimit > 0 && body.length > opts.batchRequestLimit) return batchTooLarge(body)
    const replies: string[] = []
    let responseBytes = 0
    // One after the other, as geth: later calls see the effects of earlier ones.
    for (const [i, item] of body.entries()) {
      const payload = { bytes: 0 }
      const r = await handleItem(item, ctx, after, payload)
      if (r === undefined) continue
      replies.push(r)
      responseBytes += payload.bytes
      if (opts.batchResponseMaxSize > 0 && responseBytes > opts.batchResponseMaxSize) {
        // As geth: the answers so far stand; the calls not yet run are not run, each answered -32003.
        for (const rest of body.slice(i + 1)) {
          if (isRecord(rest) && !Object.hasOwn(rest, 'id')) continue
          const id = isRecord(rest) && validId(rest.id) ? rest.id : null
          replies.push(errorFrame(id, RpcError.responseTooLarge(opts.batchResponseMaxSize)))
        }
        break
      }
    }
    return replies.length === 0 ? undefined : `[${replies.join(',')}]`
  }

  /**
   * geth's answer to a batch over --rpc.batch-request-limit: none of it runs, and the reply is a
   * batch of one -32600 error carrying the id of the batch's first call (the protocol has no
   * way to answer a whole batch).
   */
  function batchTooLarge(body: unknown[]): string {
    const first = body.find((m) => isRecord(m) && typeof m.method === 'string' && Object.hasOwn(m, 'id') && validId(m.id)) as { id: RpcId } | undefined
    return `[${errorFrame(first?.id ?? null, RpcError.batchTooLarge(body.length, opts.batchRequestLimit))}]`
  }

  return { authenticate, handleMessage }
}

export function createRpcServer(opts: RpcConfig & Partial<RpcServerTuning>, modules: RpcServerModules): RpcServer {
  const tuning: RpcServerTuning = {
    callTimeoutMs: opts.callTimeoutMs ?? SERVER_DEFAULTS.callTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs,
    wsPingIntervalMs: opts.wsPingIntervalMs ?? SERVER_DEFAULTS.wsPingIntervalMs,
    wsMaxQueueBytes: opts.wsMaxQueueBytes ?? SERVER_DEFAULTS.wsMaxQueueBytes,
  }
  const apis = new Set(opts.apis)
  const anyOrigin = opts.corsOrigins.includes('*')
  const originAllowed = (origin: string | undefined): origin is string => origin !== undefined && (anyOrigin || opts.corsOrigins.includes(origin))

  const { authenticate, handleMessage } = createRpcDispatcher(opts, modules, tuning.callTimeoutMs)

  // ---- HTTP ----

  function corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin
    if (!originAllowed(origin)) return {}
    return { 'Access-Control-Allow-Origin': anyOrigin ? '*' : origin, Vary: 'Origin' }
  }

  function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers })
    res.end(text + '\n')
  }

  /**
   * 413 without buffering another byte. The rest of the body is read and discarded so the
   * client, still sending, gets to read the answer (cutting the socket now makes most clients
   * fail with EPIPE instead); a body beyond 4x the limit is cut off outright.
   */
  function tooLarge(req: IncomingMessage, res: ServerResponse, received: number): void {
    res.writeHead(413, { 'Content-Type': 'application/json', ...corsHeaders(req) })
    res.end(errorFrame(null, RpcError.limit(`request body too large: limit ${opts.maxRequestBytes} bytes`)))
    const cap = 4 * opts.maxRequestBytes
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > cap) {
      res.on('finish', () => req.socket.destroySoon())
      return
    }
    let seen = received
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length
      if (seen > cap) req.socket.destroy()
    })
    req.resume()
  }

  /** geth's answer to a Host outside --rpc.vhosts (DNS rebinding), with the fix. */
  function invalidHost(host: string | undefined): string {
    return `invalid host specified: ${host === undefined ? 'no Host header' : `"${host}" is not in --rpc.vhosts (${opts.vhosts.join(',')})`}; if clients reach this node under that name, start it with --rpc.vhosts ${[...opts.vhosts, host ?? 'NAME'].join(',')}`
  }

  /** An extra GET route: namespace enabled and a valid token, like the protected methods. */
  function onRoute(req: IncomingMessage, res: ServerResponse, path: string, route: (req: IncomingMessage, res: ServerResponse) => void): void {
    const access = accessOfRoute(path)
    if (!apis.has(access.namespace)) return sendText(res, 404, `not found: ${path} is part of the "${access.namespace}" namespace, which is not enabled on this node; start it with --rpc.api ${[...opts.apis, access.namespace].join(',')}`)
    authenticate(req.headers.authorization).then(
      ({ authenticated, authError }) => {
        if (access.protected && authenticated !== true) return sendText(res, 401, (authError ?? missingToken(opts.jwtSecret)).message, { 'WWW-Authenticate': 'Bearer' })
        if (closing !== undefined) return sendText(res, 503, 'the node is shutting down', { Connection: 'close' })
        // A route may stream (server-sent events): close() ends it rather than waiting for the client.
        streams.add(res)
        res.once('close', () => streams.delete(res))
        route(req, res)
      },
      (err: unknown) => {
        log.error('Route authentication failed', { path }, err)
        sendText(res, 500, `internal error: ${errorMessage(err)}`)
      },
    )
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    // Before anything else: a page on a rebound DNS name reaches us as same-origin, and only its Host gives it away.
    if (!hostAllowed(req.headers.host, opts.vhosts)) return sendText(res, 403, invalidHost(req.headers.host))
    const path = (req.url ?? '/').split('?')[0]!
    const route = modules.routes?.[path]
    if (route !== undefined && req.method === 'GET') return onRoute(req, res, path, route)
    if (path !== '/') return sendText(res, 404, `not found: JSON-RPC is served at / (POST, or a WebSocket upgrade)`)
    const cors = corsHeaders(req)
    if (req.method === 'OPTIONS') {
      if (req.headers.origin === undefined) return void (res.writeHead(204, { Allow: 'POST, GET, OPTIONS' }), res.end())
      if (!originAllowed(req.headers.origin)) return sendText(res, 403, `origin ${req.headers.origin} is not allowed: add it with --rpc.corsdomain`)
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
        'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Content-Type',
        'Access-Control-Max-Age': '600',
      })
      return void res.end()
    }
    if (req.method !== 'POST') {
      return sendText(res, 405, 'method not allowed: send JSON-RPC 2.0 requests as POST / with a JSON body, or connect a WebSocket to this address', { Allow: 'POST, OPTIONS', ...cors })
    }
    // A cross-origin POST a browser sends without asking (no preflight) can only be text/plain,
    // form-encoded or multipart (or have no type at all); requiring JSON refuses all of them.
    const contentType = req.headers['content-type']
    if ((contentType ?? '').split(';')[0]!.trim().toLowerCase() !== 'application/json') {
      // The body is not read: the connection closes after the answer (clients then do not reuse it).
      return sendText(res, 415, `invalid content type ${contentType === undefined ? '(none)' : JSON.stringify(contentType)}, only application/json is supported: send the request with the header Content-Type: application/json`, { ...cors, Connection: 'close' })
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > opts.maxRequestBytes) return tooLarge(req, res, 0)

    const chunks: Buffer[] = []
    let size = 0
    let refused = false
    req.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size > opts.maxRequestBytes) {
        refused = true
        chunks.length = 0
        tooLarge(req, res, size)
        return
      }
      chunks.push(chunk)
    })
    req.on('error', (err) => log.debug('HTTP request stream failed', { remote: req.socket.remoteAddress }, err))
    req.on('end', () => {
      if (refused) return
      const text = Buffer.concat(chunks).toString('utf8')
      authenticate(req.headers.authorization)
        .then((auth) => handleMessage(text, { transport: 'http', ...auth }, []))
        .then((reply) => {
          res.writeHead(200, { 'Content-Type': 'application/json', ...cors })
          res.end(reply ?? '')
        })
        .catch((err: unknown) => {
          // handleMessage answers every failure itself; reaching here is a bug.
          log.error('HTTP request handling failed', {}, err)
          if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json', ...cors })
          res.end(errorFrame(null, RpcError.internal(errorMessage(err))))
        })
    })
  }

  const http = createServer(
    {
      requestTimeout: tuning.requestTimeoutMs,
      headersTimeout: Math.min(tuning.requestTimeoutMs, 60_000),
      // geth keeps idle HTTP connections 120 s. Node's 5 s default races clients that reuse a
      // pooled connection just as the server closes it (undici fails with "other side closed").
      keepAliveTimeout: 120_000,
    },
    onRequest,
  )

  /** Open route responses (event streams), ended at close. */
  const streams = new Set<ServerResponse>()

  // ---- WebSocket ----

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxRequestBytes })
  const sockets = new Map<WebSocket, { conn: WsConnection; alive: boolean }>()
  let nextConnId = 1

  function refuseUpgrade(socket: Duplex, status: string, text: string): void {
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`)
  }

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => log.debug('WebSocket socket error', {}, err))
    if (!hostAllowed(req.headers.host, opts.vhosts)) return refuseUpgrade(socket, '403 Forbidden', invalidHost(req.headers.host))
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/') return refuseUpgrade(socket, '404 Not Found', 'not found: WebSocket JSON-RPC is served at /')
    // Browsers always send Origin; only listed origins may open a socket (non-browser clients send none).
    const origin = req.headers.origin
    if (origin !== undefined && !wsOriginAllowed(origin, opts.wsOrigins)) {
      return refuseUpgrade(socket, '403 Forbidden', `origin ${origin} is not allowed to open a WebSocket: add it with --ws.origins ${[...opts.wsOrigins, origin].join(',')}`)
    }
    // A token comes with the upgrade (browsers cannot set the header; other clients can) and holds for the connection.
    authenticate(req.headers.authorization).then(
      (auth) => wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req, auth)),
      (err: unknown) => {
        log.error('WebSocket authentication failed', {}, err)
        refuseUpgrade(socket, '500 Internal Server Error', `internal error: ${errorMessage(err)}`)
      },
    )
  })

  function onConnection(ws: WebSocket, req: IncomingMessage, auth: Pick<RpcContext, 'authenticated' | 'authError'>): void {
    const id = nextConnId++
    const closeFns: Array<() => void> = []
    let closed = false
    const conn: WsConnection = {
      id,
      get closed() {
        return closed
      },
      send(text) {
        if (closed) return false
        if (ws.bufferedAmount + text.length > tuning.wsMaxQueueBytes) {
          log.warn('Dropping slow WebSocket client', { conn: id, queued: ws.bufferedAmount })
          ws.terminate()
          return false
        }
        ws.send(text)
        return true
      },
      onClose(fn) {
        if (closed) fn()
        else closeFns.push(fn)
      },
      close(code, reason) {
        if (closed) return
        ws.close(code ?? 1000, reason)
        // A client that does not answer the close frame is cut off.
        setTimeout(() => ws.terminate(), 1000).unref()
      },
    }
    const state = { conn, alive: true }
    sockets.set(ws, state)
    log.debug('WebSocket connected', { conn: id, remote: req.socket.remoteAddress })

    ws.on('pong', () => (state.alive = true))
    ws.on('error', (err) => log.debug('WebSocket error', { conn: id }, err))
    ws.on('close', () => {
      closed = true
      sockets.delete(ws)
      for (const fn of closeFns.splice(0)) fn()
      log.debug('WebSocket closed', { conn: id })
    })
    ws.on('message', (raw: RawData) => {
      state.alive = true
      const text = Array.isArray(raw) ? Buffer.concat(raw).toString('utf8') : Buffer.from(raw as ArrayBuffer).toString('utf8')
      const after: Array<() => void> = []
      handleMessage(text, { transport: 'ws', connection: conn, ...auth }, after)
        .then((reply) => {
          if (reply !== undefined) conn.send(reply)
          for (const fn of after) fn()
        })
        .catch((err: unknown) => log.error('WebSocket message handling failed', { conn: id }, err))
    })
  }

  let pinger: NodeJS.Timeout | undefined

  function startPinger(): void {
    pinger = setInterval(() => {
      for (const [ws, state] of sockets) {
        if (!state.alive) {
          log.debug('WebSocket client missed a pong, dropping', { conn: state.conn.id })
          ws.terminate()
          continue
        }
        state.alive = false
        ws.ping()
      }
    }, tuning.wsPingIntervalMs)
    pinger.unref()
  }

  let closing: Promise<void> | undefined

  return {
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err)
        http.once('error', onError)
        http.listen(opts.port, opts.addr, () => {
          http.off('error', onError)
          http.on('error', (err) => log.error('RPC server error', {}, err))
          startPinger()
          const { address, port } = http.address() as AddressInfo
          const host = address.includes(':') ? `[${address}]` : address
          resolve({ url: `http://${host}:${port}`, wsUrl: `ws://${host}:${port}`, port })
        })
      })
    },
    close() {
      closing ??= (async () => {
        clearInterval(pinger)
        // Resolve only once every client is gone, so its subscriptions are released too.
        const wsClosed = [...sockets.keys()].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())))
        for (const ws of sockets.keys()) ws.close(1001, 'server shutting down')
        const httpClosed = http.listening ? new Promise<void>((resolve) => http.close(() => resolve())) : Promise.resolve()
        // An event stream has no end of its own: finish it (the client sees a clean end and may
        // reconnect elsewhere) and drop its connection, instead of waiting out the grace below.
        for (const res of streams) res.end(() => res.socket?.destroy())
        http.closeIdleConnections()
        // In-flight requests and polite clients get a moment; then everything is cut.
        const force = setTimeout(() => {
          for (const ws of sockets.keys()) ws.terminate()
          http.closeAllConnections()
        }, 1000)
        await Promise.all([...wsClosed, httpClosed])
        clearTimeout(force)
        wss.close()
      })()
      return closing
    },
  }
}
