import t, { type Test } from 'tap'
import { Client } from 'fhir-kit-client'
import { DatabaseSync } from 'node:sqlite'
import type { Address } from 'viem'
import { createAuditLog } from '../../gatekeeper/audit.ts'
import { checkAuditView } from '../../gatekeeper/audit-check.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { scope, startFhirRig, validate, type FhirRig } from './fhir-helpers.ts'

/**
 * The FHIR R4 API against a real gatekeeper (in-process dev node, records added by the
 * provider's operations, permissions on chain) with fhir-kit-client 2.0.3 and plain fetch: every
 * rule attacked as a hostile client would, every response validated as FHIR R4.
 */

const LOINC = 'http://loinc.org'
const DAR = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason'
const SECRET_NOTE = 'bob-only-secret-7731'

let rig: FhirRig
let alicePid: string
let bobPid: string
let aliceRel: Address
let bobRel: Address
let provider: Address
const [ALICE, BOB, VIEWER, VIEWER2, STRANGER] = [1, 2, 3, 4, 5] as const
const addr = (i: number) => rig.accounts[i]!.address

const obs = (id: string, code: string, value: number, when: string): FhirResource => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: LOINC, code, display: `loinc ${code}` }] },
  valueQuantity: { value, unit: 'mmHg' },
  effectiveDateTime: when,
  note: [{ text: 'not in any pointer' }],
})

t.before(async () => {
  rig = await startFhirRig(t, { rate: 20, burst: 150 })
  const gk = rig.gk
  provider = gk.address
  alicePid = (await gk.provider.addPatient({ identity: 'alice', address: addr(ALICE) })).patientId
  bobPid = (await gk.provider.addPatient({ identity: 'bob', address: addr(BOB) })).patientId
  const query = { resourceType: 'Observation' as const, fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] }
  const a = await gk.provider.addRecord({
    identity: 'alice',
    resources: [obs('o1', '8480-6', 120, '2026-01-01T10:00:00Z'), obs('o2', '8462-4', 80, '2026-01-02T10:00:00Z'), obs('o3', '8480-6', 125, '2026-02-01T10:00:00Z'), obs('o4', '4548-4', 7, '2026-03-01'), obs('o5', '8480-6', 130, '2025-12-31T23:00:00-05:00')],
    query,
  })
  aliceRel = a.relationship as Address
  // Condition's pointer leaves out subject, which R4 requires: it comes back masked.
  await gk.provider.addRecord({ identity: 'alice', resources: [{ resourceType: 'Condition', id: 'c1', code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] }, onsetDateTime: '2020-05-01' }], query: { resourceType: 'Condition', fields: ['code', 'onsetDateTime'] } })
  bobRel = (await gk.provider.addRecord({ identity: 'bob', resources: [{ ...obs('b1', '8480-6', 180, '2026-01-01T10:00:00Z'), code: { coding: [{ system: LOINC, code: '8480-6', display: SECRET_NOTE }] } }], query })).relationship as Address
  const providerClient = rig.accounts[0]!.client
  await providerClient.registrar.registerIdentity('viewer-lab', addr(VIEWER))
  await providerClient.registrar.registerIdentity('viewer-2', addr(VIEWER2))
  const alice = rig.accounts[ALICE]!.client
  await alice.summary().accept(aliceRel)
  const inAnHour = Math.floor(Date.now() / 1000) + 3600
  await alice.relationship(aliceRel).grant(addr(VIEWER), [{ pointerId: 0, fields: [1, 2] }], inAnHour)
  await alice.relationship(aliceRel).grant(addr(VIEWER2), [{ pointerId: 0, fields: [1] }], inAnHour)
})

const ALL = [scope('*')]
const aliceToken = () => rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
const client = (token?: string) => new Client({ baseUrl: rig.base, ...(token === undefined ? {} : { bearerToken: token }) })

type Bundle = { resourceType: string; type: string; total: number; link: { relation: string; url: string }[]; entry?: { fullUrl: string; resource: FhirResource }[] }

