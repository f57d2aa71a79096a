import { request, type IncomingHttpHeaders } from 'node:http'
import { isIP } from 'node:net'
import { connect, type TLSSocket } from 'node:tls'
import type { Hex } from 'viem'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'
import { certFingerprint } from './tls.ts'

export interface PinnedRequest {
  method: string
  headers?: Record<string, string>
  body?: Uint8Array | string
  /** SHA-256 of the DER of the certificate the server must present (0x-hex, as the Registrar holds it). */
  fingerprint: Hex
  timeoutMs: number
}

export interface PinnedResponse {
  status: number
  headers: IncomingHttpHeaders
  text: string
}

/**
 * One HTTPS request to `url` whose server must present exactly the certificate `fingerprint`
 * names: the pin replaces the CA store and the host name check (a gatekeeper's development
 * certificate is self-signed, and the Registrar entry on this node's own chain is what vouches
 * for it). The handshake completes and the certificate is compared before a byte of the
 * request is written, so a server with another certificate receives nothing.
 */
export async function pinnedRequest(url: string, init: PinnedRequest): Promise<PinnedResponse> {
  const u = new URL(url)
  if (u.protocol !== 'https:') throw new GatekeeperError(GatekeeperErrorCode.UNREACHABLE, `a pinned request needs an https URL, got ${u.origin}`)
  const signal = AbortSignal.timeout(init.timeoutMs)
  const socket = await connectPinned(u, init.fingerprint, signal)
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? Buffer.from(init.body, 'utf8') : Buffer.from(init.body.buffer, init.body.byteOffset, init.body.byteLength)
  return new Promise<PinnedResponse>((resolve, reject) => {
    const req = request(
      {
        // The verified socket carries the request: no second connection, no agent.
        createConnection: () => socket,
        method: init.method,
        path: `${u.pathname}${u.search}`,
        headers: { host: u.host, ...(body === undefined ? {} : { 'content-length': String(body.byteLength) }), ...init.headers },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          socket.destroy()
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') })
        })
        res.on('error', reject)
      },
    )
    req.on('error', (err) => {
      socket.destroy()
      reject(err)
    })
    req.end(body)
  })
}

/** A TLS connection to `u` whose peer presented the pinned certificate; refused (and closed) otherwise. */
function connectPinned(u: URL, fingerprint: Hex, signal: AbortSignal): Promise<TLSSocket> {
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = u.port === '' ? 443 : Number(u.port)
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(isIP(host) === 0 ? { servername: host } : {}),
      // The fingerprint below decides, not the CA store: an unknown issuer is expected.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    })
    const abort = () => socket.destroy(new Error(`no TLS handshake with ${u.origin} in time`))
    if (signal.aborted) abort()
    else signal.addEventListener('abort', abort, { once: true })
    socket.once('error', (err) => reject(err))
    socket.once('close', () => signal.removeEventListener('abort', abort))
    socket.once('secureConnect', () => {
      const raw = socket.getPeerX509Certificate()?.raw
      const presented = raw === undefined ? 'no certificate' : certFingerprint(raw)
      if (presented.toLowerCase() === fingerprint.toLowerCase()) return resolve(socket)
      socket.destroy()
      reject(
        new GatekeeperError(
          GatekeeperErrorCode.TLS_PIN_MISMATCH,
          `${u.origin} presented a TLS certificate with SHA-256 fingerprint ${presented}, but the Registrar publishes ${fingerprint.toLowerCase()} for it: refused, nothing was sent (a man in the middle, or the provider changed its certificate and its gatekeeper has not yet republished: retry once the Registrar entry shows the new fingerprint, or ask the provider)`,
          { url: u.origin, presented, published: fingerprint.toLowerCase() },
        ),
      )
    })
  })
}
