import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { fieldsOfMask, type MedRecClient } from '../contracts/client/index.ts'
import { createLogger, errorMessage } from '../common/index.ts'
import type { AuditLog, AuditView } from './audit.ts'
import { buildProof } from './commitment.ts'
import { createChainReads } from './chain-reads.ts'
import type { BountyReleases } from './bounty-release.ts'
import { createEncryptor } from './ecies.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError, rateLimited, wireCode } from './errors.ts'
import { servableBountyQuery, servableRecordQuery } from './grammar.ts'
import type { NonceStore } from './nonces.ts'
import { createRateLimiter, createRefusalCoalescer, type RateLimiter } from './rate-limit.ts'
import { parseSignedRequest, type RequestVerifier } from './request.ts'
import type { RelationshipMap } from './state.ts'
import type { FhirBundle, FhirResource, GatekeeperRequest, PointerRecords, RecordSource } from './types.ts'

const log = createLogger('gatekeeper:serve')
const ZERO = '0x0000000000000000000000000000000000000000'

import type { GatekeeperReply, RecordsPayload } from './reply.ts'
export type { GatekeeperReply, RecordsPayload } from './reply.ts'

/** Where a request came from, as its transport knows it (an IP address, a libp2p peer id). */
export interface RequestContext {
  remote?: string
}

export interface ServeModules {
  /** Chain reads at this node's head, as the gatekeeper's account. */
  client: MedRecClient
  source: RecordSource
  verifier: RequestVerifier
  nonces: NonceStore
  /**
   * The audit chain of an account this gatekeeper serves as (the authority's, or a delegate's):
   * a verified request is logged in the chain of the account it is addressed to.
   */
  auditOf(account: string): AuditLog
  /** Refusals of requests that never verified (unparseable, bad signature, rate-limited): the provider's eyes only. */
  providerAudit: AuditLog
  /** Per verified requester and, for unverified traffic, per remote address; absent: no limit. */
  limiter?: RateLimiter
  relationships: RelationshipMap
  /** The provider account's key: its address is the gatekeeper's. */
  privateKey: Hex
  /** Other accounts whose relationships this gatekeeper stewards (the provider's delegate accounts). */
  ownsAccount?: (address: string) => boolean
  /** Bounty answers: computed once, signed, stored (bounty-release.ts). */
  releases: BountyReleases
  /** Salts the field commitments (see commitment.ts). */
  secret: Uint8Array
  /**
   * Before a pointer's records are read: serves the provider's staged version of them once the
   * chain holds its hash (its update landed after a crash or a lost receipt; publish.ts).
   */
  settle?: (relationship: string, pointerId: number, onChain: { version: number; dataHash: string }) => void
  now?: () => number
  /** Told how each request ended, for metrics; never changes the reply. */
  onServed?: (served: ServedRequest) => void
}

/** How one request ended: its method ('unknown' when unparseable), 'ok' or the refusal's code, and how long it took. */
export interface ServedRequest {
  method: GatekeeperRequest['method'] | 'unknown'
  outcome: 'ok' | GatekeeperErrorCode
  seconds: number
}

export { bountyResultHash, type BountyPayload, type BountyResultBody } from './bounty-release.ts'

/** The decrypted body of an audit reply: the chain as the patient checks it (see checkAuditView). */
export interface AuditPayload {
  method: 'audit'
  gatekeeper: string
  view: AuditView
}

interface Outcome {
  payload: unknown
  relationship: string
  patient: string
}

/**
 * The provider side of a request: signature, freshness and single use, then permission read
 * from this node's chain state, then the query built from the pointer stored on chain, scoped to
 * the relationship's patient, projected to the granted fields. Every request, served or refused,
 * is appended to the audit log. Never throws: refusals become replies.
 */
