import t, { type Test } from 'tap'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, request as httpsRequest } from 'node:https'
import { getCACertificates, setDefaultCACertificates } from 'node:tls'
import { Client } from 'fhir-kit-client'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { createSiweMessage } from 'viem/siwe'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import { accessTokenKey } from '../../gatekeeper/smart/tokens.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { rpc, startNodeProcess, tempDir, type NodeProcess } from '../helpers/node-process.ts'
import { medrec } from '../cli/run-cli.ts'
import { launchChromium } from '../helpers/browser.ts'

/**
 * SMART App Launch 2.0 against a real node's gatekeeper over HTTP: a public client registered with
 * the CLI runs discovery, authorize with PKCE, sign-in with Ethereum (a viem account signs the
 * EIP-4361 message the page shows), code and token; then every rule is attacked the way a hostile
 * app, a phishing page or a stolen code would, and nothing is issued.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 5 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const [PROVIDER, ALICE, BOB, VIEWER, STRANGER] = [0, 1, 2, 3, 4] as const
const addr = (i: number): Address => accounts[i]!.address
const CHAIN_ID = 1337
const CLIENT = 'test-app'
const REDIRECT = 'http://127.0.0.1:9/callback'

let node: NodeProcess
let dir: ReturnType<typeof tempDir>
let gk: string
let agent: Agent

/** What the test reads of a reply (a small fetch over node:https: the gatekeeper's self-signed certificate is the only CA trusted). */
interface Reply {
  status: number
  headers: { get(name: string): string | null }
  text(): Promise<string>
  json(): Promise<unknown>
}

function fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; redirect?: 'manual' } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { agent, method: init.method ?? 'GET', headers: { ...init.headers, ...(init.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(init.body)) }) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const h = res.headers
        resolve({ status: res.statusCode ?? 0, headers: { get: (n) => { const v = h[n.toLowerCase()]; return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v } }, text: async () => text, json: async () => JSON.parse(text) as unknown })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(init.body)
  })
}
const clients: MedRecClient[] = []
let aliceRel: Address
let alicePatient: string
let bobPatient: string

t.before(async () => {
  dir = tempDir('medrec-smart-')
  node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0'], { datadir: dir.path })
  const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  gk = info.url!.replace(/\/+$/, '')
  const cert = readFileSync(join(dir.path, 'gatekeeper', 'tls', 'cert.pem'), 'utf8')
  agent = new Agent({ ca: cert, keepAlive: false })
  // fhir-kit-client uses the global fetch: this process trusts the node's development certificate besides the usual CAs.
  setDefaultCACertificates([...getCACertificates('default'), cert])
  for (let i = 0; i < accounts.length; i++) clients.push(createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(i), pollMs: 100 }))
  // The app is registered the way an operator does it, while the node runs.
  const reg = await medrec(['gatekeeper', 'add-client', '--datadir', dir.path, '--redirect-uri', REDIRECT, '--client-id', CLIENT, '--name', 'Test app', '--json'])
  if (reg.code !== 0) throw new Error(`add-client failed: ${reg.stderr}`)
  const a = await rpc<{ patientId: string }>(node.url, 'medrec_addPatient', [{ identity: 'alice', address: addr(ALICE) }])
  const b = await rpc<{ patientId: string }>(node.url, 'medrec_addPatient', [{ identity: 'bob', address: addr(BOB) }])
  alicePatient = a.patientId
  bobPatient = b.patientId
  const obs = (id: string, code: string, value: number): FhirResource => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code }] }, valueQuantity: { value, unit: 'mmHg' }, effectiveDateTime: '2026-01-02T03:04:05Z' })
  const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] }
  const ra = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('a1', '8480-6', 120), obs('a2', '4548-4', 7)], query }])
  const rb = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'bob', resources: [obs('b1', '8480-6', 135)], query }])
  aliceRel = ra.relationship
  await clients[ALICE]!.summary().accept(aliceRel)
  await clients[BOB]!.summary().accept(rb.relationship)
  const hour = Math.floor(Date.now() / 1000) + 3600
  await clients[ALICE]!.relationship(aliceRel).grant(addr(VIEWER), [{ pointerId: 0, fields: [1, 2] }], hour)
  await clients[BOB]!.relationship(rb.relationship).grant(addr(VIEWER), [{ pointerId: 0, fields: [1] }], hour)
})