async function get(path: string, token?: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; text: string }> {
  const res = await fetch(`${rig.base}${path}`, { ...init, headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(init.headers as Record<string, string> | undefined) } })
  const text = await res.text()
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers, text }
}

/** Every response is FHIR: the content type, and an R4-valid resource (every entry of a Bundle too). */
function valid(t: Test, body: unknown, what: string): void {
  t.same(validate(body), [], `${what}: valid FHIR R4`)
  for (const e of (body as Bundle).entry ?? []) t.same(validate(e.resource), [], `${what}: ${e.resource.resourceType}/${e.resource.id} valid`)
}

function refusal(t: Test, r: { status: number; body: Record<string, unknown>; headers: Headers }, status: number, what: string, pattern?: RegExp): void {
  t.equal(r.status, status, `${what}: HTTP ${status}`)
  t.equal(r.body.resourceType, 'OperationOutcome', `${what}: an OperationOutcome`)
  t.match(r.headers.get('content-type') ?? '', /^application\/fhir\+json/, `${what}: application/fhir+json`)
  if (pattern !== undefined) t.match(JSON.stringify(r.body), pattern, `${what}: says why`)
  valid(t, r.body, what)
}

t.test('metadata: an R4 CapabilityStatement with exactly what is implemented, SMART endpoints, no token needed', async (t) => {
  const cs = (await client().capabilityStatement()) as unknown as { fhirVersion: string; format: string[]; rest: { mode: string; security: { service: { coding: { code: string }[] }[]; extension: { url: string; extension: { url: string; valueUri: string }[] }[] }; resource: { type: string; interaction: { code: string }[]; searchParam: { name: string }[]; operation?: { name: string }[] }[] }[] }
  valid(t, cs, 'CapabilityStatement')
  t.equal(cs.fhirVersion, '4.0.1')
  t.same(cs.format, ['json'])
  const rest = cs.rest[0]!
  t.equal(rest.mode, 'server')
  t.same(rest.resource.map((r) => r.type), ['Patient', 'Encounter', 'Observation', 'Condition', 'MedicationRequest', 'Immunization', 'DocumentReference'])
  const observation = rest.resource.find((r) => r.type === 'Observation')!
  t.same(observation.interaction.map((i) => i.code), ['read', 'search-type'])
  t.same(observation.searchParam.map((p) => p.name), ['_id', 'patient', 'subject', 'code', 'date'])
  t.same(rest.resource.find((r) => r.type === 'Patient')!.operation?.map((o) => o.name), ['everything'])
  t.equal(rest.security.service[0]!.coding[0]!.code, 'SMART-on-FHIR')
  const origin = new URL(rig.base).origin
  const uris = rest.security.extension.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris')!.extension
  t.same(uris, [{ url: 'authorize', valueUri: `${origin}/oauth/authorize` }, { url: 'token', valueUri: `${origin}/oauth/token` }])
  const smart = await client().smartAuthMetadata()
  t.equal(smart.authorizeUrl?.toString(), `${origin}/oauth/authorize`, 'fhir-kit-client discovers the SMART endpoints')
})