export function createServer(modules: ServeModules) {
  const { client, source, verifier, nonces, auditOf, relationships } = modules
  const account = privateKeyToAccount(modules.privateKey)
  const now = modules.now ?? (() => Math.floor(Date.now() / 1000))
  const encryptTo = createEncryptor()
  const { providerAudit } = modules
  const limiter = modules.limiter ?? createRateLimiter({ rate: 0, burst: 0 })
  const refusals = createRefusalCoalescer(10_000)
  const ours = (address: string): boolean => address.toLowerCase() === account.address.toLowerCase() || modules.ownsAccount?.(address) === true
  // Chain reads remembered until the next head, and the relationships served (chain-reads.ts, shared with the FHIR API).
  const chain = createChainReads({ client, relationships, ours })
  const headRead = chain.atHead

  /** `addressed`: the account the request names; it must be the relationship's provider (each account has its own audit chain). */
  async function servedRelationship(rel: string, addressed: string): Promise<{ ppr: ReturnType<MedRecClient['relationship']>; patientId: string; provider: Address }> {
    const { ppr, patientId, provider } = await chain.served(rel)
    if (provider.toLowerCase() !== addressed.toLowerCase()) throw new GatekeeperError(GatekeeperErrorCode.WRONG_GATEKEEPER, `relationship ${rel} is served as ${provider}, not as ${addressed}: address the request to the relationship's provider`, { relationship: rel })
    return { ppr, patientId, provider }
  }

  async function records(req: GatekeeperRequest, requester: Address): Promise<Outcome> {
    const rel = req.relationship.toLowerCase()
    const { ppr, patientId, provider } = await servedRelationship(rel, req.gatekeeper)
    if (req.pointerIds.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a records request names at least one pointer')
    for (const [i, id] of req.pointerIds.entries()) {
      const mask = req.fieldMasks[i]!
      if (id >= 2n ** 32n) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `pointer ${id} does not exist on ${rel}`)
      if (mask === 0n || mask >= 1n << 255n) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `field mask ${mask} of pointer ${id} must name at least one of the pointer's fields (bit i = field i, at most 255 fields)`)
    }
    const patient = await headRead(`patient:${rel}`, () => ppr.patient())
    const isParty = requester.toLowerCase() === patient.toLowerCase() || requester.toLowerCase() === provider.toLowerCase()
    for (let i = 0; i < req.pointerIds.length; i++) {
      const pointerId = Number(req.pointerIds[i]!)
      const fields = fieldsOfMask(req.fieldMasks[i]!)
      if (!(await headRead(`canRead:${rel}:${requester}:${pointerId}:${req.fieldMasks[i]!}`, () => ppr.canRead(requester, pointerId, fields)))) {
        throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `the chain does not let ${requester} read fields [${fields.join(',')}] of pointer ${pointerId} of ${rel}`, { pointerId })
      }
    }
    if (!isParty) {
      // canRead judges expiry by the head block's timestamp; the wall clock may be ahead of it.
      const grant = await headRead(`grant:${rel}:${requester}`, () => ppr.grantOf(requester))
      if (grant.expiresAt !== 0 && now() >= grant.expiresAt) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `the grant to ${requester} on ${rel} expired at ${new Date(grant.expiresAt * 1000).toISOString()}`)
    }
    const pointers: PointerRecords[] = []
    for (let i = 0; i < req.pointerIds.length; i++) {
      const pointerId = Number(req.pointerIds[i]!)
      const granted = fieldsOfMask(req.fieldMasks[i]!)
      const p = await headRead(`pointer:${rel}:${pointerId}`, () => ppr.pointer(pointerId))
      const q = servableRecordQuery(p.query, rel, pointerId).query
      modules.settle?.(rel, pointerId, p)
      const resources = await source.query(patientId, q)
      const { bundleResources, proof } = buildProof(modules.secret, rel as Address, pointerId, p.version, [...q.fields], resources, granted)
      pointers.push({ pointerId, query: p.query, dataHash: p.dataHash, version: p.version, fields: granted, bundle: searchset(bundleResources), proof })
    }
    const payload: RecordsPayload = { method: 'records', gatekeeper: provider, relationship: rel, servedAt: now(), pointers }
    return { payload, relationship: rel, patient }
  }

  async function bounty(req: GatekeeperRequest, requester: Address): Promise<Outcome> {
    const index = Number(req.index)
    const [b] = await client.relationships.bounties(requester, { offset: req.index, limit: 1 })
    if (b === undefined) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `${requester} owns no bounty #${index}: bounties belong to the author of the block that included the update`, { index })
    const rel = b.relationship.toLowerCase()
    if (req.relationship.toLowerCase() !== rel || req.pointerIds.length !== 1 || Number(req.pointerIds[0]) !== b.pointerId) {
      throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `bounty #${index} of ${requester} is for pointer ${b.pointerId} of ${rel}; the request must name exactly that`, { index })
    }
    await servedRelationship(rel, req.gatekeeper)
    servableBountyQuery(b.query, index)
    // Answered once: the first collection's signed reply, byte for byte, ever after.
    const payload = await modules.releases.answer({ owner: requester, index, relationship: rel, pointerId: b.pointerId, blockNumber: Number(b.blockNumber), query: b.query })
    return { payload, relationship: rel, patient: '' }
  }

  async function auditFor(req: GatekeeperRequest, requester: Address): Promise<Outcome> {
    const all = req.relationship.toLowerCase() === ZERO
    const wanted = all ? relationships.all().map((r) => r.relationship) : [req.relationship.toLowerCase()]
    const mine: string[] = []
    for (const rel of wanted) {
      if (relationships.get(rel) === undefined) continue
      // Only the relationships of the account asked: its chain is the one viewed.
      if (all) {
        if ((await servedRelationship(rel, req.gatekeeper).catch(() => undefined)) === undefined) continue
      } else await servedRelationship(rel, req.gatekeeper)
      const patient = await client.relationship(rel).patient()
      if (patient.toLowerCase() === requester.toLowerCase()) mine.push(rel)
    }
    // The head and the commitments go only to a patient with a relationship here.
    if (mine.length === 0) {
      throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, req.relationship.toLowerCase() === ZERO ? `${requester} is the patient of no relationship this gatekeeper serves` : `only the patient of ${req.relationship} may read its audit entries`)
    }
    // The account the request was addressed to (the verifier checked it is one of ours): a delegate's patient is not told the provider account.
    const payload: AuditPayload = { method: 'audit', gatekeeper: req.gatekeeper, view: auditOf(req.gatekeeper).view(mine) }
    return { payload, relationship: req.relationship.toLowerCase(), patient: requester }
  }

  return {
    /** Call when the head changes: chain reads are cached per head. */
    onHead(): void {
      chain.onHead()
    },
    handle,
    /**
     * A request refused by its transport before it could be read (not JSON, too big): audited in
     * the provider-only log and counted against the remote address like any unverified request.
     */
    reject(code: GatekeeperErrorCode, message: string, ctx: RequestContext = {}, retryAfter?: number): GatekeeperReply {
      const e = code === GatekeeperErrorCode.RATE_LIMITED ? rateLimited(retryAfter ?? 1, message) : new GatekeeperError(code, message)
      return refuse(e, undefined, '', false, ctx.remote ?? '', performance.now())
    },
  }

  async function handle(json: unknown, ctx: RequestContext = {}): Promise<GatekeeperReply> {
    const started = performance.now()
    const remote = ctx.remote ?? ''
    let requester = ''
    let verified = false
    let req: GatekeeperRequest | undefined
    try {
      // Unverified traffic spends the remote address's budget; once it is gone, refuse before the signature costs anything.
      const gate = limiter.peek(`remote:${remote}`)
      if (!gate.ok) throw rateLimited(gate.retryAfter, `too many unverified requests from ${remote === '' ? 'this address' : remote}`)
      const parsed = parseSignedRequest(json)
      const request = parsed.request
      req = request
      requester = parsed.from.toLowerCase()
      const { requester: signer, publicKey } = verifier.verify(parsed)
      verified = true
      const allowed = limiter.take(`requester:${requester}`)
      if (!allowed.ok) throw rateLimited(allowed.retryAfter, `too many requests from ${signer}`)
      nonces.use(signer, request.nonce, Number(request.expiresAt))
      const outcome = request.method === 'records' ? await records(request, signer) : request.method === 'bounty' ? await bounty(request, signer) : await auditFor(request, signer)
      // No access without its audit entry: if the append fails, the request fails.
      record(chainOf(request.gatekeeper), request, requester, outcome.patient, 'granted', 'ok', '', true)
      const encrypted = encryptTo(publicKey, new TextEncoder().encode(JSON.stringify(outcome.payload)))
      served(req, 'ok', started)
      return { status: 200, body: { ok: true, encrypted } }
    } catch (err) {
      const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the gatekeeper failed: ${errorMessage(err)}`, undefined, err)
      if (e.code === GatekeeperErrorCode.INTERNAL) log.warn('Request failed', { requester }, err)
      return refuse(e, req, requester, verified, remote, started)
    }
  }

  /**
   * Every refusal is audited. A request whose signature verified goes to the log its patient reads;
   * one that never verified (its `from` is only a claim) and every rate-limit refusal go to the
   * provider-only log, so a forger can neither write into a patient's view nor flood it.
   */
  function refuse(e: GatekeeperError, req: GatekeeperRequest | undefined, requester: string, verified: boolean, remote: string, started: number): GatekeeperReply {
    // The audit log is read by patients over the protocol: it names refusals by their wire code.
    const reason = `${wireCode(e.code)}: ${e.message}`
    if (e.code === GatekeeperErrorCode.RATE_LIMITED) {
      const key = verified ? `requester:${requester}` : `remote:${remote}`
      const earlier = refusals.next(key)
      if (earlier !== undefined) record(providerAudit, req, verified ? requester : requester === '' ? '' : `unverified:${requester}`, '', 'refused', earlier > 0 ? `${reason} (and ${earlier} more refused since the last such entry)` : reason, remote)
    } else if (verified && req !== undefined) {
      record(chainOf(req.gatekeeper), req, requester, '', 'refused', reason, '')
    } else {
      limiter.take(`remote:${remote}`)
      record(providerAudit, req, requester === '' ? '' : `unverified:${requester}`, '', 'refused', reason, remote)
    }
    // An internal failure's detail stays in the log; the requester learns only that it happened.
    const message = e.code === GatekeeperErrorCode.INTERNAL ? 'the gatekeeper could not answer; the provider has been told' : e.message
    served(req, e.code, started)
    const retryAfter = e.retryAfter
    return { status: e.httpStatus, body: { ok: false, error: { code: wireCode(e.code), message, ...(retryAfter === undefined ? {} : { retryAfter }) } }, ...(retryAfter === undefined ? {} : { retryAfter }) }
  }

  /** The addressed account's chain; it exists for every account the verifier accepts, and should it not, the entry is kept in the provider-only log rather than lost. */
  function chainOf(account: string): AuditLog {
    try {
      return auditOf(account)
    } catch (err) {
      log.error('No audit chain for the addressed account', { account }, err)
      return providerAudit
    }
  }

  function served(req: GatekeeperRequest | undefined, outcome: ServedRequest['outcome'], started: number): void {
    modules.onServed?.({ method: req?.method ?? 'unknown', outcome, seconds: (performance.now() - started) / 1000 })
  }

  function record(into: AuditLog, req: GatekeeperRequest | undefined, requester: string, patient: string, decision: 'granted' | 'refused', reason: string, remote: string, strict = false): void {
    try {
      into.append({
        requester,
        method: req?.method ?? 'unknown',
        relationship: req?.relationship.toLowerCase() ?? '',
        patient,
        // Decimal strings: a request may name any uint256 (2^256 − 1 too), and that refusal is audited like any other.
        pointerIds: (req?.pointerIds ?? []).map(String),
        fieldMasks: (req?.fieldMasks ?? []).map((m) => `0x${m.toString(16)}`),
        decision,
        reason: reason.slice(0, 500),
        nonce: req?.nonce ?? '',
        remote,
      })
    } catch (err) {
      log.error('Audit append failed', undefined, err)
      if (strict) throw err
    }
  }
}

export type GatekeeperServer = ReturnType<typeof createServer>

function searchset(resources: FhirResource[]): FhirBundle {
  return { resourceType: 'Bundle', type: 'searchset', total: resources.length, entry: resources.map((resource) => ({ fullUrl: `${resource.resourceType}/${resource.id}`, resource })) }
}