t.teardown(async () => {
  await node?.kill()
  dir?.remove()
})

interface Launch {
  verifier: string
  state: string
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

async function authorize(over: Record<string, string | undefined> = {}): Promise<{ res: Reply; html: string; launch: Launch }> {
  const { verifier, challenge } = pkce()
  const state = randomBytes(8).toString('hex')
  const p: Record<string, string | undefined> = { response_type: 'code', client_id: CLIENT, redirect_uri: REDIRECT, scope: 'launch/patient patient/*.rs', state, aud: `${gk}/fhir`, code_challenge: challenge, code_challenge_method: 'S256', ...over }
  const q = new URLSearchParams(Object.entries(p).filter((e): e is [string, string] => e[1] !== undefined))
  const res = await fetch(`${gk}/oauth/authorize?${q}`, { redirect: 'manual' })
  return { res, html: await res.text(), launch: { verifier, state } }
}

function pageData(html: string): { requestId: string; message: string; placeholder: string } {
  const requestId = /name="request" value="([^"]+)"/.exec(html)?.[1]
  const json = /<script type="application\/json" id="siwe">([^<]*)<\/script>/.exec(html)?.[1]
  if (requestId === undefined || json === undefined) throw new Error(`not the sign-in page: ${html.slice(0, 300)}`)
  const d = JSON.parse(json) as { message: string; placeholder: string }
  return { requestId, ...d }
}

