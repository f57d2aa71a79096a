import type { IncomingMessage, ServerResponse } from 'node:http'
import type { DatabaseSync } from 'node:sqlite'
import type { Address } from 'viem'
import { readBody } from '../http-body.ts'
import { RESOURCE_TYPES, type MedRecClient } from '../../contracts/client/index.ts'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { AuditLog } from '../audit.ts'
import { GatekeeperError, GatekeeperErrorCode, isGatekeeperError } from '../errors.ts'
import type { FhirAuthenticator, FhirPrincipal } from '../fhir/principal.ts'
import { createRateLimiter, type RateLimiter } from '../rate-limit.ts'
import type { RelationshipMap } from '../state.ts'
import { createAccessReader } from './access.ts'
import { createSmartClients, type SmartClient } from './clients.ts'
import { ExpiringMap, pkceMatches, randomId, S256_CHALLENGE, type CodeGrant, type PatientChoice, type PendingAuthorization } from './flow.ts'
import { choosePatientPage, errorPage, signInPage, type Page } from './page.ts'
import { formatScope, LAUNCH_PATIENT, narrowScopes, scopesOf, splitScopes } from './scopes.ts'
import { newSiweNonce, siweTemplate, verifySiwe, SIWE_MAX_LIFETIME_S } from './siwe.ts'
import { accessTokenKey, createTokenSigner, type AccessClaims } from './tokens.ts'

const log = createLogger('gatekeeper:smart')

/** Authorization codes live at most this long (RFC 6749 4.1.2 recommends at most 10 minutes; SMART apps redeem at once). */
export const CODE_LIFETIME_S = 60
export const DEFAULT_TOKEN_LIFETIME_S = 300
const MAX_FORM = 16 * 1024

export interface SmartModules {
  /** The gatekeeper's state.sqlite (registered clients). */
  db: DatabaseSync
  /** The gatekeeper secret: the token key is derived from it. */
  secret: Uint8Array
  /** Chain reads as the gatekeeper. */
  client: MedRecClient
  relationships: RelationshipMap
  /** Whether this gatekeeper serves as `address`. */
  ours(address: string): boolean
  chainId: number
  /** The gatekeeper's public base URL without a trailing slash (https://host:port): the issuer; the FHIR base is `${publicBase}/fhir`. */
  publicBase(): string
  /** The patient-facing audit chain of a serving account. */
  auditOf(account: string): AuditLog
  /** The provider-only log (failed sign-ins, refused token requests). */
  providerAudit: AuditLog
  /** Per remote address on the authorization endpoints; default 20/s, burst 200 (a launch takes three requests). */
  limiter?: RateLimiter
  tokenLifetimeSeconds?: number
  /** Unix seconds. */
  now?: () => number
}

type Form = Map<string, string>

/** Form or query parameters; undefined when one appears twice (RFC 6749 3.1: "MUST NOT be included more than once"). */
function params(search: URLSearchParams): Form | undefined {
  const out: Form = new Map()
  for (const [k, v] of search) {
    if (out.has(k)) return undefined
    out.set(k, v)
  }
  return out
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const text = await readBody(req, MAX_FORM)
  return text === undefined ? undefined : new URLSearchParams(text)
}

function sendPage(res: ServerResponse, p: Page): void {
  res.writeHead(p.status, { ...p.headers, 'content-length': Buffer.byteLength(p.html) })
  res.end(p.html)
}

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', pragma: 'no-cache', ...extra })
  res.end(text)
}

/** An OAuth error travelling as a redirect to the client (RFC 6749 4.1.2.1), once the client and its redirect URI are known good. */
function redirectTo(res: ServerResponse, redirectUri: string, query: Record<string, string | undefined>): void {
  const u = new URL(redirectUri)
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') u.searchParams.set(k, v)
  res.writeHead(302, { location: u.toString(), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 })
  res.end()
}

const CORS = { 'access-control-allow-origin': '*' }

