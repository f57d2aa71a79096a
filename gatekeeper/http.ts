import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RESOURCE_TYPES } from '../contracts/client/index.ts'
import { createLogger, errorCode, errorMessage } from '../common/index.ts'
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
}

export interface GatekeeperHttp {
  url: string
  close(): Promise<void>
}

/**
 * The gatekeeper's HTTP API:
 *   GET  /v1/info                      who this gatekeeper is (account, chain, public key)
 *   POST /v1/requests                  a signed request (JSON) → `{ ok, encrypted | error }`
 *   GET  /fhir/<ResourceType>?relationship=0x…&pointer=N   FHIR-style read; the signed request
 *        travels in `Authorization: MedRec <base64url(JSON)>`; the answer is a FHIR Binary holding
 *        the encrypted reply (plain records never cross HTTP), errors are OperationOutcomes.
 */
export async function startGatekeeperHttp(listen: { host: string; port: number }, modules: HttpModules): Promise<GatekeeperHttp> {
  const server: Server = createHttpServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      log.warn('HTTP request failed', { url: req.url }, err)
      if (!res.headersSent) send(res, 500, { ok: false, error: { code: wireCode(GatekeeperErrorCode.INTERNAL), message: 'internal error' } })
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gatekeeper')
    if (url.pathname === '/v1/info') {
      if (req.method !== 'GET') return send(res, 405, { ok: false, error: { code: wireCode(GatekeeperErrorCode.BAD_REQUEST), message: 'use GET /v1/info' } })
      return send(res, 200, modules.info())
    }
    if (url.pathname === '/v1/requests') {
      if (req.method !== 'POST') return send(res, 405, { ok: false, error: { code: wireCode(GatekeeperErrorCode.BAD_REQUEST), message: 'use POST /v1/requests with a signed request as JSON' } })
      const remote = remoteOf(req)
      const body = await readBody(req)
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
    const fhir = /^\/fhir\/([A-Za-z]+)$/.exec(url.pathname)
    if (fhir !== null) return fhirRead(req, res, fhir[1]!, url)
    return send(res, 404, { ok: false, error: { code: wireCode(GatekeeperErrorCode.NOT_FOUND), message: `no route ${url.pathname}: see GET /v1/info, POST /v1/requests, GET /fhir/<ResourceType>` } })
  }

  async function fhirRead(req: IncomingMessage, res: ServerResponse, type: string, url: URL): Promise<void> {
    const outcome = (status: number, code: string, message: string) =>
      send(res, status, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: status === 403 || status === 401 ? 'forbidden' : status === 404 ? 'not-found' : status === 429 ? 'throttled' : 'invalid', diagnostics: `${code}: ${message}` }] }, 'application/fhir+json')
    if (req.method !== 'GET') return outcome(405, wireCode(GatekeeperErrorCode.BAD_REQUEST), 'FHIR reads are GET')
    if (!(RESOURCE_TYPES as readonly string[]).includes(type)) return outcome(404, wireCode(GatekeeperErrorCode.NOT_FOUND), `unknown resource type ${type}; one of ${RESOURCE_TYPES.join(', ')}`)
    const remote = remoteOf(req)
    // A read that cannot become a request is refused like one: audited (provider-only) and counted against the remote address.
    const refuse = (status: number, message: string) => {
      const r = modules.reject(GatekeeperErrorCode.BAD_REQUEST, message, remote)
      if (r.retryAfter !== undefined) res.setHeader('retry-after', String(r.retryAfter))
      return r.body.ok ? undefined : outcome(r.retryAfter !== undefined ? r.status : status, r.body.error.code, r.body.error.message)
    }
    const auth = req.headers.authorization ?? ''
    const m = /^MedRec ([A-Za-z0-9_-]+={0,2})$/.exec(auth)
    if (m === null) return refuse(401, 'send the signed request in "Authorization: MedRec <base64url of its JSON>"')
    let json: { request?: { relationship?: unknown; pointerIds?: unknown } }
    const text = Buffer.from(m[1]!, 'base64url').toString('utf8')
    try {
      json = JSON.parse(text) as typeof json
    } catch {
      return refuse(400, 'the Authorization value is not base64url JSON')
    }
    // The URL must say what the signature covers, so logs and proxies see the real target.
    const rel = url.searchParams.get('relationship')
    const pointer = url.searchParams.get('pointer')
    const ids = json.request?.pointerIds
    if (rel === null || typeof json.request?.relationship !== 'string' || rel.toLowerCase() !== json.request.relationship.toLowerCase() || !Array.isArray(ids) || ids.length !== 1 || String(ids[0]) !== pointer) {
      return refuse(400, 'relationship and pointer in the URL must equal those of the signed request (one pointer per FHIR read)')
    }
    const reply = await modules.handle(json, remote, Buffer.from(text, 'utf8'))
    if (!reply.body.ok) {
      if (reply.retryAfter !== undefined) res.setHeader('retry-after', String(reply.retryAfter))
      return outcome(reply.status, reply.body.error.code, reply.body.error.message)
    }
    send(res, 200, { resourceType: 'Binary', contentType: 'application/vnd.medrec.encrypted+json', data: Buffer.from(JSON.stringify(reply.body.encrypted)).toString('base64') }, 'application/fhir+json')
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
    url: `http://${host}:${addr.port}`,
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

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) over = true
      else chunks.push(c)
    })
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}