t.test("the patient searches her records: the type asked, absolute fullUrls, required elements kept valid", async (t) => {
  const token = aliceToken()
  const bundle = (await client(token).search({ resourceType: 'Observation', searchParams: { patient: alicePid } })) as Bundle
  valid(t, bundle, 'Observation searchset')
  t.equal(bundle.type, 'searchset')
  t.equal(bundle.total, 5)
  t.same(bundle.entry!.map((e) => e.resource.id), ['o1', 'o2', 'o3', 'o4', 'o5'])
  for (const e of bundle.entry!) {
    t.equal(e.fullUrl, `${rig.base}/Observation/${e.resource.id}`, 'an absolute fullUrl')
    t.equal(e.resource.resourceType, 'Observation')
    t.equal(e.resource.status, 'final', 'status is one of the pointer fields: served')
    t.notOk('note' in e.resource, 'an element outside the pointer never leaves')
  }
  t.match(bundle.link.find((l) => l.relation === 'self')?.url, new RegExp(`^${rig.base}/Observation\\?`))

  const conditions = (await client(token).search({ resourceType: 'Condition', searchParams: { subject: `Patient/${alicePid}` } })) as Bundle
  valid(t, conditions, 'Condition searchset')
  t.same(conditions.entry!.map((e) => `${e.resource.resourceType}/${e.resource.id}`), ['Condition/c1'], '/fhir/Condition returns Conditions only')
  const c1 = conditions.entry![0]!.resource as { subject?: { extension?: { url: string; valueCode: string }[] }; meta?: { security?: { code: string }[] } }
  t.same(c1.subject, { extension: [{ url: DAR, valueCode: 'masked' }] }, 'the withheld required subject is data-absent-reason masked')
  t.same(c1.meta?.security?.map((s) => s.code), ['REDACTED'], 'marked as redacted')
  t.equal(((await client(token).search({ resourceType: 'Immunization', searchParams: {} })) as Bundle).total, 0, 'a type with no readable pointer: an empty searchset')

  const form = await get('/Observation/_search', token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'code=8480-6&_count=10' })
  t.equal(form.status, 200, 'POST _search with a form body')
  t.same((form.body as unknown as Bundle).entry!.map((e) => e.resource.id), ['o1', 'o3', 'o5'])
})

t.test('search parameters: token and date matching as declared, paging to the end', async (t) => {
  const token = aliceToken()
  const ids = async (searchParams: Record<string, string>) => {
    const b = (await client(token).search({ resourceType: 'Observation', searchParams })) as Bundle
    valid(t, b, JSON.stringify(searchParams))
    return (b.entry ?? []).map((e) => e.resource.id)
  }
  t.same(await ids({ code: `${LOINC}|8480-6` }), ['o1', 'o3', 'o5'], 'system|code')
  t.same(await ids({ code: '8462-4,4548-4' }), ['o2', 'o4'], 'comma: OR')
  t.same(await ids({ code: 'http://snomed.info/sct|8480-6' }), [], 'the same code in another system does not match')
  t.same(await ids({ code: `${LOINC}|` }), ['o1', 'o2', 'o3', 'o4', 'o5'], 'system|')
  t.same(await ids({ _id: 'o2,o4,b1' }), ['o2', 'o4'], "_id: another patient's id matches nothing")
  t.same(await ids({ date: '2026-01' }), ['o1', 'o2', 'o5'], 'a month (o5 is 2026-01-01T04:00Z)')
  t.same(await ids({ date: 'ge2026-02-01' }), ['o3', 'o4'])
  t.same(await ids({ date: 'lt2026-01-02' }), ['o1', 'o5'])
  const both = (await client(token).request(`Observation?date=ge2026-01-01&date=le2026-01-31&code=8480-6`)) as Bundle
  t.same(both.entry!.map((e) => e.resource.id), ['o1', 'o5'], 'repeated parameters: AND')

  let page = (await client(token).search({ resourceType: 'Observation', searchParams: { _count: '2' } })) as Bundle
  const seen: string[] = []
  let pages = 0
  for (;;) {
    valid(t, page, `page ${pages + 1}`)
    t.equal(page.total, 5, 'total on every page')
    seen.push(...page.entry!.map((e) => e.resource.id))
    pages++
    const next = client(token).nextPage({ bundle: page as never })
    if (next === undefined) break
    page = (await next) as Bundle
  }
  t.equal(pages, 3, '5 records, 2 per page')
  t.same(seen, ['o1', 'o2', 'o3', 'o4', 'o5'], 'every record once, in order')
})

