import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody } from '../http-body.ts'
import { RESOURCE_TYPES, type MedRecClient, type ResourceType } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { AuditInput, AuditLog } from '../audit.ts'
import { createChainReads } from '../chain-reads.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError, rateLimited } from '../errors.ts'
import { project } from '../fhir-path.ts'
import { createRateLimiter, createRefusalCoalescer, type RateLimiter } from '../rate-limit.ts'
import type { RelationshipMap } from '../state.ts'
import type { FhirResource, RecordSource } from '../types.ts'
import { createReadableReader, type ReadableRelationship } from './access.ts'
import { batchResponse, MAX_BATCH_ENTRIES, parseBatch, type BatchRequest, type BatchResult } from './batch.ts'
import { capabilityBytes, capabilityStatement, type OAuthUris } from './capability.ts'
import { maskWithheld, REDACTED } from './masking.ts'
import { fhirError, sendFhir, sendFhirBytes, sendPreflight, sendRefusal } from './outcome.ts'
import type { FhirAuthenticator, FhirPrincipal } from './principal.ts'
import { FHIR_ID, matches, parseSearch, type SearchRequest } from './search-params.ts'

const log = createLogger('gatekeeper:fhir')

/** A form-encoded POST _search is small; anything bigger is refused unread. */
const MAX_FORM = 16 * 1024
/** A batch of MAX_BATCH_ENTRIES GETs fits easily. */
const MAX_BATCH_BODY = 64 * 1024

export interface FhirApiModules {
  source: RecordSource
  /** Chain reads at this node's head. */
  client: MedRecClient
  relationships: RelationshipMap
  /** The audit chain of a serving account (the relationship's provider: the authority or a delegate). */
  auditOf(account: string): AuditLog
  /** Refusals with no identity behind them (no or a bad token, over the address's rate). */
  providerAudit: AuditLog
  /** Turns the Authorization header into a principal (SMART access tokens: gatekeeper/smart/). */
  authenticator: FhirAuthenticator
  /** The FHIR base URL clients reach (`https://host:port/fhir`): fullUrls and links are absolute. */
  baseUrl(): string
  /** Whether this gatekeeper serves as `address` (its account or one of its delegates). */
  ours(address: string): boolean
  /** The SMART authorize and token endpoints; default `<origin>/oauth/authorize` and `/oauth/token`. */
  oauth?: () => OAuthUris
  /** Per identity (`requester:0x…`, shared with signed requests) and per remote address for refused tokens; absent: no limit. */
  limiter?: RateLimiter
  /** As serve.ts: a staged version of a pointer's records is served once the chain names its hash (publish.ts). */
  settle?: (relationship: string, pointerId: number, onChain: { version: number; dataHash: string }) => void
  /** Unix seconds. */
  now?: () => number
}

export interface FhirApi {
  /** Answers a request under /fhir (true), or leaves it to other routes (false). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>
  /** Call at every new head: chain reads are cached per head. */
  onHead(): void
}

type Interaction = { kind: 'search'; type: ResourceType; params: URLSearchParams } | { kind: 'read'; type: ResourceType; id: string } | { kind: 'everything'; id: string; params: URLSearchParams }

/** What a served interaction read: per relationship, the pointers (and masks) whose records went out. */
type Reads = Map<ReadableRelationship, Set<number>>

const isResourceType = (t: string): t is ResourceType => (RESOURCE_TYPES as readonly string[]).includes(t)

/**
 * The FHIR R4 REST API at /fhir: metadata, read, search (GET and POST _search), Patient
 * $everything. Read-only; every answer but metadata needs a principal from the authenticator and
 * is decided from the chain at the head; every read, served or refused, is audited.
 */
