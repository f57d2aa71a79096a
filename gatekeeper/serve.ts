import { keccak256, stringToHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { canonicalJson, fieldsOfMask, parseBountyQuery, parseRecordQuery, type MedRecClient } from '../contracts/client/index.ts'
import { createLogger, errorMessage } from '../common/index.ts'
import type { AuditLog } from './audit.ts'
import { buildProof } from './commitment.ts'
import { releaseCells } from './db/index.ts'
import { createEncryptor } from './ecies.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from './errors.ts'
import type { NonceStore } from './nonces.ts'
import { parseSignedRequest, type RequestVerifier } from './request.ts'
import type { RelationshipMap } from './state.ts'
import type { AggregateCell, EncryptedPayload, FhirBundle, FhirResource, GatekeeperRequest, PointerRecords, RecordSource } from './types.ts'

const log = createLogger('gatekeeper:serve')
const ZERO = '0x0000000000000000000000000000000000000000'

/** What every transport sends back: an HTTP-like status and a JSON body. */
export interface GatekeeperReply {
  status: number
  body: { ok: true; encrypted: EncryptedPayload } | { ok: false; error: { code: string; message: string } }
}

export interface ServeModules {
  /** Chain reads at this node's head, as the gatekeeper's account. */
  client: MedRecClient
  source: RecordSource
  verifier: RequestVerifier
  nonces: NonceStore
  audit: AuditLog
  relationships: RelationshipMap
  /** The provider account's key: signs bounty results. */
  privateKey: Hex
  /** Salts the field commitments (see commitment.ts). */
  secret: Uint8Array
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

export interface ServeOptions {
  /** k-anonymity of bounty aggregates. */
  k: number
}

/** The decrypted body of a records reply. */
export interface RecordsPayload {
  method: 'records'
  gatekeeper: string
  relationship: string
  servedAt: number
  pointers: PointerRecords[]
}

/** What the provider computed for a bounty, and signs. */
export interface BountyResultBody {
  owner: string
  index: number
  relationship: string
  pointerId: number
  blockNumber: number
  query: string
  provider: string
  k: number
  cells: AggregateCell[]
  suppressed: number
  computedAt: number
}

/** The decrypted body of a bounty reply. */
export interface BountyPayload {
  method: 'bounty'
  result: BountyResultBody
  signature: Hex
}

export interface AuditPayload {
  method: 'audit'
  gatekeeper: string
  head: { seq: number; hash: string }
  entries: ReturnType<AuditLog['entries']>
}

/** The hash the provider signs over a bounty result: keccak256 of its canonical JSON (signed EIP-191). */
export function bountyResultHash(result: BountyResultBody): Hex {
  return keccak256(stringToHex(canonicalJson(result)))
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
export function createServer(opts: ServeOptions, modules: ServeModules) {
  const { client, source, verifier, nonces, audit, relationships } = modules
  const account = privateKeyToAccount(modules.privateKey)
  const now = modules.now ?? (() => Math.floor(Date.now() / 1000))
  const encryptTo = createEncryptor()
  // The provider of a relationship never changes, and a factory-made relationship stays one.
  const providerOf = new Map<string, Address>()
  // Everything else is read at the head and remembered until the next head: the same head gives
  // the same answer, so a burst of requests pays for the chain reads once.
  let atHead = new Map<string, Promise<unknown>>()
  function headRead<T>(key: string, read: () => Promise<T>): Promise<T> {
    let p = atHead.get(key) as Promise<T> | undefined
    if (p === undefined) {
      p = read()
      const cache = atHead
      cache.set(key, p)
      p.catch(() => cache.delete(key))
      if (cache.size > 10_000) atHead = new Map()
    }
    return p
  }

  async function servedRelationship(rel: string): Promise<{ ppr: ReturnType<MedRecClient['relationship']>; patientId: string }> {
    const patientId = relationships.get(rel)
    if (patientId === undefined) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `this gatekeeper does not serve relationship ${rel}`, { relationship: rel })
    const ppr = client.relationship(rel)
    let provider = providerOf.get(rel)
    if (provider === undefined) {
      if (!(await client.relationships.isRelationship(rel))) throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `${rel} is not a relationship made by the Relationships contract`, { relationship: rel })
      provider = await ppr.provider()
      providerOf.set(rel, provider)
    }
    if (provider.toLowerCase() !== account.address.toLowerCase()) {
      throw new GatekeeperError(GatekeeperErrorCode.NOT_FOUND, `relationship ${rel} is stewarded by ${provider}, not by this gatekeeper`, { relationship: rel })
    }
    return { ppr, patientId }
  }

  async function records(req: GatekeeperRequest, requester: Address): Promise<Outcome> {
    const rel = req.relationship.toLowerCase()
    const { ppr, patientId } = await servedRelationship(rel)
    if (req.pointerIds.length === 0) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, 'a records request names at least one pointer')
    for (const [i, id] of req.pointerIds.entries()) {
      const mask = req.fieldMasks[i]!
      if (id >= 2n ** 32n) throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `pointer ${id} does not exist on ${rel}`)
      if (mask === 0n || mask >= 1n << 255n) throw new GatekeeperError(GatekeeperErrorCode.BAD_REQUEST, `field mask ${mask} of pointer ${id} must name at least one of the pointer's fields (bit i = field i, at most 255 fields)`)
    }
    const patient = await headRead(`patient:${rel}`, () => ppr.patient())
    const isParty = requester.toLowerCase() === patient.toLowerCase() || requester.toLowerCase() === account.address.toLowerCase()
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
      const q = parseRecordQuery(p.query).query
      const resources = await source.query(patientId, q)
      const { bundleResources, proof } = buildProof(modules.secret, rel as Address, pointerId, p.version, [...q.fields], resources, granted)
      pointers.push({ pointerId, query: p.query, dataHash: p.dataHash, version: p.version, fields: granted, bundle: searchset(bundleResources), proof })
    }
    const payload: RecordsPayload = { method: 'records', gatekeeper: account.address, relationship: rel, servedAt: now(), pointers }
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
    await servedRelationship(rel)
    const q = parseBountyQuery(b.query).query
    const { released, suppressed } = releaseCells(await source.aggregate(q), opts.k)
    if (released.length === 0) {
      throw new GatekeeperError(GatekeeperErrorCode.K_ANONYMITY, `no cell of bounty #${index} covers at least k=${opts.k} patients, so nothing can be released`, { index, k: opts.k })
    }
    const result: BountyResultBody = {
      owner: requester,
      index,
      relationship: rel,
      pointerId: b.pointerId,
      blockNumber: Number(b.blockNumber),
      query: b.query,
      provider: account.address,
      k: opts.k,
      cells: released,
      suppressed,
      computedAt: now(),
    }
    const signature = await account.signMessage({ message: { raw: bountyResultHash(result) } })
    const payload: BountyPayload = { method: 'bounty', result, signature }
    return { payload, relationship: rel, patient: '' }
  }

  async function auditFor(req: GatekeeperRequest, requester: Address): Promise<Outcome> {
    const wanted = req.relationship.toLowerCase() === ZERO ? relationships.all().map((r) => r.relationship) : [req.relationship.toLowerCase()]
    const mine: string[] = []
    for (const rel of wanted) {
      if (relationships.get(rel) === undefined) continue
      const patient = await client.relationship(rel).patient()
      if (patient.toLowerCase() === requester.toLowerCase()) mine.push(rel)
    }
    if (mine.length === 0 && req.relationship.toLowerCase() !== ZERO) {
      throw new GatekeeperError(GatekeeperErrorCode.FORBIDDEN, `only the patient of ${req.relationship} may read its audit entries`)
    }
    const payload: AuditPayload = { method: 'audit', gatekeeper: account.address, head: audit.head(), entries: mine.length === 0 ? [] : audit.entries({ relationships: mine as Address[] }) }
    return { payload, relationship: req.relationship.toLowerCase(), patient: requester }
  }

  return {
    /** Call when the head changes: chain reads are cached per head. */
    onHead(): void {
      atHead = new Map()
    },
    async handle(json: unknown): Promise<GatekeeperReply> {
      const started = performance.now()
      let requester = ''
      let req: GatekeeperRequest | undefined
      const served = (outcome: ServedRequest['outcome']) => modules.onServed?.({ method: req?.method ?? 'unknown', outcome, seconds: (performance.now() - started) / 1000 })
      try {
        const parsed = parseSignedRequest(json)
        const request = parsed.request
        req = request
        requester = parsed.from.toLowerCase()
        const { requester: signer, publicKey } = verifier.verify(parsed)
        nonces.use(signer, request.nonce, Number(request.expiresAt))
        const outcome = request.method === 'records' ? await records(request, signer) : request.method === 'bounty' ? await bounty(request, signer) : await auditFor(request, signer)
        // No access without its audit entry: if the append fails, the request fails.
        record(request, requester, outcome.patient, 'granted', 'ok', true)
        const encrypted = encryptTo(publicKey, new TextEncoder().encode(JSON.stringify(outcome.payload)))
        served('ok')
        return { status: 200, body: { ok: true, encrypted } }
      } catch (err) {
        const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the gatekeeper failed: ${errorMessage(err)}`, undefined, err)
        if (e.code === GatekeeperErrorCode.INTERNAL) log.warn('Request failed', { requester }, err)
        const unverified = e.code === GatekeeperErrorCode.BAD_SIGNATURE || e.code === GatekeeperErrorCode.BAD_REQUEST
        record(req, unverified && requester !== '' ? `unverified:${requester}` : requester, '', 'refused', `${e.code}: ${e.message}`)
        // An internal failure's detail stays in the log; the requester learns only that it happened.
        const message = e.code === GatekeeperErrorCode.INTERNAL ? 'the gatekeeper could not answer; the provider has been told' : e.message
        served(e.code)
        return { status: e.httpStatus, body: { ok: false, error: { code: e.code, message } } }
      }
    },
  }

  function record(req: GatekeeperRequest | undefined, requester: string, patient: string, decision: 'granted' | 'refused', reason: string, strict = false): void {
    try {
      audit.append({
        requester,
        method: req?.method ?? 'unknown',
        relationship: req?.relationship.toLowerCase() ?? '',
        patient,
        pointerIds: (req?.pointerIds ?? []).map(Number),
        fieldMasks: (req?.fieldMasks ?? []).map((m) => `0x${m.toString(16)}`),
        decision,
        reason: reason.slice(0, 500),
        nonce: req?.nonce ?? '',
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