t.test('read by id and Patient/$everything within what the token may read', async (t) => {
  const token = aliceToken()
  const o1 = (await client(token).read({ resourceType: 'Observation', id: 'o1' })) as FhirResource
  valid(t, o1, 'Observation/o1')
  t.equal(o1.id, 'o1')
  refusal(t, await get('/Condition/o1', token), 404, 'an Observation id read as a Condition')
  refusal(t, await get('/Observation/nope', token), 404, 'an unknown id')
  const patient = (await client(token).read({ resourceType: 'Patient', id: alicePid })) as FhirResource
  valid(t, patient, 'Patient')
  t.same(Object.keys(patient).sort(), ['id', 'meta', 'resourceType'], 'the launch patient, bare: no pointer releases her Patient resource')
  const everything = (await client(token).operation({ name: '$everything', resourceType: 'Patient', id: alicePid, method: 'GET' })) as Bundle
  valid(t, everything, '$everything')
  t.same(everything.entry!.map((e) => `${e.resource.resourceType}/${e.resource.id}`), [`Patient/${alicePid}`, 'Observation/o1', 'Observation/o2', 'Observation/o3', 'Observation/o4', 'Observation/o5', 'Condition/c1'])
  const onlyObs = (await client(token).request(`Patient/${alicePid}/$everything?_type=Condition&_count=5`)) as Bundle
  t.same(onlyObs.entry!.map((e) => e.resource.id), ['c1'], '_type narrows $everything')
})

t.test("a token's scopes narrow what it reads further", async (t) => {
  const token = rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: [scope('Observation')] })
  t.equal(((await client(token).search({ resourceType: 'Observation', searchParams: {} })) as Bundle).total, 5)
  refusal(t, await get('/Condition', token), 403, 'patient/Observation.rs does not search Condition', /scopes/)
  refusal(t, await get(`/Patient/${alicePid}`, token), 403, 'nor read Patient')
  const everything = (await get(`/Patient/${alicePid}/$everything`, token)).body as unknown as Bundle
  t.same([...new Set(everything.entry!.map((e) => e.resource.resourceType))], ['Observation'], '$everything: only the scoped types')
  const readOnly = rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: [scope('Observation', 'r')] })
  refusal(t, await get('/Observation', readOnly), 403, 'a read scope does not search')
  t.equal((await get('/Observation/o2', readOnly)).status, 200, 'but reads by id')
})