async function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Reply> {
  return fetch(`${gk}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() })
}

/** Signs the page's message as account `i` (or `message` as given) and posts it. */
async function signIn(i: number, html: string, o: { message?: (m: string) => string; signer?: number; extra?: Record<string, string> } = {}): Promise<Reply> {
  const d = pageData(html)
  const base = d.message.replace(d.placeholder, addr(i))
  const message = o.message?.(base) ?? base
  const signature = await accounts[o.signer ?? i]!.signMessage({ message })
  return post('/oauth/authorize', { request: d.requestId, message, signature, ...o.extra })
}

function redirected(t: Test, res: Reply, state: string): URLSearchParams {
  t.equal(res.status, 302, 'redirected to the app')
  const loc = res.headers.get('location') ?? ''
  t.ok(loc.startsWith(`${REDIRECT}?`), `to its registered redirect URI (${loc.slice(0, 80)})`)
  const q = new URL(loc).searchParams
  t.equal(q.get('state'), state, 'with its state')
  return q
}

async function token(code: string, verifier: string, over: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Reply['headers'] }> {
  const res = await post('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: CLIENT, code_verifier: verifier, ...over })
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers }
}

async function introspect(accessToken: string): Promise<Record<string, unknown>> {
  const res = await post('/oauth/introspect', { token: accessToken }, { authorization: `Bearer ${accessToken}` })
  return (await res.json()) as Record<string, unknown>
}

/** A whole launch as account `i`; returns the token response. */
async function launchAs(t: Test, i: number, over: Record<string, string> = {}, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const { res, html, launch } = await authorize(over)
  t.equal(res.status, 200, 'the sign-in page')
  const q = redirected(t, await signIn(i, html, { extra }), launch.state)
  const code = q.get('code')
  t.ok(code, `a code (${q.get('error_description') ?? ''})`)
  const tok = await token(code!, launch.verifier)
  t.equal(tok.status, 200, `token issued (${String(tok.body.error_description ?? '')})`)
  return tok.body
}

t.test('discovery: the SMART configuration, at the FHIR base and at the root', async (t) => {
  for (const path of ['/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration']) {
    const res = await fetch(`${gk}${path}`)
    t.equal(res.status, 200, path)
    const c = (await res.json()) as Record<string, unknown>
    t.equal(c.authorization_endpoint, `${gk}/oauth/authorize`)
    t.equal(c.token_endpoint, `${gk}/oauth/token`)
    t.same(c.code_challenge_methods_supported, ['S256'], 'S256 only: plain is not offered')
    t.same(c.grant_types_supported, ['authorization_code'])
    t.same(c.response_types_supported, ['code'])
    t.same(c.token_endpoint_auth_methods_supported, ['none'])
    for (const cap of ['launch-standalone', 'client-public', 'context-standalone-patient', 'permission-patient', 'permission-v2']) t.ok((c.capabilities as string[]).includes(cap), cap)
  }
})

t.test('the full launch as the patient: the token carries her patient and only the readable scopes', async (t) => {
  const body = await launchAs(t, ALICE, { scope: 'launch/patient patient/*.rs patient/Condition.rs patient/Observation.cruds openid fhirUser' })
  t.equal(body.token_type, 'Bearer')
  t.equal(body.patient, alicePatient, "alice's local patient id")
  t.equal(body.scope, 'launch/patient patient/Observation.rs', 'narrowed to what the chain lets her read: no Condition, no writes, no openid')
  t.ok(typeof body.expires_in === 'number' && body.expires_in <= 300, 'short-lived')
  const i = await introspect(body.access_token as string)
  t.equal(i.active, true)
  t.equal(i.sub, addr(ALICE).toLowerCase())
  t.equal(i.patient, alicePatient)
  t.equal(i.client_id, CLIENT)

  // A stock FHIR client with the token reads her records: search and $everything.
  const fhir = new Client({ baseUrl: `${gk}/fhir`, bearerToken: body.access_token as string })
  const smart = await fhir.smartAuthMetadata()
  t.equal(smart.authorizeUrl?.toString(), `${gk}/oauth/authorize`, 'fhir-kit-client discovers the authorization endpoint')
  type Bundle = { entry?: { resource: FhirResource }[] }
  const found = (await fhir.search({ resourceType: 'Observation', searchParams: { patient: alicePatient } })) as Bundle
  t.same(found.entry?.map((e) => e.resource.id).sort(), ['a1', 'a2'], 'her Observations, none of bob\'s')
  const everything = (await fhir.operation({ name: '$everything', resourceType: 'Patient', id: alicePatient, method: 'GET' })) as Bundle
  t.same(everything.entry?.filter((e) => e.resource.resourceType === 'Observation').map((e) => e.resource.id).sort(), ['a1', 'a2'], '$everything')
  const cross = await fetch(`${gk}/fhir/Observation?patient=${bobPatient}`, { headers: { authorization: `Bearer ${body.access_token as string}` } })
  t.equal(cross.status, 403, "her token does not read bob's records")

  // The patient's own audit view shows that an app got a token for her records.
  const audit = await createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: BigInt(CHAIN_ID) }).audit(aliceRel)
  const entry = audit.entries.find((e) => e.method === 'smart-token' && e.decision === 'granted')
  t.ok(entry, 'a smart-token entry in her audit chain')
  t.match(entry?.reason ?? '', CLIENT, 'naming the client')
  t.equal(entry?.requester, addr(ALICE).toLowerCase())
})

t.test('the token response is not cacheable and names the granted scope', async (t) => {
  const { res, html, launch } = await authorize()
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-frame-options'), 'DENY', 'the sign-in page is never framed')
  t.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
  t.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/)
  const q = redirected(t, await signIn(ALICE, html), launch.state)
  const tok = await token(q.get('code')!, launch.verifier)
  t.equal(tok.headers.get('cache-control'), 'no-store')
})

t.test('an unregistered client or a redirect URI not registered exactly: refused without redirecting', async (t) => {
  for (const [what, over] of [
    ['unknown client_id', { client_id: 'evil-app' }],
    ['no client_id', { client_id: undefined }],
    ['another redirect URI', { redirect_uri: 'https://evil.example/callback' }],
    ['a longer path', { redirect_uri: `${REDIRECT}/more` }],
    ['an added query', { redirect_uri: `${REDIRECT}?x=1` }],
    ['no redirect URI', { redirect_uri: undefined }],
  ] as const) {
    const { res, html } = await authorize(over)
    t.equal(res.status, 400, `${what}: 400`)
    t.equal(res.headers.get('location'), null, `${what}: no redirect anywhere`)
    t.notMatch(html, /name="request"/, `${what}: no sign-in form`)
  }
})

t.test('a bad authorization request of a good client goes back as an error redirect', async (t) => {
  for (const [what, over, error] of [
    ['plain PKCE', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['no PKCE', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    ['another audience', { aud: 'https://evil.example/fhir' }, 'invalid_request'],
    ['implicit flow', { response_type: 'token' }, 'unsupported_response_type'],
    ['no readable scope', { scope: 'openid fhirUser' }, 'invalid_scope'],
  ] as const) {
    const { res, launch } = await authorize(over)
    const q = redirected(t, res, launch.state)
    t.equal(q.get('error'), error, what)
    t.equal(q.get('code'), null, `${what}: no code`)
  }
})

t.test('sign-in messages for another domain, chain, nonce, URI or time, or signed by someone else: refused', async (t) => {
  const other = pageData((await authorize()).html)
  const past = new Date(Date.now() - 120_000)
  const cases: [string, Parameters<typeof signIn>[2]][] = [
    ['another domain', { message: (m) => m.replace(/^[^ ]+ wants/, 'evil.example wants') }],
    ['another chain', { message: (m) => m.replace(/Chain ID: \d+/, 'Chain ID: 1') }],
    ['another request\'s nonce', { message: (m) => m.replace(/Nonce: \w+/, `Nonce: ${/Nonce: (\w+)/.exec(other.message)![1]}`) }],
    ['another URI', { message: (m) => m.replace(/URI: \S+/, 'URI: https://evil.example/fhir') }],
    ['an expired message', { message: (m) => createSiweMessage({ domain: new URL(gk).host, address: addr(ALICE), uri: `${gk}/fhir`, version: '1', chainId: CHAIN_ID, nonce: /Nonce: (\w+)/.exec(m)![1]!, issuedAt: new Date(past.getTime() - 60_000), expirationTime: past }) }],
    ['signed by someone else', { signer: STRANGER }],
  ]
  for (const [what, o] of cases) {
    // Each on a request of its own (five failures end one); after the refusal the real sign-in still completes.
    const { html, launch } = await authorize()
    const res = await signIn(ALICE, html, o)
    t.equal(res.status, 400, `${what}: refused`)
    t.equal(res.headers.get('location'), null, `${what}: no code`)
    t.match(await res.text(), /class="err"/, `${what}: says why`)
    t.ok(redirected(t, await signIn(ALICE, html), launch.state).get('code'), `${what}: the request still completes when signed right`)
  }
})

t.test('five failed sign-ins end the request; a used sign-in page cannot sign in again', async (t) => {
  const { html, launch } = await authorize()
  for (let i = 0; i < 4; i++) t.equal((await signIn(ALICE, html, { signer: STRANGER })).status, 400)
  const fifth = await signIn(ALICE, html, { signer: STRANGER })
  t.equal(redirected(t, fifth, launch.state).get('error'), 'access_denied')
  t.equal((await signIn(ALICE, html)).status, 400, 'the request is gone: even the right signature is refused')

  const again = await authorize()
  const ok = await signIn(ALICE, again.html)
  t.ok(redirected(t, ok, again.launch.state).get('code'))
  const replay = await signIn(ALICE, again.html)
  t.equal(replay.status, 400, 'the nonce is single use: the same signed message cannot sign in twice')
})

t.test('an identity the chain lets read nothing here gets nothing', async (t) => {
  const { html, launch } = await authorize()
  const q = redirected(t, await signIn(STRANGER, html), launch.state)
  t.equal(q.get('error'), 'access_denied')
  t.equal(q.get('code'), null)
})

t.test('a widened scope: a viewer asking for a type it was not granted gets nothing', async (t) => {
  const { html, launch } = await authorize({ scope: 'launch/patient patient/Condition.rs patient/Immunization.rs' })
  const q = redirected(t, await signIn(VIEWER, html), launch.state)
  t.equal(q.get('error'), 'access_denied')
  t.equal(q.get('code'), null)
})

t.test('a viewer of two patients chooses one; the token is for that patient only', async (t) => {
  const { html, launch } = await authorize()
  const res = await signIn(VIEWER, html)
  t.equal(res.status, 200, 'the choice page')
  const page = await res.text()
  const choice = /name="choice" value="([^"]+)"/.exec(page)?.[1]
  t.ok(choice)
  t.match(page, new RegExp(`value="${bobPatient}"`))
  t.equal((await post('/oauth/authorize', { choice: choice!, patient: 'someone-else' })).status, 400, 'a patient not offered is refused')
  const q = redirected(t, await post('/oauth/authorize', { choice: choice!, patient: bobPatient }), launch.state)
  const tok = await token(q.get('code')!, launch.verifier)
  t.equal(tok.status, 200)
  t.equal(tok.body.patient, bobPatient)
  t.equal(tok.body.scope, 'launch/patient patient/Observation.rs')
  t.equal((await post('/oauth/authorize', { choice: choice!, patient: alicePatient })).status, 400, 'the choice is single use')
})

t.test('codes: replay revokes the token; wrong verifier, redirect URI or client get nothing', async (t) => {
  const { html, launch } = await authorize()
  const code = redirected(t, await signIn(ALICE, html), launch.state).get('code')!
  const first = await token(code, launch.verifier)
  t.equal(first.status, 200)
  t.equal((await introspect(first.body.access_token as string)).active, true)
  const second = await token(code, launch.verifier)
  t.equal(second.status, 400)
  t.equal(second.body.error, 'invalid_grant', 'a code used twice is refused')
  t.equal((await introspect(first.body.access_token as string)).active, false, 'and the token issued from it is revoked')

  for (const [what, over] of [
    ['wrong verifier', { code_verifier: randomBytes(32).toString('base64url') }],
    ['another redirect URI', { redirect_uri: 'http://127.0.0.1:9/other' }],
    ['another client', { client_id: 'evil-app' }],
    ['no verifier', { code_verifier: '' }],
  ] as const) {
    const l = await authorize()
    const c = redirected(t, await signIn(ALICE, l.html), l.launch.state).get('code')!
    const bad = await token(c, l.launch.verifier, over)
    t.equal(bad.status, 400, `${what}: 400`)
    t.equal(bad.body.error, 'invalid_grant', what)
    t.equal(bad.body.access_token, undefined, `${what}: no token`)
    const retry = await token(c, l.launch.verifier)
    t.equal(retry.status, 400, `${what}: the code is spent, even for the right verifier`)
  }
  t.equal((await token('made-up', 'x'.repeat(43))).body.error, 'invalid_grant')
  t.equal((await token(code, launch.verifier, { grant_type: 'client_credentials' })).body.error, 'unsupported_grant_type')
})

t.test('forged, tampered, alg none, expired and wrong-audience tokens are not accepted by the FHIR API', async (t) => {
  const good = (await launchAs(t, ALICE)).access_token as string
  const [h, p, s] = good.split('.') as [string, string, string]
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const key = accessTokenKey(Uint8Array.from(Buffer.from(readFileSync(join(dir.path, 'gatekeeper', 'secret'), 'utf8').trim(), 'hex')))
  const now = Math.floor(Date.now() / 1000)
  const signWith = (k: Uint8Array, claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(k)
  const forged: [string, string][] = [
    ['signed with another key', await signWith(randomBytes(32), payload)],
    ['alg none', `${enc({ alg: 'none', typ: 'at+jwt' })}.${p}.`],
    ['tampered payload (another patient)', `${h}.${enc({ ...payload, patient: bobPatient })}.${s}`],
    ['expired (right key)', await signWith(key, { ...payload, iat: now - 1000, exp: now - 10 })],
    ['another audience (right key)', await signWith(key, { ...payload, aud: 'https://evil.example/fhir' })],
    ['another issuer (right key)', await signWith(key, { ...payload, iss: 'https://evil.example' })],
  ]
  const read = (tok: string) => fetch(`${gk}/fhir/Observation?patient=${alicePatient}`, { headers: { authorization: `Bearer ${tok}` } })
  for (const [what, tok] of forged) {
    t.equal((await introspect(tok)).active, false, `${what}: inactive`)
    const res = await read(tok)
    t.equal(res.status, 401, `${what}: 401 from the FHIR API`)
    t.notMatch(await res.text(), /"a1"|8480-6/, `${what}: no record`)
  }
  t.equal((await read(good)).status, 200, 'the real one reads')
  t.equal((await introspect(good)).active, true, 'and is active')
})

t.test("after the patient revokes a viewer's grant on chain, the viewer's token is inactive at once", async (t) => {
  // The viewer reads only alice's records here once bob's grant is gone from the choice: pick alice.
  const { html, launch } = await authorize()
  const res = await signIn(VIEWER, html, { extra: { patient: alicePatient } })
  const tok = await token(redirected(t, res, launch.state).get('code')!, launch.verifier)
  t.equal(tok.body.patient, alicePatient)
  const access = tok.body.access_token as string
  t.equal((await introspect(access)).active, true)
  const read = () => fetch(`${gk}/fhir/Observation?patient=${alicePatient}`, { headers: { authorization: `Bearer ${access}` } })
  const before = await read()
  t.equal(before.status, 200, 'the viewer reads')
  const resources = ((await before.json()) as { entry: { resource: Record<string, unknown> }[] }).entry.map((e) => e.resource)
  t.same(resources.map((r) => r.id).sort(), ['a1', 'a2'])
  for (const r of resources) t.ok('code' in r && 'valueQuantity' in r && !('effectiveDateTime' in r), `${String(r.id)}: exactly the granted fields (code, valueQuantity) come back`)
  await clients[ALICE]!.relationship(aliceRel).revoke(addr(VIEWER))
  t.equal((await read()).status, 403, 'the same token is refused at once after the revocation')
  t.equal((await introspect(access)).active, false, 'and inactive, before it expires')
  void PROVIDER
})

t.test('in a real browser with a wallet: the page signs in under its CSP and the app gets its code', async (t) => {
  // Chromium trusts exactly the gatekeeper's certificate (its public key's hash), nothing else.
  const spki = createHash('sha256').update(new X509Certificate(readFileSync(join(dir.path, 'gatekeeper', 'tls', 'cert.pem'))).publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
  const browser = await launchChromium([`--ignore-certificate-errors-spki-list=${spki}`])
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(String(e)))
  // The wallet: an EIP-1193 provider whose personal_sign is alice's viem account, in this process.
  await page.exposeFunction('walletSign', (hex: string) => accounts[ALICE]!.signMessage({ message: { raw: hex as Hex } }))
  await page.evaluateOnNewDocument((address: string) => {
    const w = globalThis as unknown as { ethereum: unknown; walletSign(hex: string): Promise<string> }
    w.ethereum = { request: ({ method, params }: { method: string; params?: string[] }) => (method === 'eth_requestAccounts' ? Promise.resolve([address]) : w.walletSign(params![0]!)) }
  }, addr(ALICE))
  // The app's callback is not served: the navigation to it is caught and stopped.
  let callback: string | undefined
  await page.setRequestInterception(true)
  page.on('request', (r) => {
    if (r.url().startsWith(REDIRECT)) {
      callback = r.url()
      void r.abort()
    } else void r.continue()
  })
  const { verifier, challenge } = pkce()
  const q = new URLSearchParams({ response_type: 'code', client_id: CLIENT, redirect_uri: REDIRECT, scope: 'launch/patient patient/*.rs', state: 'browser', aud: `${gk}/fhir`, code_challenge: challenge, code_challenge_method: 'S256' })
  await page.goto(`${gk}/oauth/authorize?${q}`)
  await page.waitForSelector('#wallet:not([hidden])')
  await page.click('#wallet')
  const deadline = Date.now() + 30_000
  while (callback === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.ok(callback, 'the browser was sent to the app with a code')
  const cb = new URL(callback ?? REDIRECT)
  t.equal(cb.searchParams.get('state'), 'browser')
  const tok = await token(cb.searchParams.get('code') ?? '', verifier)
  t.equal(tok.status, 200, 'the code redeems')
  t.equal(tok.body.patient, alicePatient)
  t.same(problems.filter((p) => !/net::ERR_FAILED|ERR_BLOCKED_BY_CLIENT/.test(p)), [], 'no script error, no CSP violation')
})

// Last: it spends this address's whole budget.
t.test('the authorization endpoints are rate-limited per remote address', async (t) => {
  let limited: Reply | undefined
  for (let i = 0; i < 400 && limited === undefined; i++) {
    const res = await fetch(`${gk}/oauth/authorize?client_id=nobody`)
    if (res.status === 429) limited = res
  }
  t.ok(limited, 'refused with 429 before 400 requests')
  t.ok(Number(limited?.headers.get('retry-after')) >= 1, 'with Retry-After')
  // The bucket refills (20/s): a burst right after still finds it empty.
  const burst = await Promise.all(Array.from({ length: 30 }, () => post('/oauth/token', { grant_type: 'authorization_code', code: 'x' })))
  t.ok(burst.some((r) => r.status === 429), 'the token endpoint shares the budget')
})
