/**
 * POST /api/gatekeeper: a key held only in the browser reads records and audit logs through the
 * app's own origin (its Content-Security-Policy forbids the page to reach a provider's gatekeeper
 * on another origin). The page sends `{relationship, request}`: the request it signed, the way
 * the node's own requester sends one. The node finds the relationship's gatekeeper on its chain
 * (never a URL from the page: no SSRF), forwards the request and answers the gatekeeper's reply
 * untouched. No session: the request is signed by the page's key and the reply is encrypted to
 * it, so the relay holds nothing a page could gain; a rate limit keeps it from being a free
 * traffic source.
 */

/** What the relay needs from the node's gatekeeper (gatekeeper/requester.ts `relay`). */
export type GatekeeperRelay = (relationship: string, signed: unknown) => Promise<{ reply: string }>

/** Largest body: a signed request with the most pointers (64 × two 78-digit decimals) is ~12 KiB. */
export const RELAY_BODY_BYTES = 32 * 1024

/** Relayed requests at once, and one more every RELAY_REFILL_MS (a person fetches a few at a time). */
export const RELAY_BURST = 30
export const RELAY_REFILL_MS = 500

export type RelayBody = { ok: true; relationship: string; request: unknown } | { ok: false; message: string }

/** The body exactly `{relationship, request}`: anything else (an endpoint, a URL) is refused, never used. */
export function parseRelayBody(text: string): RelayBody {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return { ok: false, message: 'the body is not JSON: send {"relationship": "0x…", "request": <the signed request>}' }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, message: 'expected an object {"relationship": "0x…", "request": <the signed request>}' }
  const o = body as Record<string, unknown>
  const extra = Object.keys(o).filter((k) => k !== 'relationship' && k !== 'request')
  if (extra.length > 0) return { ok: false, message: `unknown key(s) ${extra.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}: the body is exactly {relationship, request}; the gatekeeper is found on chain` }
  if (typeof o.relationship !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(o.relationship)) return { ok: false, message: 'relationship must be the relationship contract address (0x + 40 hex)' }
  if (!Object.hasOwn(o, 'request')) return { ok: false, message: 'request is missing: the signed request {request, from, signature}' }
  return { ok: true, relationship: o.relationship, request: o.request }
}