t.test('a viewer reads exactly its granted fields, and filters only on them', async (t) => {
  const token = rig.issue({ identity: addr(VIEWER).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
  const bundle = (await client(token).search({ resourceType: 'Observation', searchParams: {} })) as Bundle
  valid(t, bundle, "the viewer's searchset")
  t.equal(bundle.total, 5)
  for (const e of bundle.entry!) {
    const r = e.resource as Record<string, unknown>
    t.same(Object.keys(r).sort(), ['_status', 'code', 'id', 'meta', 'resourceType', 'valueQuantity'], `${e.resource.id}: code and valueQuantity (granted); status masked`)
    t.same(r._status, { extension: [{ url: DAR, valueCode: 'masked' }] })
    t.same((r.meta as { security: { code: string }[] }).security.map((s) => s.code), ['REDACTED'])
  }
  t.same(((await client(token).search({ resourceType: 'Observation', searchParams: { code: '8480-6' } })) as Bundle).entry!.map((e) => e.resource.id), ['o1', 'o3', 'o5'], 'code is granted: filterable')
  t.equal(((await client(token).search({ resourceType: 'Observation', searchParams: { date: '2026' } })) as Bundle).total, 0, 'effectiveDateTime is withheld: a date filter matches nothing (no oracle on it)')
  t.equal(((await client(token).search({ resourceType: 'Condition', searchParams: {} })) as Bundle).total, 0, 'no grant on the Condition pointer: none')
  const everything = (await get(`/Patient/${alicePid}/$everything`, token)).body as unknown as Bundle
  valid(t, everything, "the viewer's $everything")
  t.notOk(everything.entry!.some((e) => e.resource.resourceType === 'Condition'))
})

t.test('a revocation on chain ends access at the next request', async (t) => {
  const token = rig.issue({ identity: addr(VIEWER2).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
  const before = await get('/Observation', token)
  t.equal(before.status, 200)
  t.same(Object.keys(((before.body as unknown as Bundle).entry![0]!.resource)).sort(), ['_status', 'code', 'id', 'meta', 'resourceType'], 'only code')
  await rig.accounts[ALICE]!.client.relationship(aliceRel).revoke(addr(VIEWER2))
  refusal(t, await get('/Observation', token), 403, 'the same token after the revocation', /read nothing/)
  refusal(t, await get('/Observation/o1', token), 403, 'read by id too')
  refusal(t, await get(`/Patient/${alicePid}/$everything`, token), 403, '$everything too')
})

t.test('cross-patient: a token for alice never reaches bob, and nothing of his leaks', async (t) => {
  const token = aliceToken()
  const attempts = [
    [`/Observation?patient=${bobPid}`, 403],
    [`/Observation?subject=Patient/${bobPid}`, 403],
    [`/Observation?patient=${encodeURIComponent(`${rig.base}/Patient/${bobPid}`)}`, 403],
    [`/Patient/${bobPid}`, 403],
    [`/Patient?_id=${bobPid}`, 403],
    [`/Patient/${bobPid}/$everything`, 403],
    ['/Observation/b1', 404],
  ] as const
  for (const [path, status] of attempts) {
    const r = await get(path, token)
    refusal(t, r, status, path)
    t.notMatch(r.text, /180|bob-only|valueQuantity/, `${path}: nothing of bob's`)
  }
  const idSearch = await get('/Observation?_id=b1', token)
  t.equal((idSearch.body as unknown as Bundle).total, 0, "an id of bob's record matches nothing")
  // A token naming bob's relationship for alice's patient, or alice's relationship for a stranger: the chain decides.
  const wrongRel = rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: alicePid, relationships: [bobRel], scopes: ALL })
  refusal(t, await get('/Observation', wrongRel), 403, "bob's relationship under alice's launch patient")
  const bobAsAlice = rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: bobPid, relationships: [bobRel], scopes: ALL })
  const r = await get('/Observation', bobAsAlice)
  refusal(t, r, 403, "alice's identity with bob's patient and relationship")
  t.notMatch(r.text, /b1|bob-only/)
  const stranger = rig.issue({ identity: addr(STRANGER).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
  refusal(t, await get('/Observation', stranger), 403, 'a stranger with no grant')
})

t.test('unsupported and hostile parameters and ids are refused by name, never ignored', async (t) => {
  const token = aliceToken()
  const cases: [string, number, RegExp][] = [
    ['/Observation?code:text=pressure', 400, /code:text/],
    ['/Observation?_sort=date', 400, /_sort/],
    ['/Observation?foo=1', 400, /foo/],
    ['/Observation?vaccine-code=158', 400, /vaccine-code/],
    ['/Condition?date=2026', 400, /date/],
    ['/Observation?_count=0', 400, /_count/],
    ['/Observation?_count=99999999999999999999', 400, /_count/],
    ['/Observation?_count=2&_count=3', 400, /twice/],
    ['/Observation?date=sa2026', 400, /prefix sa/],
    ['/Observation?date=2026-01-02T10:00', 400, /zone/],
    ['/Observation?date=2026-13', 400, /date/],
    ["/Observation?_id=o1'--", 400, /FHIR id/],
    ['/Observation?_id=o1%00', 400, /NUL|FHIR id/],
    ['/Observation?code=%00', 400, /NUL/],
    [`/Observation?code=${'x'.repeat(5000)}`, 400, /longer/],
    ["/Observation/o1'%20OR%20'1'='1", 400, /FHIR id/],
    ['/Observation/o1%00', 400, /FHIR id/],
    ['/Observation/..%2F..%2Fv1%2Finfo', 400, /FHIR id/],
    [`/Observation/${'a'.repeat(65)}`, 400, /FHIR id/],
    ['/Observation/%E0%A4%A', 400, /percent-encoding/],
    ['/Observation/o1?code=x', 400, /no search parameters/],
    [`/Patient/${alicePid}/$everything?start=2020`, 400, /start/],
    [`/Patient/${alicePid}/$everything?_type=Binary`, 400, /Binary/],
    ['/Observation?_format=xml', 406, /JSON only/],
  ]
  for (const [path, status, why] of cases) {
    const r = await get(path, token)
    refusal(t, r, status, path.slice(0, 80), why)
    t.notMatch(r.text, /"valueQuantity"/, `${path.slice(0, 80)}: no records`)
  }
})

t.test('errors are OperationOutcomes on every path', async (t) => {
  const none = await get('/Observation')
  refusal(t, none, 401, 'no token', /Bearer/)
  t.match(none.headers.get('www-authenticate') ?? '', /^Bearer/, 'a Bearer challenge')
  refusal(t, await get('/Observation', 'forged-token'), 401, 'a token the authenticator does not know')
  const expired = rig.issue({ identity: addr(ALICE).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL, expiresAt: Math.floor(Date.now() / 1000) - 1 })
  refusal(t, await get('/Observation', expired), 401, 'an expired principal', /expired/)
  refusal(t, await get('/Binary'), 404, 'an unknown type', /unknown resource type/)
  refusal(t, await get('/'), 404, 'the base')
  refusal(t, await get('/Observation/o1/_history'), 404, 'an interaction not served')
  const post = await get('/Observation', aliceToken(), { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: '{"resourceType":"Observation"}' })
  refusal(t, post, 405, 'create')
  t.equal(post.headers.get('allow'), 'GET')
  refusal(t, await get('/Observation/o1', aliceToken(), { method: 'DELETE' }), 405, 'delete')
  refusal(t, await get('/Observation/_search', aliceToken(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 415, 'a _search body that is not a form')
})

t.test('browser SMART apps on other origins may call it with their bearer token (CORS without credentials)', async (t) => {
  const preflight = await fetch(`${rig.base}/Observation`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), '*')
  t.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/)
  t.equal(preflight.headers.get('access-control-allow-credentials'), null, 'never with cookies')
  const read = await get('/Observation', aliceToken(), { headers: { origin: 'https://app.example' } })
  t.equal(read.headers.get('access-control-allow-origin'), '*')
  const refused = await get('/Observation', undefined, { headers: { origin: 'https://app.example' } })
  t.match(refused.headers.get('access-control-expose-headers') ?? '', /www-authenticate/, 'the app can read the Bearer challenge')
})

type BatchResponse = { resourceType: string; type: string; entry: { resource?: FhirResource & { entry?: { resource: FhirResource }[]; total?: number }; response: { status: string; outcome?: Record<string, unknown> } }[] }
const batchOf = (...requests: [string, string][]) => ({ resourceType: 'Bundle', type: 'batch', entry: requests.map(([method, url]) => ({ request: { method, url } })) })
const postBatch = (body: unknown, token?: string, type = 'application/fhir+json') => get('', token, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(body) })

t.test('batch: each entry answered, decided and audited as its own request; a refused entry fails alone', async (t) => {
  const token = aliceToken()
  const auditBefore = rig.gk.auditChain(provider).log.view([aliceRel]).entries.length
  const res = (await client(token).batch({
    body: batchOf(
      ['GET', 'Observation?code=8480-6'],
      ['GET', `Patient/${alicePid}`],
      ['GET', `${rig.base}/Condition?subject=Patient/${alicePid}`],
      ['GET', 'Observation/b1'],
      ['GET', `Patient/${bobPid}`],
      ['POST', 'Observation'],
      ['GET', 'https://evil.example/fhir/Observation'],
      ['GET', '../oauth/token'],
      ['GET', 'Observation?note=x'],
      ['GET', 'metadata'],
    ),
  })) as unknown as BatchResponse
  t.same(validate(res), [], 'batch-response: valid FHIR R4')
  for (const e of res.entry) if (e.resource !== undefined) valid(t, e.resource, `batch entry ${e.response.status}`)
  t.equal(res.type, 'batch-response')
  t.same(res.entry.map((e) => e.response.status.split(' ')[0]), ['200', '200', '200', '404', '403', '405', '400', '400', '400', '200'], 'one status per entry, in order')
  t.same(res.entry[0]!.resource!.entry!.map((e) => e.resource.id), ['o1', 'o3', 'o5'], 'a search: its searchset')
  t.equal(res.entry[1]!.resource!.resourceType, 'Patient')
  t.same(res.entry[2]!.resource!.entry!.map((e) => e.resource.id), ['c1'], 'an absolute URL under this base')
  for (const e of res.entry.filter((e) => !e.response.status.startsWith('200'))) {
    t.equal(e.response.outcome?.resourceType, 'OperationOutcome', `${e.response.status}: says why`)
    t.same(validate(e.response.outcome), [], `${e.response.status}: a valid OperationOutcome`)
  }
  t.notMatch(JSON.stringify(res), new RegExp(`${SECRET_NOTE}|"b1"`), "nothing of bob's leaves in any entry")
  t.equal(res.entry[9]!.resource!.resourceType, 'CapabilityStatement')
  const fhir = rig.gk.auditChain(provider).log.view([aliceRel]).entries.slice(auditBefore)
  t.ok(fhir.some((e) => e.decision === 'granted' && e.reason.includes('search-type Observation')), 'the search entry has its own audit entry')
  t.ok(fhir.some((e) => e.decision === 'granted' && e.reason.includes('search-type Condition')), 'and the Condition one')
  t.ok(fhir.some((e) => e.decision === 'refused' && e.reason.includes(`read Patient/${bobPid}`)), 'the cross-patient entry is audited as refused')

  // A viewer's batch reads exactly the grant, as its searches would.
  const viewer = rig.issue({ identity: addr(VIEWER).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
  const v = (await postBatch(batchOf(['GET', 'Observation'], ['GET', 'Condition']), viewer)).body as unknown as BatchResponse
  const seen = v.entry[0]!.resource!.entry!.map((e) => e.resource)
  t.equal(seen.length, 5)
  t.ok(seen.every((r) => Object.keys(r).sort().join() === '_status,code,id,meta,resourceType,valueQuantity'), "the viewer's batch reads its granted fields only (code, valueQuantity; status masked)")
  t.equal(v.entry[1]!.resource!.total, 0, 'and no Condition: its grant names none')
})

t.test('batch: refused whole without a token, as a transaction, over its size, or malformed', async (t) => {
  refusal(t, await postBatch(batchOf(['GET', 'Observation']), undefined), 401, 'no token')
  refusal(t, await postBatch(batchOf(['GET', 'Observation']), 'not-a-token'), 401, 'a forged token')
  refusal(t, await postBatch({ ...batchOf(['GET', 'Observation']), type: 'transaction' }, aliceToken()), 422, 'a transaction', /read-only/)
  refusal(t, await postBatch({ resourceType: 'Bundle', type: 'searchset' }, aliceToken()), 400, 'not a batch')
  refusal(t, await postBatch({ resourceType: 'Patient' }, aliceToken()), 400, 'not a Bundle')
  refusal(t, await postBatch(batchOf(...Array.from({ length: 51 }, () => ['GET', 'Observation'] as [string, string])), aliceToken()), 400, '51 entries', /at most 50/)
  refusal(t, await postBatch({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { url: 'Observation' } }] }, aliceToken()), 400, 'an entry without a method')
  refusal(t, await postBatch(batchOf(['GET', 'Observation']), aliceToken(), 'text/plain'), 415, 'not FHIR JSON')
  const huge = await get('', aliceToken(), { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: `{"resourceType":"Bundle","type":"batch","pad":"${'x'.repeat(70_000)}"}` })
  refusal(t, huge, 413, 'over 64 KiB')
  const garbage = await get('', aliceToken(), { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: '{"resourceType":' })
  refusal(t, garbage, 400, 'not JSON')
  const nested = (await postBatch(batchOf(['GET', '']), aliceToken())).body as unknown as BatchResponse
  t.match(nested.entry[0]!.response.status, /^40[04]/, 'an entry at the bare base is no interaction')
})

t.test("batch: every entry takes its share of the identity's rate: a batch cannot outrun the limit", async (t) => {
  const token = rig.issue({ identity: '0x00000000000000000000000000000000000000b7', patient: alicePid, relationships: [aliceRel], scopes: ALL })
  let limited: BatchResponse['entry'][number] | undefined
  for (let i = 0; i < 30 && limited === undefined; i++) {
    const r = (await postBatch(batchOf(...Array.from({ length: 50 }, () => ['GET', 'Observation'] as [string, string])), token)).body as unknown as BatchResponse
    limited = r.entry.find((e) => e.response.status.startsWith('429'))
  }
  t.ok(limited, 'entries beyond the rate are refused 429')
  t.equal(limited?.response.outcome?.resourceType, 'OperationOutcome')
})

t.test('every FHIR read, served or refused, is in the audit chain the patient reads', async (t) => {
  const view = rig.gk.auditChain(provider).log.view([aliceRel])
  const check = checkAuditView(view, undefined)
  t.ok(check.linked, `the patient's view of the chain checks (${check.problem ?? ''})`)
  const fhir = view.entries.filter((e) => e.reason.includes('FHIR'))
  const viewerRead = fhir.find((e) => e.requester === addr(VIEWER).toLowerCase() && e.decision === 'granted')
  t.ok(viewerRead, "the viewer's search is there")
  t.equal(viewerRead?.method, 'records', 'as a records read (the patient app shows its fields)')
  t.same(viewerRead?.pointerIds, ['0'])
  t.same(viewerRead?.fieldMasks, ['0x6'], 'the fields it read')
  t.match(viewerRead?.reason, /FHIR search-type Observation \(token jti-\d+, client test-app\)/, 'names the interaction and the token')
  const revoked = fhir.find((e) => e.requester === addr(VIEWER2).toLowerCase() && e.decision === 'refused')
  t.match(revoked?.reason, /^FORBIDDEN: /, "the revoked viewer's refusal is there")
  t.ok(fhir.some((e) => e.requester === addr(ALICE).toLowerCase() && e.reason.includes(`Patient/${alicePid}/$everything`) && e.decision === 'granted'), "alice's $everything")
  t.ok(fhir.some((e) => e.requester === addr(ALICE).toLowerCase() && e.decision === 'refused' && e.reason.includes(`Patient/${bobPid}`)), 'her cross-patient attempt, refused')
  t.notOk(fhir.some((e) => e.relationship === bobRel.toLowerCase()), "nothing in bob's relationship was read")
  const provLog = rig.gk.providerAudit.entries({ limit: 10_000 })
  t.ok(provLog.some((e) => e.requester === '' && e.reason.startsWith('UNAUTHORIZED') && e.reason.includes('search-type Observation')), 'a request without a token: in the provider-only log')
})

t.test('no read without its audit entry: when the audit log cannot be written, the request fails and releases nothing', async (t) => {
  // A real SQLite audit log whose database has gone away (a failed disk, a closed handle).
  const db = new DatabaseSync(':memory:')
  const broken = createAuditLog(db)
  db.close()
  const base = await rig.mount({ auditOf: () => broken })
  const res = await fetch(`${base}/Observation`, { headers: { authorization: `Bearer ${aliceToken()}` } })
  const text = await res.text()
  t.equal(res.status, 500)
  const body = JSON.parse(text) as Record<string, unknown>
  t.equal(body.resourceType, 'OperationOutcome')
  t.same(validate(body), [], 'a valid OperationOutcome')
  t.notMatch(text, /valueQuantity|o1|8480/, 'no record, and no detail of the failure')
  t.match(text, /the provider has been told/)
})

t.test('rate limits per identity answer 429 with Retry-After', async (t) => {
  const token = rig.issue({ identity: addr(STRANGER).toLowerCase() as Address, patient: alicePid, relationships: [aliceRel], scopes: ALL })
  let limited: Awaited<ReturnType<typeof get>> | undefined
  for (let i = 0; i < 400 && limited === undefined; i++) {
    const r = await get('/Observation', token)
    if (r.status === 429) limited = r
  }
  t.ok(limited, 'refused once over the rate')
  refusal(t, limited!, 429, 'over the rate')
  t.match(limited!.headers.get('retry-after') ?? '', /^\d+$/)
})
