/**
 * Talking to a gatekeeper's HTTPS API from a test, the ways a real client does:
 *   - pinned to the certificate fingerprint the gatekeeper publishes (medrec_gatekeeperInfo's
 *     `tlsFingerprint`, the Registrar entry's), as MedRec's requester does: `pinnedFetch`;
 *   - trusting its self-signed development certificate as a CA, as a stock client (a FHIR library
 *     on the global fetch) is set up by a developer: `trustGatekeeperCert`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import tls from 'node:tls'
import type { Hex } from 'viem'
import { pinnedRequest } from '../../gatekeeper/tls-pin.ts'

export interface PinnedInit {
  method?: string
  headers?: Record<string, string>
  body?: string | Uint8Array
}

/** A fetch over a connection pinned to `fingerprint` (0x SHA-256 of the certificate's DER); a WHATWG Response back. */
export function pinnedFetch(fingerprint: string | undefined): (url: string | URL, init?: PinnedInit) => Promise<Response> {
  return async (url, init = {}) => {
    if (fingerprint === undefined) throw new Error('the gatekeeper publishes no TLS fingerprint: is it serving HTTPS?')
    const r = await pinnedRequest(String(url), { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers: init.headers, body: init.body, fingerprint: fingerprint as Hex, timeoutMs: 30_000 })
    const headers = new Headers()
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
    return new Response(r.status === 204 || r.status === 304 ? null : r.text, { status: r.status, headers })
  }
}

/** The development certificate of the gatekeeper in `datadir` (DIR/gatekeeper/tls/cert.pem). */
export function gatekeeperCert(datadir: string): string {
  return readFileSync(join(datadir, 'gatekeeper', 'tls', 'cert.pem'), 'utf8')
}

/**
 * Adds a gatekeeper's self-signed certificate to this process's trusted CAs (Node's default
 * store, which the global fetch uses), like NODE_EXTRA_CA_CERTS for a process already running.
 */
export function trustGatekeeperCert(certPem: string): void {
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), certPem])
}
