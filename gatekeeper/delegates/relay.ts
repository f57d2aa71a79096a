import type { DatabaseSync } from 'node:sqlite'
import { getAddress, type Address } from 'viem'
import type { MedRecClient } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import { fromWireCode, GatekeeperError, GatekeeperErrorCode, wireCode } from '../errors.ts'
import type { RateLimiter } from '../rate-limit.ts'
import { createRequestVerifier, parseSignedRequest } from '../request.ts'
import type { GatekeeperReply } from '../serve.ts'

const log = createLogger('gatekeeper:relay')
const ZERO = '0x0000000000000000000000000000000000000000'

/**
 * Which delegates this authority verified, and for which provider: the relay's routing table
 * (state.sqlite `relayed_delegates`). Confidential like the provider's own delegate table: it
 * is the D → P link the chain no longer shows.
 */
export interface RelayTable {
  add(delegate: string, provider: string): void
  /** The provider whose delegate this is, when this authority verified it. */
  providerOf(delegate: string): Address | undefined
  /** Unix ms of the delegate's last top-up (0: never). */
  toppedUpAt(delegate: string): number
  setToppedUp(delegate: string, at: number): void
  count(): number
}

export function createRelayTable(db: DatabaseSync): RelayTable {
  db.exec(`CREATE TABLE IF NOT EXISTS relayed_delegates (
    delegate TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    verified_at INTEGER NOT NULL,
    topped_up_at INTEGER NOT NULL DEFAULT 0
  ) STRICT`)
  const toppedUp = db.prepare('SELECT topped_up_at AS t FROM relayed_delegates WHERE delegate = ?')
  const setToppedUp = db.prepare('UPDATE relayed_delegates SET topped_up_at = ? WHERE delegate = ?')
  const insert = db.prepare('INSERT INTO relayed_delegates (delegate, provider, verified_at) VALUES (?, ?, ?) ON CONFLICT (delegate) DO NOTHING')
  const map = new Map<string, Address>()
  for (const r of db.prepare('SELECT delegate, provider FROM relayed_delegates').all() as { delegate: string; provider: string }[]) map.set(r.delegate, getAddress(r.provider))
  return {
    add(delegate, provider) {
      const d = delegate.toLowerCase()
      if (map.has(d)) return
      insert.run(d, provider.toLowerCase(), Date.now())
      map.set(d, getAddress(provider))
    },
    providerOf: (delegate) => map.get(delegate.toLowerCase()),
    toppedUpAt: (delegate) => Number((toppedUp.get(delegate.toLowerCase()) as { t: number } | undefined)?.t ?? 0),
    setToppedUp: (delegate, at) => void setToppedUp.run(at, delegate.toLowerCase()),
    count: () => map.size,
  }
}

export interface RelayModules {
  table: RelayTable
  /** This authority's chain reads (relationships' providers, the providers' Registrar entries). */
  client: MedRecClient
  chainId: bigint
  maxLifetimeSeconds?: number
  /** The same limiter as the gatekeeper's own requests: a requester's relayed and direct requests share one budget. */
  limiter: RateLimiter
  /** Sends the request bytes to the provider's gatekeeper over libp2p (`/medrec/gatekeeper/1`); absent without p2p. */
  forward?: (multiaddr: string, body: Uint8Array) => Promise<Uint8Array>
  /** A refusal by the relay: audited in the provider-only log and counted against the remote address. */
  reject(code: GatekeeperErrorCode, message: string, remote: string, retryAfter?: number): GatekeeperReply
}

/**
 * The verifying authority's relay: a request addressed to a delegate this authority verified,
 * about a relationship that delegate created, goes byte for byte to the delegate's provider over
 * libp2p and its reply comes back byte for byte. The reply is encrypted to the requester and the
 * request signed by it, so the relay learns who asked which delegate for what kind of thing, and
 * when: metadata it could tell anyway from knowing P ↔ D.
 *
 * Not an open proxy: the target comes from this authority's own table, never from the request;
 * the relationship must be one the delegate provides on chain; the signature must verify (else
 * the request is handled as any other request addressed elsewhere, so an unauthenticated caller
 * cannot tell a relayed delegate from an unknown address); each requester spends the same rate
 * budget as its direct requests.
 */