/**
 * SMART App Launch 2.0 for the gatekeeper's FHIR API: discovery, the authorization code flow
 * with PKCE for registered public clients, sign-in by an EIP-4361 message, and access tokens
 * whose scope is what the chain lets the signed-in identity read. `authenticator` turns a
 * request's bearer token into the FHIR API's principal.
 */
export function createSmartAuth(m: SmartModules) {
  const now = m.now ?? (() => Math.floor(Date.now() / 1000))
  const clients = createSmartClients(m.db)
  const access = createAccessReader({ client: m.client, relationships: m.relationships, ours: m.ours, now })
  const limiter = m.limiter ?? createRateLimiter({ rate: 20, burst: 200 })
  const tokenLifetime = m.tokenLifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_S
  const fhirBase = () => `${m.publicBase()}/fhir`
  const signer = createTokenSigner({ key: accessTokenKey(m.secret), issuer: m.publicBase, audience: fhirBase, now })
  const pending = new ExpiringMap<PendingAuthorization>(now)
  const choices = new ExpiringMap<PatientChoice>(now)
  const codes = new ExpiringMap<CodeGrant>(now)
  const revoked = new ExpiringMap<true>(now)
  // Verified tokens, so a burst of reads with one token checks its signature once; expiry and revocation are checked every time.
  let verified = new Map<string, FhirPrincipal>()

  const domain = () => new URL(m.publicBase()).host
  const originOf = (uri: string) => new URL(uri).origin

  function configuration(): Record<string, unknown> {
    const base = m.publicBase()
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      introspection_endpoint: `${base}/oauth/introspect`,
      grant_types_supported: ['authorization_code'],
      token_endpoint_auth_methods_supported: ['none'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: [LAUNCH_PATIENT, 'patient/*.rs', 'user/*.rs', ...RESOURCE_TYPES.map((t) => `patient/${t}.rs`)],
      capabilities: ['launch-standalone', 'client-public', 'context-standalone-patient', 'permission-patient', 'permission-user', 'permission-v2', 'permission-v1', 'authorize-post'],
    }
  }

  function audit(into: AuditLog, e: { requester: string; method: string; relationship?: string; patient?: string; decision: 'granted' | 'refused'; reason: string; nonce?: string; remote?: string }, strict = false): void {
    try {
      into.append({ requester: e.requester, method: e.method, relationship: e.relationship ?? '', patient: e.patient ?? '', pointerIds: [], fieldMasks: [], decision: e.decision, reason: e.reason.slice(0, 500), nonce: e.nonce ?? '', remote: e.remote ?? '' })
    } catch (err) {
      log.error('Audit append failed', undefined, err)
      if (strict) throw err
    }
  }

  /** An authorization request (GET or POST): the client and redirect URI checked without redirecting, the rest answered at the redirect URI. */
  function authorizationRequest(res: ServerResponse, form: Form | undefined): void {
    if (form === undefined) return sendPage(res, errorPage(400, 'a parameter appears more than once in the authorization request'))
    const clientId = form.get('client_id') ?? ''
    const client = clients.get(clientId)
    if (client === undefined) return sendPage(res, errorPage(400, `no app with client_id "${clientId.slice(0, 80)}" is registered at this provider (medrec gatekeeper add-client)`))
    const redirectUri = form.get('redirect_uri') ?? ''
    if (!client.redirectUris.includes(redirectUri)) return sendPage(res, errorPage(400, `redirect_uri "${redirectUri.slice(0, 200)}" is not one registered for ${client.name}: it must match a registered URI exactly`))
    const state = form.get('state')
    const fail = (error: string, description: string) => redirectTo(res, redirectUri, { error, error_description: description, state })
    if (form.get('response_type') !== 'code') return fail('unsupported_response_type', 'only response_type=code (the authorization code flow) is supported')
    if (state === undefined || state === '' || state.length > 2000) return fail('invalid_request', 'state is required (SMART App Launch), at most 2000 characters')
    const method = form.get('code_challenge_method')
    const challenge = form.get('code_challenge') ?? ''
    if (method !== 'S256') return fail('invalid_request', `PKCE with code_challenge_method=S256 is required${method === undefined ? '' : `; ${method.slice(0, 20)} is refused`}`)
    if (!S256_CHALLENGE.test(challenge)) return fail('invalid_request', 'code_challenge must be the base64url SHA-256 of the code verifier (43 characters)')
    const aud = (form.get('aud') ?? '').replace(/\/+$/, '')
    if (aud !== fhirBase()) return fail('invalid_request', `aud must be this FHIR server's base URL, ${fhirBase()}`)
    const scopes = splitScopes(form.get('scope') ?? '')
    if (scopes === undefined) return fail('invalid_scope', 'scope must be SMART scopes separated by spaces, e.g. "launch/patient patient/*.rs"')
    if (narrowScopes(scopes, new Set(RESOURCE_TYPES)).scopes.length === 0) return fail('invalid_scope', 'no scope asks to read a resource type this server holds (SMART v2, e.g. patient/Observation.rs)')
    const t = now()
    const requestId = randomId(18)
    const p: PendingAuthorization = { clientId, clientName: client.name, redirectUri, state, scopes, codeChallenge: challenge, nonce: newSiweNonce(), issuedAt: t, expiresAt: t + SIWE_MAX_LIFETIME_S, attempts: 0 }
    pending.set(requestId, p, p.expiresAt)
    sendPage(res, signInPageFor(requestId, p))
  }

  function signInPageFor(requestId: string, p: PendingAuthorization, error?: string): Page {
    const { message, placeholder } = siweTemplate({ domain: domain(), uri: fhirBase(), chainId: m.chainId, nonce: p.nonce, issuedAt: p.issuedAt, expiresAt: p.expiresAt, requestId })
    const pg = signInPage({ requestId, clientName: p.clientName, scopes: p.scopes, message, placeholder, redirectOrigin: originOf(p.redirectUri), error })
    return error === undefined ? pg : { ...pg, status: 400 }
  }

  async function signIn(res: ServerResponse, form: Form, remote: string): Promise<void> {
    const requestId = form.get('request') ?? ''
    const p = pending.get(requestId)
    if (p === undefined) return sendPage(res, errorPage(400, 'this sign-in page expired or was already used: start again from the app'))
    let identity: `0x${string}`
    try {
      // A form's textarea travels with CRLF line breaks; EIP-4361 messages (and what was signed) have LF.
      identity = await verifySiwe((form.get('message') ?? '').replace(/\r\n/g, '\n'), form.get('signature') ?? '', { domain: domain(), uri: fhirBase(), chainId: m.chainId, nonce: p.nonce, now: now() })
    } catch (err) {
      const why = errorMessage(err)
      audit(m.providerAudit, { requester: '', method: 'smart-signin', decision: 'refused', reason: `client ${p.clientId}: ${why}`, remote })
      p.attempts++
      if (p.attempts >= 5) {
        pending.delete(requestId)
        return redirectTo(res, p.redirectUri, { error: 'access_denied', error_description: 'too many failed sign-ins', state: p.state })
      }
      return sendPage(res, signInPageFor(requestId, p, why))
    }
    // The nonce is spent: this message can never sign in again.
    pending.delete(requestId)
    audit(m.providerAudit, { requester: identity, method: 'smart-signin', decision: 'granted', reason: `signed in for client ${p.clientId}`, remote })
    const readable = await access.readableBy(identity as Address)
    const patients = readable.flatMap((r) => {
      const { granted } = narrowScopes(p.scopes, new Set(r.resourceTypes))
      return granted.length === 0 ? [] : [{ patientId: r.patientId, scope: granted.join(' '), relationships: r.relationships.map((x) => ({ relationship: x.relationship, provider: x.provider.toLowerCase(), patient: x.patient.toLowerCase() })) }]
    })
    if (patients.length === 0) {
      audit(m.providerAudit, { requester: identity, method: 'smart-authorize', decision: 'refused', reason: `client ${p.clientId}: nothing readable for scopes ${p.scopes.join(' ')}`.slice(0, 500), remote })
      return redirectTo(res, p.redirectUri, { error: 'access_denied', error_description: `the chain lets ${identity} read none of the requested records at this provider`, state: p.state })
    }
    const chosen = form.get('patient')
    const pick = patients.length === 1 ? patients[0] : patients.find((x) => x.patientId === chosen)
    if (pick !== undefined) return issueCode(res, p, identity, pick)
    const choiceId = randomId(18)
    choices.set(choiceId, { pending: p, identity, patients, expiresAt: now() + 300 }, now() + 300)
    sendPage(res, choosePatientPage({ choiceId, clientName: p.clientName, patients: patients.map((x) => ({ patientId: x.patientId, label: `Patient ${x.patientId} (${x.scope.split(' ').filter((s) => s !== LAUNCH_PATIENT).join(', ')})` })), redirectOrigin: originOf(p.redirectUri) }))
  }

  function choose(res: ServerResponse, form: Form): void {
    const id = form.get('choice') ?? ''
    const c = choices.get(id)
    if (c === undefined) return sendPage(res, errorPage(400, 'this choice expired or was already made: start again from the app'))
    const pick = c.patients.find((x) => x.patientId === form.get('patient'))
    if (pick === undefined) return sendPage(res, errorPage(400, 'choose one of the patients listed'))
    choices.delete(id)
    issueCode(res, c.pending, c.identity, pick)
  }

  function issueCode(res: ServerResponse, p: PendingAuthorization, identity: `0x${string}`, pick: PatientChoice['patients'][number]): void {
    const code = randomId(32)
    const expiresAt = now() + CODE_LIFETIME_S
    codes.set(code, { clientId: p.clientId, redirectUri: p.redirectUri, codeChallenge: p.codeChallenge, identity, patientId: pick.patientId, relationships: pick.relationships, scope: pick.scope, expiresAt, used: false }, expiresAt)
    redirectTo(res, p.redirectUri, { code, state: p.state })
  }

  async function token(req: IncomingMessage, res: ServerResponse, remote: string): Promise<void> {
    const fail = (status: number, error: string, description: string, audited = true) => {
      if (audited) audit(m.providerAudit, { requester: '', method: 'smart-token', decision: 'refused', reason: `${error}: ${description}`, remote })
      sendJson(res, status, { error, error_description: description }, CORS)
    }
    if (req.method !== 'POST') return fail(405, 'invalid_request', 'use POST with an application/x-www-form-urlencoded body', false)
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/x-www-form-urlencoded') return fail(400, 'invalid_request', 'the token request body must be application/x-www-form-urlencoded')
    const body = await readForm(req)
    const form = body === undefined ? undefined : params(body)
    if (form === undefined) return fail(400, 'invalid_request', `the body is larger than ${MAX_FORM} bytes or repeats a parameter`)
    if (form.get('grant_type') !== 'authorization_code') return fail(400, 'unsupported_grant_type', 'only grant_type=authorization_code is supported')
    const code = form.get('code') ?? ''
    const grant = codes.get(code)
    if (grant === undefined) return fail(400, 'invalid_grant', 'the code is unknown or expired')
    if (grant.used) {
      // RFC 6749 4.1.2: a code used twice revokes what it gave.
      if (grant.tokenId !== undefined) revoked.set(grant.tokenId, true, grant.tokenExpiresAt ?? now() + tokenLifetime)
      for (const r of grant.relationships) audit(auditFor(r.provider), { requester: grant.identity, method: 'smart-token', relationship: r.relationship, patient: r.patient, decision: 'refused', reason: `authorization code for client ${grant.clientId} used twice: token ${grant.tokenId ?? '(none)'} revoked`, nonce: grant.tokenId ?? '' })
      return fail(400, 'invalid_grant', 'the code was already used; the token issued from it is revoked')
    }
    // One redemption attempt per code, right or wrong: kept (used) until its token would have expired, to catch a replay.
    grant.used = true
    codes.set(code, grant, Math.max(grant.expiresAt, now() + tokenLifetime))
    if (now() >= grant.expiresAt) return fail(400, 'invalid_grant', 'the code expired')
    if (form.get('client_id') !== grant.clientId) return fail(400, 'invalid_grant', 'the code was issued to another client_id')
    if (clients.get(grant.clientId) === undefined) return fail(401, 'invalid_client', 'the client is no longer registered')
    if (form.get('redirect_uri') !== grant.redirectUri) return fail(400, 'invalid_grant', 'redirect_uri differs from the one the code was issued for')
    if (!pkceMatches(form.get('code_verifier') ?? '', grant.codeChallenge)) return fail(400, 'invalid_grant', 'code_verifier does not match the code_challenge (PKCE S256)')
    const { token: accessToken, claims } = await signer.issue({ sub: grant.identity, patient: grant.patientId, scope: grant.scope, client_id: grant.clientId, rels: grant.relationships.map((r) => r.relationship) }, tokenLifetime)
    try {
      // No token without its entry in the patient's audit chain.
      for (const r of grant.relationships) {
        audit(auditFor(r.provider), { requester: grant.identity, method: 'smart-token', relationship: r.relationship, patient: r.patient, decision: 'granted', reason: `SMART access token ${claims.jti} issued to client ${grant.clientId} for ${grant.scope}, until ${new Date(claims.exp * 1000).toISOString()}`, nonce: claims.jti }, true)
      }
    } catch {
      return fail(500, 'server_error', 'the token could not be audited, so it was not issued', false)
    }
    grant.tokenId = claims.jti
    grant.tokenExpiresAt = claims.exp
    sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: tokenLifetime, scope: grant.scope, patient: grant.patientId }, CORS)
  }

  function auditFor(account: string): AuditLog {
    try {
      return m.auditOf(account)
    } catch {
      return m.providerAudit
    }
  }

  /**
   * RFC 7662 introspection, for the token's own holder (it authenticates with the token it asks
   * about, so it learns nothing of other tokens): active only while the token verifies, is not
   * revoked, and the chain still lets its identity read its patient here.
   */
  async function introspect(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'use POST with token=…' }, CORS)
    const body = await readForm(req)
    const form = body === undefined ? undefined : params(body)
    const tokenText = form?.get('token')
    if (tokenText === undefined) return sendJson(res, 400, { error: 'invalid_request', error_description: 'send token=<access token> as a form' }, CORS)
    if (req.headers.authorization !== `Bearer ${tokenText}`) return sendJson(res, 401, { error: 'invalid_client', error_description: 'authenticate with the token asked about: Authorization: Bearer <that token>' }, { ...CORS, 'www-authenticate': 'Bearer' })
    let p: FhirPrincipal
    try {
      p = await authenticator.authenticate(req.headers.authorization)
    } catch {
      return sendJson(res, 200, { active: false }, CORS)
    }
    const readable = await access.readableBy(p.identity as Address)
    const still = readable.find((r) => r.patientId === p.patient)
    const scopes = still === undefined ? [] : narrowScopes(p.scopes.map(formatScope), new Set(still.resourceTypes)).granted
    if (scopes.length === 0) return sendJson(res, 200, { active: false }, CORS)
    sendJson(res, 200, { active: true, scope: scopes.join(' '), client_id: p.clientId, sub: p.identity, patient: p.patient, exp: p.expiresAt, token_type: 'Bearer', jti: p.tokenId }, CORS)
  }

  const authenticator: FhirAuthenticator = {
    async authenticate(authorization: string | undefined): Promise<FhirPrincipal> {
      if (authorization === undefined || authorization === '') throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'send "Authorization: Bearer <access token>" from a SMART launch (see /.well-known/smart-configuration)')
      const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(authorization)
      if (match === null) throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'the Authorization header is not "Bearer <access token>"')
      const tokenText = match[1]!
      let p = verified.get(tokenText)
      if (p === undefined) {
        const c: AccessClaims = await signer.verify(tokenText)
        p = { identity: c.sub, patient: c.patient, relationships: c.rels, scopes: scopesOf(c.scope), clientId: c.client_id, tokenId: c.jti, expiresAt: c.exp }
        if (verified.size >= 10_000) verified = new Map()
        verified.set(tokenText, p)
      }
      if (now() >= p.expiresAt) {
        verified.delete(tokenText)
        throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'the access token expired: get a new one by launching again')
      }
      if (revoked.get(p.tokenId) !== undefined) throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'the access token was revoked (its authorization code was used twice)')
      // A copy: the caller may not change what the next request with this token is given.
      return { ...p, relationships: [...p.relationships], scopes: p.scopes.map((s) => ({ ...s })) }
    },
  }

  return {
    clients,
    authenticator,
    configuration,
    /** Serves /.well-known/smart-configuration, /fhir/.well-known/smart-configuration and /oauth/*; false for any other path. */
    async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      const path = url.pathname
      if (path === '/.well-known/smart-configuration' || path === '/fhir/.well-known/smart-configuration') {
        if (req.method !== 'GET') sendJson(res, 405, { error: 'invalid_request', error_description: 'use GET' }, CORS)
        else sendJson(res, 200, configuration(), { ...CORS, 'cache-control': 'max-age=300' })
        return true
      }
      if (path !== '/oauth/authorize' && path !== '/oauth/token' && path !== '/oauth/introspect') return false
      const remote = req.socket.remoteAddress ?? ''
      if (req.method === 'OPTIONS' && path !== '/oauth/authorize') {
        res.writeHead(204, { ...CORS, 'access-control-allow-methods': 'POST', 'access-control-allow-headers': 'content-type, authorization', 'access-control-max-age': '600' })
        res.end()
        return true
      }
      const gate = limiter.take(`smart:${remote}`)
      if (!gate.ok) {
        res.setHeader('retry-after', String(gate.retryAfter))
        if (path !== '/oauth/authorize') sendJson(res, 429, { error: 'slow_down', error_description: `too many requests from this address: try again in ${gate.retryAfter} s` }, CORS)
        else sendPage(res, errorPage(429, `too many requests from this address: try again in ${gate.retryAfter} s`))
        return true
      }
      try {
        if (path === '/oauth/token') await token(req, res, remote)
        else if (path === '/oauth/introspect') await introspect(req, res)
        else if (req.method === 'GET') authorizationRequest(res, params(url.searchParams))
        else if (req.method === 'POST') {
          const body = await readForm(req)
          const form = body === undefined ? undefined : params(body)
          if (form === undefined) sendPage(res, errorPage(400, `the form is larger than ${MAX_FORM} bytes or repeats a field`))
          else if (form.has('response_type')) authorizationRequest(res, form)
          else if (form.has('choice')) choose(res, form)
          else await signIn(res, form, remote)
        } else sendPage(res, errorPage(405, 'use GET or POST'))
      } catch (err) {
        log.warn('SMART authorization failed', { path }, err)
        if (!res.headersSent) {
          if (path !== '/oauth/authorize') sendJson(res, 500, { error: 'server_error', error_description: 'the authorization server failed; the provider has been told' }, CORS)
          else sendPage(res, errorPage(500, isGatekeeperError(err) && err.code !== GatekeeperErrorCode.INTERNAL ? err.message : 'the authorization server failed; the provider has been told'))
        }
      }
      return true
    },
  }
}

export type SmartAuth = ReturnType<typeof createSmartAuth>
export type { SmartClient }