export function createFhirApi(modules: FhirApiModules): FhirApi {
  const { source, authenticator } = modules
  const now = modules.now ?? (() => Math.floor(Date.now() / 1000))
  const limiter = modules.limiter ?? createRateLimiter({ rate: 0, burst: 0 })
  const refusals = createRefusalCoalescer(10_000)
  const chain = createChainReads({ client: modules.client, relationships: modules.relationships, ours: modules.ours })
  const reader = createReadableReader({ chain, now })
  const base = () => modules.baseUrl().replace(/\/+$/, '')
  const oauth = (): OAuthUris => {
    if (modules.oauth !== undefined) return modules.oauth()
    const origin = new URL(base()).origin
    return { authorize: `${origin}/oauth/authorize`, token: `${origin}/oauth/token` }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname !== '/fhir' && !url.pathname.startsWith('/fhir/')) return false
    if (req.method === 'OPTIONS') {
      sendPreflight(res)
      return true
    }
    try {
      const interaction = await parseRoute(req.method ?? 'GET', url, () => readForm(req))
      if (interaction === 'metadata') sendFhirBytes(res, 200, capabilityBytes(base(), oauth()))
      else if (interaction === 'batch') await batch(req, res)
      else {
        const remote = req.socket.remoteAddress ?? ''
        const principal = await authenticate(req, describe(interaction), remote)
        sendFhir(res, 200, await serveAudited(principal, interaction, remote))
      }
    } catch (err) {
      const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the FHIR API failed: ${errorMessage(err)}`, undefined, err)
      if (e.code === GatekeeperErrorCode.INTERNAL) log.warn('FHIR request failed', { path: url.pathname }, err)
      // An internal failure's detail stays in the log.
      sendRefusal(res, e.code === GatekeeperErrorCode.INTERNAL ? new GatekeeperError(e.code, 'the gatekeeper could not answer; the provider has been told') : e)
    }
    return true
  }

  /** The interaction a method and path ask for; 404/405/400 for anything else (before any credential is looked at). */
  async function parseRoute(method: string, url: URL, form: () => Promise<URLSearchParams>): Promise<Interaction | 'metadata' | 'batch'> {
    const raw = url.pathname === '/fhir' ? [] : url.pathname.slice('/fhir/'.length).split('/')
    const segments = raw.map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        throw fhirError(GatekeeperErrorCode.BAD_REQUEST, 'the path is not valid percent-encoding')
      }
    })
    const only = (allowed: string) => {
      if (method !== allowed) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `${method} is not supported here: this server is read-only; use ${allowed}`, 405, { allow: allowed })
    }
    if (segments.length === 1 && segments[0] === 'metadata') {
      only('GET')
      return 'metadata'
    }
    // The base, with or without its trailing slash (fhir-kit-client posts batches to `<base>/`).
    if (segments.join('') === '' && segments.length <= 1 && method === 'POST') return 'batch'
    const type = segments[0] ?? ''
    if (type === '' || !isResourceType(type)) {
      throw fhirError(GatekeeperErrorCode.NOT_FOUND, type === '' ? 'no interaction at the FHIR base: see GET /fhir/metadata' : `unknown resource type ${type.slice(0, 64)}: this server holds ${RESOURCE_TYPES.join(', ')}`)
    }
    const checkId = (id: string): string => {
      if (!FHIR_ID.test(id)) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `"${id.slice(0, 80)}" is not a FHIR id ([A-Za-z0-9.-], 1 to 64 characters)`)
      return id
    }
    if (segments.length === 1) {
      only('GET')
      return { kind: 'search', type, params: url.searchParams }
    }
    if (segments.length === 2 && segments[1] === '_search') {
      only('POST')
      const params = new URLSearchParams(url.searchParams)
      for (const [k, v] of await form()) params.append(k, v)
      return { kind: 'search', type, params }
    }
    if (segments.length === 2) {
      only('GET')
      if (url.search !== '' && [...url.searchParams.keys()].some((k) => k !== '_format')) throw fhirError(GatekeeperErrorCode.UNSUPPORTED_SEARCH, 'a read by id takes no search parameters')
      return { kind: 'read', type, id: checkId(segments[1]!) }
    }
    if (segments.length === 3 && type === 'Patient' && segments[2] === '$everything') {
      only('GET')
      return { kind: 'everything', id: checkId(segments[1]!), params: url.searchParams }
    }
    throw fhirError(GatekeeperErrorCode.NOT_FOUND, `no route ${url.pathname.slice(0, 120)}: this server has read, search and Patient/<id>/$everything (see /fhir/metadata)`)
  }

  /** The token's principal; without a valid one, the refusal (audited, and counted against the remote address). */
  async function authenticate(req: IncomingMessage, what: string, remote: string): Promise<FhirPrincipal> {
    // Without a valid token: the remote address's budget; once it is gone, refuse before the token costs anything.
    const gate = limiter.peek(`remote:${remote}`)
    if (!gate.ok) throw refusedUnverified(rateLimited(gate.retryAfter, `too many refused FHIR requests from ${remote === '' ? 'this address' : remote}`), what, remote)
    try {
      const principal = await authenticator.authenticate(req.headers.authorization)
      if (principal.expiresAt <= now()) throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'the access token has expired: get a new one from the token endpoint')
      return principal
    } catch (err) {
      const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, `the access token was not accepted: ${errorMessage(err)}`)
      limiter.take(`remote:${remote}`)
      throw refusedUnverified(e, what, remote)
    }
  }

  /** One interaction for an authenticated principal: rate-limited per identity, decided at the head, and audited, served or refused. */
  async function serveAudited(principal: FhirPrincipal, interaction: Interaction, remote: string): Promise<unknown> {
    const what = describe(interaction)
    const identity = principal.identity.toLowerCase()
    const allowed = limiter.take(`requester:${identity}`)
    if (!allowed.ok) {
      const e = rateLimited(allowed.retryAfter, `too many requests from ${identity}`)
      const earlier = refusals.next(`requester:${identity}`)
      if (earlier !== undefined) append(modules.providerAudit, { ...entry(identity, '', '', [], 'refused', `${reasonOf(e)} (FHIR ${what}, token ${principal.tokenId})${earlier > 0 ? ` (and ${earlier} more refused since the last such entry)` : ''}`), remote })
      throw e
    }
    try {
      const { body, reads } = await serve(interaction, principal)
      // No access without its audit entry: the answer waits for the entries' commit (one group
      // commit for the reads of this event-loop turn), and if an append fails, the request fails.
      const appended: Promise<unknown>[] = []
      for (const [rel, pointerIds] of reads) {
        const used = rel.pointers.filter((p) => pointerIds.has(p.pointerId))
        appended.push(modules.auditOf(rel.provider).appendSoon(entry(identity, rel.relationship, rel.patient, used.map((p) => String(p.pointerId)), 'granted', `FHIR ${what} (token ${principal.tokenId}, client ${principal.clientId})`, used.map((p) => p.mask))))
      }
      await settled(appended)
      return body
    } catch (err) {
      const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the FHIR API failed: ${errorMessage(err)}`, undefined, err)
      if (e.code === GatekeeperErrorCode.INTERNAL) log.warn('FHIR request failed', { identity }, err)
      await auditRefusal(principal, e, what)
      throw e
    }
  }

  /**
   * A batch (batch.ts): one token for the whole Bundle, then each entry as its own request, one
   * after another, each taking its share of the identity's rate and its own audit entry. An
   * entry's refusal is that entry's status; the batch itself is 200.
   */
  async function batch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress ?? ''
    const requests = parseBatch(await readJson(req))
    const principal = await authenticate(req, `batch of ${requests.length}`, remote)
    const results: BatchResult[] = []
    for (const r of requests) {
      try {
        const interaction = await entryRoute(r)
        results.push({ ok: true, resource: interaction === 'metadata' ? capabilityStatement(base(), oauth()) : await serveAudited(principal, interaction, remote) })
      } catch (err) {
        const e = isGatekeeperError(err) ? err : new GatekeeperError(GatekeeperErrorCode.INTERNAL, `the FHIR API failed: ${errorMessage(err)}`, undefined, err)
        results.push({ ok: false, error: e.code === GatekeeperErrorCode.INTERNAL ? new GatekeeperError(e.code, 'the gatekeeper could not answer; the provider has been told') : e })
      }
    }
    sendFhir(res, 200, batchResponse(results))
  }

  /** A batch entry's interaction: a GET of a URL at this base (relative, or absolute under it). */
  async function entryRoute(r: BatchRequest): Promise<Interaction | 'metadata'> {
    if (r.method.toUpperCase() !== 'GET') throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `${r.method.slice(0, 16)} is not supported in a batch: this server is read-only, so every entry is a GET (search with GET too)`, 405, { allow: 'GET' })
    const root = `${base()}/`
    let url: URL
    try {
      url = new URL(r.url, root)
    } catch {
      throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `entry url "${r.url.slice(0, 80)}" is not a URL`)
    }
    if (!url.href.startsWith(root)) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `entry url "${r.url.slice(0, 80)}" is not at this server's FHIR base ${base()}: give it relative to the base (e.g. Observation?code=…)`)
    // parseRoute reads paths as this server's own routes see them: /fhir/<rest>.
    const local = new URL(`/fhir/${url.href.slice(root.length).split('#')[0]!}`, 'http://local')
    const route = await parseRoute('GET', local, () => Promise.reject(new Error('a GET has no form')))
    if (route === 'batch') throw fhirError(GatekeeperErrorCode.BAD_REQUEST, 'a batch cannot hold a batch')
    return route
  }

  /** A refusal of an identity: in the chain of each of the token's relationships here (its patient reads it), else the provider's log. */
  async function auditRefusal(p: FhirPrincipal, e: GatekeeperError, what: string): Promise<void> {
    const identity = p.identity.toLowerCase()
    const reason = `${reasonOf(e)} (FHIR ${what}, token ${p.tokenId}, client ${p.clientId})`
    const rels = await reader.relationshipsOf(p).catch(() => [])
    if (rels.length === 0) return append(modules.providerAudit, entry(identity, '', '', [], 'refused', reason))
    for (const r of rels) {
      const patient = await chain.atHead(`patient:${r.relationship}`, () => r.ppr.patient()).catch(() => '')
      append(modules.auditOf(r.provider), entry(identity, r.relationship, patient, [], 'refused', reason))
    }
  }

  function refusedUnverified(e: GatekeeperError, what: string, remote: string): GatekeeperError {
    if (e.code !== GatekeeperErrorCode.RATE_LIMITED) append(modules.providerAudit, { ...entry('', '', '', [], 'refused', `${reasonOf(e)} (FHIR ${what})`), remote })
    else {
      const earlier = refusals.next(`remote:${remote}`)
      if (earlier !== undefined) append(modules.providerAudit, { ...entry('', '', '', [], 'refused', `${reasonOf(e)} (FHIR ${what})${earlier > 0 ? ` (and ${earlier} more refused since the last such entry)` : ''}`), remote })
    }
    return e
  }

  function append(into: AuditLog, input: AuditInput): void {
    try {
      into.append(input)
    } catch (err) {
      log.error('Audit append failed', undefined, err)
    }
  }

  async function serve(interaction: Interaction, p: FhirPrincipal): Promise<{ body: unknown; reads: Reads }> {
    const reads: Reads = new Map()
    if (interaction.kind === 'read') {
      const { type, id } = interaction
      needScope(p, type, 'read')
      if (type === 'Patient') launchPatient(p, id)
      const found = await collect(p, [type], { ids: new Set([id]), patients: [], tokens: [], dates: [], count: 1, offset: 0, echo: [] }, reads)
      if (found.length === 0) throw fhirError(GatekeeperErrorCode.NOT_FOUND, `no ${type}/${id} that this token may read`)
      return { body: found[0], reads }
    }
    if (interaction.kind === 'search') {
      const { type, params } = interaction
      needScope(p, type, 'search')
      const s = parseSearch(type, params)
      for (const named of s.patients) launchPatient(p, named)
      if (type === 'Patient' && s.ids !== undefined) for (const id of s.ids) launchPatient(p, id)
      const found = await collect(p, [type], s, reads)
      return { body: bundle(found, s, `${base()}/${type}`), reads }
    }
    const { id, params } = interaction
    launchPatient(p, id)
    const s = parseSearch('$everything', params)
    for (const t of s.types ?? []) if (!isResourceType(t)) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `_type ${t.slice(0, 64)} is not a resource type of this server: ${RESOURCE_TYPES.join(', ')}`)
    const types = RESOURCE_TYPES.filter((t) => (s.types === undefined || s.types.has(t)) && allows(p, t, 'search'))
    if (types.length === 0) throw fhirError(GatekeeperErrorCode.FORBIDDEN, `the token's scopes allow searching none of the types asked for: ask for patient/<Type>.rs scopes`)
    const found = await collect(p, types, s, reads)
    return { body: bundle(found, s, `${base()}/Patient/${id}/$everything`), reads }
  }

  /**
   * The records of `types` the principal may read, projected, masked, filtered by the search and
   * sorted (by type in server order, then id). Records reach the result only through the
   * relationship's on-chain pointers of the type; the same record in two pointers is projected
   * once to the union of their fields. Notes in `reads` which pointers released records.
   */
  async function collect(p: FhirPrincipal, types: readonly ResourceType[], s: SearchRequest, reads: Reads): Promise<FhirResource[]> {
    const { served } = await reader.readable(p)
    if (served.length === 0) throw fhirError(GatekeeperErrorCode.FORBIDDEN, `the chain lets ${p.identity} read nothing of Patient/${p.patient} at this gatekeeper: no relationship of the token is readable (not the patient's, no active grant, revoked, expired or terminated)`)
    const out: FhirResource[] = []
    for (const type of types) {
      const byId = new Map<string, { original: FhirResource; paths: Set<string>; from: [ReadableRelationship, number][] }>()
      for (const rel of served) {
        for (const ptr of rel.pointers) {
          if (ptr.query.resourceType !== type) continue
          modules.settle?.(rel.relationship, ptr.pointerId, ptr.onChain)
          for (const r of await source.query(rel.patientId, ptr.query)) {
            if (r.resourceType !== type || typeof r.id !== 'string') continue
            const e = byId.get(r.id) ?? { original: r, paths: new Set<string>(), from: [] }
            for (const path of ptr.paths) e.paths.add(path)
            e.from.push([rel, ptr.pointerId])
            byId.set(r.id, e)
          }
        }
      }
      const found: FhirResource[] = []
      for (const { original, paths, from } of byId.values()) {
        const r = maskWithheld(original, project(original, [...paths]))
        if (!matches(r, s)) continue
        found.push(r)
        for (const [rel, pointerId] of from) {
          const set = reads.get(rel) ?? new Set<number>()
          set.add(pointerId)
          reads.set(rel, set)
        }
      }
      // The launch patient is always there to be read (its id is the token's context): bare, if no Patient pointer is readable.
      if (type === 'Patient' && byId.size === 0) {
        const bare: FhirResource = { resourceType: 'Patient', id: p.patient, meta: { security: [{ ...REDACTED }] } }
        if (matches(bare, s)) found.push(bare)
      }
      found.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      out.push(...found)
    }
    return out
  }

  function bundle(all: FhirResource[], s: SearchRequest, self: string): Record<string, unknown> {
    const page = all.slice(s.offset, s.offset + s.count)
    const link = (offset: number) => {
      const q = new URLSearchParams(s.echo)
      q.set('_count', String(s.count))
      q.set('_offset', String(offset))
      return `${self}?${q.toString()}`
    }
    const links = [{ relation: 'self', url: link(s.offset) }]
    if (s.offset + s.count < all.length) links.push({ relation: 'next', url: link(s.offset + s.count) })
    if (s.offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, s.offset - s.count)) })
    const root = base()
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: all.length,
      link: links,
      entry: page.map((resource) => ({ fullUrl: `${root}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } })),
    }
  }

  /** A patient named by a request must be the token's launch patient (`id`, `Patient/id` or its absolute URL). */
  function launchPatient(p: FhirPrincipal, named: string): void {
    const ok = [p.patient, `Patient/${p.patient}`, `${base()}/Patient/${p.patient}`]
    if (!ok.includes(named)) throw fhirError(GatekeeperErrorCode.FORBIDDEN, `this token reads Patient/${p.patient} only (its launch context), not ${named.slice(0, 80)}`)
  }

  function needScope(p: FhirPrincipal, type: string, kind: 'read' | 'search'): void {
    if (!allows(p, type, kind)) throw fhirError(GatekeeperErrorCode.FORBIDDEN, `the token's scopes do not allow ${kind === 'read' ? 'reading' : 'searching'} ${type}: ask for patient/${type}.${kind === 'read' ? 'r' : 's'} (or .rs)`)
  }

  return { handle, onHead: () => chain.onHead() }
}

/** Waits for all of `work` (none left running), then throws the first failure. */
async function settled(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
}

function allows(p: FhirPrincipal, type: string, kind: 'read' | 'search'): boolean {
  return p.scopes.some((s) => (s.resourceType === type || s.resourceType === '*') && s[kind])
}

function describe(i: Interaction): string {
  return i.kind === 'read' ? `read ${i.type}/${i.id}` : i.kind === 'search' ? `search-type ${i.type}` : `Patient/${i.id}/$everything`
}

function reasonOf(e: GatekeeperError): string {
  return `${e.code.slice('GATEKEEPER_'.length)}: ${e.message}`.slice(0, 400)
}

function entry(requester: string, relationship: string, patient: string, pointerIds: string[], decision: 'granted' | 'refused', reason: string, fieldMasks: string[] = []): AuditInput {
  return { requester, method: 'records', relationship, patient, pointerIds, fieldMasks, decision, reason: reason.slice(0, 500), nonce: '', remote: '' }
}

/** A batch body: FHIR JSON, at most MAX_BATCH_BODY bytes. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/fhir+json' && type !== 'application/json') throw fhirError(GatekeeperErrorCode.BAD_REQUEST, 'POST to the FHIR base takes a batch Bundle as application/fhir+json', 415)
  const text = await readBody(req, MAX_BATCH_BODY)
  if (text === undefined) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `the batch body exceeds ${MAX_BATCH_BODY} bytes: at most ${MAX_BATCH_ENTRIES} entries`, 413)
  try {
    return JSON.parse(text)
  } catch {
    throw fhirError(GatekeeperErrorCode.BAD_REQUEST, 'the batch body is not JSON')
  }
}

/** A POST _search body: application/x-www-form-urlencoded, at most MAX_FORM bytes. */
function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    return Promise.reject(fhirError(GatekeeperErrorCode.BAD_REQUEST, 'POST _search takes its parameters as application/x-www-form-urlencoded', 415))
  }
  return readBody(req, MAX_FORM).then((text) => {
    if (text === undefined) throw fhirError(GatekeeperErrorCode.BAD_REQUEST, `the _search body exceeds ${MAX_FORM} bytes`, 413)
    return new URLSearchParams(text)
  })
}