export function createRelay(modules: RelayModules) {
  const { table, client, limiter } = modules
  const verifier = createRequestVerifier({ chainId: modules.chainId, gatekeepers: [], isGatekeeper: (a) => table.providerOf(a) !== undefined, maxLifetimeSeconds: modules.maxLifetimeSeconds })
  // A relationship's provider never changes.
  const providerOfRel = new Map<string, string>()
  const self = client.address

  async function relationshipProvider(rel: string): Promise<string | undefined> {
    const known = providerOfRel.get(rel)
    if (known !== undefined) return known
    if (!(await client.relationships.isRelationship(rel))) return undefined
    const p = (await client.relationship(rel).provider()).toLowerCase()
    if (providerOfRel.size > 100_000) providerOfRel.clear()
    providerOfRel.set(rel, p)
    return p
  }

  const refuse = (code: GatekeeperErrorCode, message: string, remote: string, retryAfter?: number) => modules.reject(code, message, remote, retryAfter)

  return {
    table,
    /**
     * The reply when this request is one to relay (or refused as one); undefined when it is not
     * addressed to a delegate this authority verified (or does not verify): serve it locally.
     */
    async route(json: unknown, bytes: Uint8Array, remote: string): Promise<GatekeeperReply | undefined> {
      if (table.count() === 0) return undefined
      let parsed
      try {
        parsed = parseSignedRequest(json)
      } catch {
        return undefined
      }
      const delegate = parsed.request.gatekeeper
      const provider = table.providerOf(delegate)
      if (provider === undefined) return undefined
      try {
        verifier.verify(parsed)
      } catch {
        return undefined
      }
      const allowed = limiter.take(`requester:${parsed.from.toLowerCase()}`)
      if (!allowed.ok) return refuse(GatekeeperErrorCode.RATE_LIMITED, `too many requests from ${parsed.from}`, remote, allowed.retryAfter)
      const rel = parsed.request.relationship.toLowerCase()
      const relProvider = rel === ZERO ? undefined : await relationshipProvider(rel).catch(() => undefined)
      if (relProvider !== delegate.toLowerCase()) {
        return refuse(GatekeeperErrorCode.FORBIDDEN, `this gatekeeper (${self}) relays only requests about relationships of the delegate they are addressed to; ${rel} is not ${delegate}'s`, remote)
      }
      const unreachable = `the relay ${self} could not reach the gatekeeper of ${delegate}: try again later`
      if (modules.forward === undefined) return refuse(GatekeeperErrorCode.UNREACHABLE, `${unreachable} (the relay runs without p2p)`, remote)
      let target: string
      try {
        target = (await client.registrar.provider(provider)).multiaddr
      } catch (err) {
        log.warn('Relay: cannot read the provider entry', { delegate }, errorMessage(err))
        return refuse(GatekeeperErrorCode.UNREACHABLE, unreachable, remote)
      }
      if (target === '') {
        log.warn('Relay: the provider publishes no multiaddr', { delegate, provider })
        return refuse(GatekeeperErrorCode.UNREACHABLE, unreachable, remote)
      }
      let raw: Uint8Array
      try {
        raw = await modules.forward(target, bytes)
      } catch (err) {
        // The libp2p error names the provider's address: it stays in this log, not in the reply.
        log.warn('Relay: the provider did not answer', { delegate }, errorMessage(err))
        return refuse(GatekeeperErrorCode.UNREACHABLE, unreachable, remote)
      }
      return relayedReply(raw, self)
    },
  }
}

export type Relay = ReturnType<typeof createRelay>

/** The provider's reply as it came, with the status and Retry-After HTTP needs read from it. */
function relayedReply(raw: Uint8Array, self: string): GatekeeperReply {
  let body: GatekeeperReply['body']
  try {
    body = JSON.parse(new TextDecoder().decode(raw)) as GatekeeperReply['body']
  } catch {
    body = { ok: false, error: { code: wireCode(GatekeeperErrorCode.UNREACHABLE), message: `the relay ${self} got an unreadable reply from the delegate's gatekeeper` } }
    return { status: 502, body }
  }
  if (body === null || typeof body !== 'object' || (body.ok !== true && body.ok !== false)) {
    return { status: 502, body: { ok: false, error: { code: wireCode(GatekeeperErrorCode.UNREACHABLE), message: `the relay ${self} got something that is not a gatekeeper reply` } } }
  }
  if (body.ok) return { status: 200, body, raw }
  const code = fromWireCode(body.error?.code) ?? GatekeeperErrorCode.UNREACHABLE
  const retryAfter = typeof body.error?.retryAfter === 'number' ? body.error.retryAfter : undefined
  return { status: new GatekeeperError(code, '').httpStatus, body, raw, ...(retryAfter === undefined ? {} : { retryAfter }) }
}
