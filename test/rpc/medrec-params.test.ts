/**
 * Every medrec_* method's parameters pass its declared schema before the gatekeeper is touched:
 * malformed calls, sent over real HTTP with a valid token as a careless or hostile local client
 * would, get -32602 naming the field and the shape wanted, and leave no trace at the gatekeeper.
 */
import t, { type Test } from 'tap'
import { GatekeeperError, GatekeeperErrorCode, MEDREC_METHODS, type Gatekeeper } from '../../gatekeeper/index.ts'
import { createMedrecMethods, createRpcServer, createSubscriptionHub, DEFAULT_RPC, makeToken } from '../../node/rpc/index.ts'

const SECRET = new Uint8Array(32).fill(9)
const A = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8'
const B = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc'

/**
 * A gatekeeper that records every property read and call that reaches it: the assertion is that
 * refused calls never get here, so it has no behaviour beyond answering what it was given.
 */
function recordingGatekeeper(): { gk: Gatekeeper; reached: string[] } {
  const reached: string[] = []
  const leaf = (path: string) => (...args: unknown[]) => (reached.push(path), { path, args })
  const part = (name: string) => new Proxy({}, { get: (_o, k) => (typeof k === 'string' ? leaf(`${name}.${k}`) : undefined) })
  const gk = new Proxy({}, {
    get: (_o, k) => {
      if (typeof k !== 'string' || k === 'then') return undefined
      if (k === 'provider' || k === 'participant' || k === 'requester' || k === 'notifications') return part(k)
      return leaf(k)
    },
  })
  return { gk: gk as Gatekeeper, reached }
}

async function start(t: Test) {
  const { gk, reached } = recordingGatekeeper()
  const server = createRpcServer({ ...DEFAULT_RPC, port: 0, apis: ['medrec'], jwtSecret: SECRET }, { methods: createMedrecMethods(gk), subscriptions: createSubscriptionHub() })
  const { url } = await server.listen()
  t.teardown(() => server.close())
  const call = async (method: string, params: unknown[]) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await makeToken(SECRET)}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    })
    return (await res.json()) as { result?: { path: string; args: unknown[] }; error?: { code: number; message: string } }
  }
  return { call, reached }
}

type Case = [method: string, params: unknown[], message: RegExp]

