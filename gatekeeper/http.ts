import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createLogger, errorCode, errorMessage } from '../common/index.ts'
import { readBody } from './http-body.ts'
import { GatekeeperError, GatekeeperErrorCode, wireCode } from './errors.ts'
import type { GatekeeperReply } from './serve.ts'

const log = createLogger('gatekeeper:http')

/** Signed requests are small; anything bigger is refused before it is parsed. */
const MAX_BODY = 64 * 1024

export interface HttpModules {
  /** A parsed body (and its bytes, passed on unchanged when relayed); `remote` is the client's address (rate limits of unverified traffic). */
  handle(json: unknown, remote: string, bytes: Uint8Array): Promise<GatekeeperReply>
  /** A body refused before it could be read (too big, not JSON): audited and counted like the rest. */
  reject(code: GatekeeperErrorCode, message: string, remote: string): GatekeeperReply
  /** Public facts for GET /v1/info (never the audit head: that is for the operator and a patient's signed request). */
  info(): Record<string, unknown>
  /** SMART App Launch (gatekeeper/smart/): discovery and /oauth/*; false for paths it does not serve. */
  smart?: { handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> }
  /** The FHIR R4 API (gatekeeper/fhir/): everything under /fhir that SMART discovery does not answer. */
  fhir?: { handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> }
}

export interface GatekeeperHttp {
  url: string
  close(): Promise<void>
}

/**
 * The gatekeeper's HTTP API:
 *   GET  /v1/info                      who this gatekeeper is (account, chain, public key)
 *   POST /v1/requests                  a signed request (JSON) → `{ ok, encrypted | error }`
 *   /fhir/…                            the FHIR R4 API with SMART access tokens (gatekeeper/fhir/)
 */
export async function startGatekeeperHttp(listen: { host: string; port: number }, modules: HttpModules, tls?: { cert: string; key: string }): Promise<GatekeeperHttp> {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    route(req, res).catch((err: unknown) => {
      log.warn('HTTP request failed', { url: req.url }, err)
      if (!res.headersSent) send(res, 500, { ok: false, error: { code: wireCode(GatekeeperErrorCode.INTERNAL), message: 'internal error' } })
    })
  }
  // HTTPS (gatekeeper/tls.ts; a handshake gets the headers' 10 s); plain HTTP only when the operator chose it, behind a TLS-terminating proxy (--gatekeeper.tls=false).
  const server: Server | HttpsServer = tls === undefined ? createHttpServer(onRequest) : createHttpsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: 10_000 }, onRequest)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gatekeeper')
    if (modules.smart !== undefined && (await modules.smart.handle(req, res, url))) return
    if (url.pathname === '/v1/info') {
      if (req.method !== 'GET') return send(res, 405, { ok: false, error: { code: wireCode(GatekeeperErrorCode.BAD_REQUEST), message: 'use GET /v1/info' } })
      return send(res, 200, modules.info())
    }
    if (url.pathname === '/v1/requests') {
      if (req.method !== 'POST') return send(res, 405, { ok: false, error: { code: wireCode(GatekeeperErrorCode.BAD_REQUEST), message: 'use POST /v1/requests with a signed request as JSON' } })
      const remote = remoteOf(req)
      const body = await readBody(req, MAX_BODY)
      if (body === undefined) {
        const reply = modules.reject(GatekeeperErrorCode.BAD_REQUEST, `the request body exceeds ${MAX_BODY} bytes`, remote)
        return reply.retryAfter !== undefined ? reply429(res, reply) : send(res, 413, reply.body)
      }
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch {
        return reply(res, modules.reject(GatekeeperErrorCode.BAD_REQUEST, 'the body is not JSON: send {"request":{…},"from":"0x…","signature":"0x…"}', remote))
      }
      return reply(res, await modules.handle(json, remote, Buffer.from(body, 'utf8')))
    }
    if (modules.fhir !== undefined && (await modules.fhir.handle(req, res, url))) return
    return send(res, 404, { ok: false, error: { code: wireCode(GatekeeperErrorCode.NOT_FOUND), message: `no route ${url.pathname}: see GET /v1/info, POST /v1/requests, GET /fhir/metadata` } })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: Error) => {
      const hint = errorCode(err) === 'EADDRINUSE' ? 'is in use: stop the other process or pass --gatekeeper.http.port (0: any free port)' : `cannot be listened on: ${errorMessage(err)}`
      reject(new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the gatekeeper HTTP address ${listen.host}:${listen.port} ${hint}`, { code: errorCode(err) }, err))
    })
    server.listen(listen.port, listen.host, () => resolve())
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function remoteOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? ''
}

/** A gatekeeper reply as HTTP; a rate-limit refusal carries Retry-After. */
function reply(res: ServerResponse, r: GatekeeperReply): void {
  if (r.retryAfter !== undefined) return reply429(res, r)
  sendReply(res, r)
}

function reply429(res: ServerResponse, r: GatekeeperReply): void {
  res.setHeader('retry-after', String(r.retryAfter ?? 1))
  sendReply(res, r)
}

/** A relayed reply goes out byte for byte as the delegate's gatekeeper sent it. */
function sendReply(res: ServerResponse, r: GatekeeperReply): void {
  if (r.raw === undefined) return send(res, r.status, r.body)
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': r.raw.byteLength, 'cache-control': 'no-store' })
  res.end(r.raw)
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}