const res = { resourceType: 'Observation', status: 'final' }
const CASES: Case[] = [
  // no-parameter methods
  ['medrec_gatekeeperInfo', [{ verbose: true }], /medrec_gatekeeperInfo takes no parameters .*"verbose"/],
  ['medrec_relationships', [[]], /invalid argument 0: expected an object, got array/],
  ['medrec_anchorAudit', [{}, {}], /too many arguments, want at most 1/],
  ['medrec_bounties', ['all'], /expected an object, got string/],
  ['medrec_collectedBounties', [{ since: 1 }], /takes no parameters/],
  // provider side
  ['medrec_addPatient', [], /missing value for required argument 0: medrec_addPatient takes one object parameter \{identity: string, address: address, patient\?: Patient resource, patientId\?: string\}/],
  ['medrec_addPatient', [{ identity: 'alice', address: A, patient: { resourceType: 'Patient', id: 'p1' }, patientId: 'p1' }], /give "patient" or "patientId", not both/],
  ['medrec_addPatient', [{ identity: 'alice', address: 'alice' }], /field address: hex string without 0x prefix/],
  ['medrec_addPatient', [{ identity: '', address: A }], /field identity: expected a non-empty string, got an empty one/],
  ['medrec_addPatient', [{ identity: 'alice', address: A, patient: { resourceType: 'Observation' } }], /field patient: expected a FHIR Patient resource, got resourceType "Observation"/],
  ['medrec_addPatient', [{ identity: 'alice', adress: A }], /unknown field "adress"; expected \{identity: string, address: address/],
  ['medrec_addRecord', [{ identity: 'alice', resources: [] }], /field resources: expected at least 1 element \(resource\[\]\), got 0/],
  ['medrec_addRecord', [{ identity: 'alice', resources: [{ status: 'final' }] }], /field resources\[0\]: expected a FHIR resource with a "resourceType", got none/],
  ['medrec_addRecord', [{ resources: [res] }], /name the patient by "identity" or "patientId"/],
  ['medrec_addRecord', [{ identity: 'alice', patientId: 'p1', resources: [res] }], /give "identity" or "patientId", not both/],
  ['medrec_addRecord', [{ identity: 'alice', resources: [res], query: 'Observation' }], /field query: expected a record query object, got string/],
  ['medrec_update', [{ patientId: 7 }], /field patientId: expected a non-empty string, got number/],
  ['medrec_update', [{ identity: 'a', bounty: [] }], /field bounty: expected a bounty query object, got array/],
  ['medrec_import', [{ csv: 'a,b\n1,2' }], /give a FHIR "bundle", or "csv" text with its "resourceType"/],
  ['medrec_import', [{ bundle: { resourceType: 'Patient' } }], /field bundle: expected a FHIR Bundle, got resourceType "Patient"/],
  ['medrec_import', [{ bundle: { resourceType: 'Bundle' }, publish: 'yes' }], /field publish: expected true or false, got string/],
  ['medrec_consentRequests', [{ relationship: A }], /medrec_consentRequests takes no parameters/],
  ['medrec_requireConsent', [{ relationship: A }], /field required: required: boolean/],
  ['medrec_requireConsent', [{ relationship: A, required: 'yes' }], /field required: expected true or false, got string/],
  ['medrec_approve', [{ relationship: A, viewer: B }], /field grantId: required: uint/],
  ['medrec_approve', [{ relationship: A, viewer: 'bob', grantId: 1 }], /field viewer: hex string without 0x prefix/],
  // patient / viewer side
  ['medrec_accept', [{}], /field relationship: required: address/],
  ['medrec_delete', [{ relationship: A, viewer: B }], /unknown field "viewer"; expected \{relationship: address\}/],
  ['medrec_reject', [{ relationship: '0x1234' }], /field relationship: hex string has length 4, want 40/],
  ['medrec_share', [{ relationship: A, viewer: B, items: [] }], /field items: expected at least 1 element/],
  ['medrec_share', [{ relationship: A, viewer: B, items: [{ pointerId: '0', fields: [0] }] }], /field items\[0\]\.pointerId: expected a non-negative integer \(JSON number\), got string/],
  ['medrec_share', [{ relationship: A, viewer: B, items: [{ pointerId: 0, fields: [-1] }] }], /field items\[0\]\.fields\[0\]: expected a non-negative integer \(JSON number\), got -1/],
  ['medrec_share', [{ relationship: A, viewer: B, items: [{ pointerId: 0, fields: [0], extra: 1 }] }], /field items\[0\]: unknown field "extra"; expected \{pointerId: uint, fields: uint\[\]\}/],
  ['medrec_share', [{ relationship: A, viewer: B, items: [{ pointerId: 0, fields: [0] }], expiresAt: 1.5 }], /field expiresAt: expected a non-negative integer \(JSON number\), got 1\.5/],
  ['medrec_revoke', [{ relationship: A }], /field viewer: required: address/],
  ['medrec_fetch', [{ relationship: A, transport: 'ftp' }], /field transport: expected "http" \| "p2p", got "ftp"/],
  ['medrec_fetch', [{ relationship: A, pointerIds: 0 }], /field pointerIds: expected uint\[\], got number/],
  ['medrec_fetch', [A], /expected an object, got string: medrec_fetch takes one object parameter \{relationship: address, pointerIds\?: uint\[\], transport\?: "http" \| "p2p"\}/],
  ['medrec_audit', [{ gatekeeper: 'me' }], /field gatekeeper: hex string without 0x prefix/],
  ['medrec_collectBounty', [{ index: -1 }], /field index: expected a non-negative integer \(JSON number\), got -1/],
  ['medrec_collectBounty', [{}], /field index: required: uint/],
  ['medrec_notifications', [{ since: '5' }], /field since: expected a non-negative integer \(JSON number\), got string/],
]

t.test('malformed params of every medrec_* method: -32602 naming the field and shape, and the gatekeeper is not reached', async (t) => {
  const { call, reached } = await start(t)
  const covered = new Set(CASES.map(([m]) => m))
  t.same(MEDREC_METHODS.filter((m) => !covered.has(m)), [], 'every medrec_* method has a malformed case')
  for (const [method, params, message] of CASES) {
    const r = await call(method, params)
    t.equal(r.error?.code, -32602, `${method} ${JSON.stringify(params)}: -32602`)
    t.match(r.error?.message, message, `${method}: the message says what is wrong`)
  }
  t.same(reached, [], 'no refused call reached the gatekeeper')
})

t.test('well-formed params reach the gatekeeper as declared (null fields dropped, optional objects defaulted)', async (t) => {
  const { call, reached } = await start(t)
  const ok: [method: string, params: unknown[], path: string, args: unknown[]][] = [
    ['medrec_gatekeeperInfo', [], 'info', []],
    ['medrec_bounties', [{}], 'participant.bounties', []],
    ['medrec_addPatient', [{ identity: 'alice', address: A }], 'provider.addPatient', [{ identity: 'alice', address: A }]],
    ['medrec_addRecord', [{ patientId: 'p1', resources: [res], bounty: null }], 'provider.addRecord', [{ patientId: 'p1', resources: [res] }]],
    ['medrec_update', [], 'provider.update', [{}]],
    ['medrec_import', [{ csv: 'x', resourceType: 'Observation', publish: true }], 'provider.import', [{ csv: 'x', resourceType: 'Observation', publish: true }]],
    ['medrec_accept', [{ relationship: A }], 'participant.decide', [A, true]],
    ['medrec_delete', [{ relationship: A }], 'participant.remove', [A]],
    ['medrec_consentRequests', [], 'provider.consentRequests', []],
    ['medrec_requireConsent', [{ relationship: A, required: true }], 'provider.requireConsent', [{ relationship: A, required: true }]],
    ['medrec_approve', [{ relationship: A, viewer: B, grantId: 2 }], 'provider.approve', [{ relationship: A, viewer: B, grantId: 2 }]],
    ['medrec_share', [{ relationship: A, viewer: B, items: [{ pointerId: 0, fields: [0, 2] }] }], 'participant.share', [{ relationship: A, viewer: B, items: [{ pointerId: 0, fields: [0, 2] }] }]],
    ['medrec_revoke', [{ relationship: A, viewer: B }], 'participant.revoke', [A, B]],
    ['medrec_fetch', [{ relationship: A, pointerIds: [1], transport: 'p2p' }], 'participant.fetch', [A, [1], 'p2p']],
    ['medrec_audit', [null], 'requester.audit', [null, null]],
    ['medrec_collectBounty', [{ index: 3 }], 'participant.collectBounty', [3]],
    ['medrec_notifications', [{}], 'notifications.since', [0]],
  ]
  for (const [method, params, path, args] of ok) {
    const r = await call(method, params)
    t.equal(r.error, undefined, `${method}: accepted`)
    // JSON turns the undefined arguments of audit() into null.
    t.same(r.result, { path, args }, `${method}: reaches ${path} with the checked params`)
  }
  t.equal(reached.length, ok.length)
})

t.test('a gatekeeper refusal reaches the caller with its prefixed code in data; BAD_REQUEST is -32602', async (t) => {
  let code: GatekeeperErrorCode = GatekeeperErrorCode.FORBIDDEN
  const gk = new Proxy({}, { get: (_o, k) => (k === 'then' ? undefined : () => { throw new GatekeeperError(code, 'refused here') }) }) as Gatekeeper
  const server = createRpcServer({ ...DEFAULT_RPC, port: 0, apis: ['medrec'], jwtSecret: SECRET }, { methods: createMedrecMethods(gk), subscriptions: createSubscriptionHub() })
  const { url } = await server.listen()
  t.teardown(() => server.close())
  const info = async () => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await makeToken(SECRET)}` }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'medrec_gatekeeperInfo', params: [] }) })
    return ((await res.json()) as { error?: unknown }).error
  }
  t.same(await info(), { code: -32000, message: 'refused here', data: { code: 'GATEKEEPER_FORBIDDEN' } })
  code = GatekeeperErrorCode.BAD_REQUEST
  t.same(await info(), { code: -32602, message: 'refused here' })
})
