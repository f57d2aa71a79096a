import t, { type Test } from 'tap'
import { DatabaseSync } from 'node:sqlite'
import { join } from 'node:path'
import { encodeFunctionData, toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import { patientProviderRelationshipAbi } from '../../contracts/generated/patient-provider-relationship.ts'
import { decryptWith } from '../../gatekeeper/ecies.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import type { FhirResource, GatekeeperRequest, SignedRequestJson } from '../../gatekeeper/types.ts'
import { rpc, rpcRaw, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { pinnedFetch } from '../helpers/gatekeeper-tls.ts'
import { GatekeeperErrorCode, type GatekeeperWireCode } from '../../gatekeeper/errors.ts'

/**
 * The gatekeeper's access rules against a real node (dev chain, gatekeeper on, k = 2): every rule
 * is attacked with a signed request crafted here, and every refusal must leak zero records.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 7 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const keyBytes = (i: number): Uint8Array => accounts[i]!.getHdKey().privateKey!
const [PROVIDER, ALICE, BOB, VIEWER, STRANGER, VIEWER2, CAROL] = [0, 1, 2, 3, 4, 5, 6] as const
const addr = (i: number): Address => accounts[i]!.address
const CHAIN_ID = 1337n
const NASTY = `Robert'); DROP TABLE observation;-- " /* */ % _ \\ ) OR 1=1 -- \u0000 ü 漢`

let node: NodeProcess
let dir: ReturnType<typeof tempDir>
let gkUrl: string
/** Requests to the gatekeeper's HTTPS API, pinned to the certificate fingerprint it publishes. */
let gkFetch: ReturnType<typeof pinnedFetch>
let provider: Address
const clients: MedRecClient[] = []
let aliceRel: Address
let bobRel: Address

type Reply = { status: number; body: { ok: boolean; encrypted?: unknown; error?: { code: string; message: string } } }

async function post(body: unknown, raw?: string): Promise<Reply> {
  const res = await gkFetch(`${gkUrl}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) })
  return { status: res.status, body: (await res.json()) as Reply['body'] }
}

function request(fields: Partial<GatekeeperRequest> & Pick<GatekeeperRequest, 'relationship'>, now = Math.floor(Date.now() / 1000)): GatekeeperRequest {
  return { ...newRequest({ gatekeeper: provider, method: 'records', relationship: fields.relationship, pointerIds: [0n], fieldMasks: [0xfn] }, now), ...fields }
}

async function signed(i: number, req: GatekeeperRequest, chainId = CHAIN_ID): Promise<SignedRequestJson> {
  return signRequest(keyOf(i), chainId, req)
}

/** A refusal: the status, the code, and no encrypted payload at all. */
function refused(t: Test, r: Reply, status: number, code: GatekeeperWireCode, what: string): void {
  t.equal(r.status, status, `${what}: HTTP ${status}`)
  t.equal(r.body.ok, false, `${what}: refused`)
  t.equal(r.body.error?.code, code, `${what}: ${code} (${r.body.error?.message})`)
  t.equal(r.body.encrypted, undefined, `${what}: no payload`)
}

function open(i: number, r: Reply): { pointers: { fields: number[]; bundle: { entry: { resource: FhirResource }[] } }[] } & Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(decryptWith(keyBytes(i), r.body.encrypted))) as never
}

t.before(async () => {
  dir = tempDir('medrec-gk-')
  // Period 0: a block as soon as a transaction arrives, so the set-up's dozen transactions do not wait for a timer.
  node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.k', '2'], { datadir: dir.path })
  const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  gkUrl = info.url!
  gkFetch = pinnedFetch(info.tlsFingerprint)
  provider = info.account as Address
  for (let i = 0; i < accounts.length; i++) clients.push(createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(i), pollMs: 100 }))

  await rpc(node.url, 'medrec_addPatient', [{ identity: 'alice', address: addr(ALICE) }])
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'bob', address: addr(BOB) }])
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'carol', address: addr(CAROL) }])
  await clients[PROVIDER]!.registrar.registerIdentity('viewer-lab', addr(VIEWER))
  await clients[PROVIDER]!.registrar.registerIdentity('viewer-2', addr(VIEWER2))
  const obs = (id: string, code: string, value: number, note = 'final'): FhirResource => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code, display: note }] },
    valueQuantity: { value, unit: 'mmHg' },
    effectiveDateTime: '2026-01-02T03:04:05Z',
  })
  const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] }
  const bounty = { resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] }
  const a = await rpc<{ relationship: Address; action: string }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('a1', '8480-6', 120, NASTY), obs('a2', '4548-4', 7)], query, bounty }])
  const b = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'bob', resources: [obs('b1', '8480-6', 135)], query, bounty }])
  await rpc(node.url, 'medrec_addRecord', [{ identity: 'carol', resources: [obs('c1', '8480-6', 140), obs('c2', '2339-0', 5)], query, bounty }])
  aliceRel = a.relationship
  bobRel = b.relationship
  await clients[ALICE]!.summary().accept(aliceRel)
  await clients[ALICE]!.relationship(aliceRel).grant(addr(VIEWER), [{ pointerId: 0, fields: [1, 2] }], Math.floor(Date.now() / 1000) + 3600)
})

t.teardown(async () => {
  await node?.kill()
  dir?.remove()
})

t.test('the patient reads every field; the records verify against the hash on chain', async (t) => {
  const alice = createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const res = await alice.fetchRecords(aliceRel)
  t.equal(res.pointers.length, 1)
  const p = res.pointers[0]!
  t.equal(p.status, 'verified', 'verified against the on-chain dataHash')
  t.same(p.fields, [0, 1, 2, 3])
  const ids = p.bundle.entry.map((e) => e.resource.id).sort()
  t.same(ids, ['a1', 'a2'], "exactly alice's records, none of bob's")
  const a1 = p.bundle.entry.find((e) => e.resource.id === 'a1')!.resource as unknown as { code: { coding: { display: string }[] } }
  t.equal(a1.code.coding[0]!.display, NASTY, 'SQL metacharacters come back byte-identical')
})

t.test('a viewer gets exactly the granted fields, never more', async (t) => {
  const ok = await post(await signed(VIEWER, request({ relationship: aliceRel, fieldMasks: [0b0110n] })))
  t.equal(ok.status, 200, `granted fields served (${ok.body.error?.message ?? ''})`)
  const body = open(VIEWER, ok)
  const resources = body.pointers[0]!.bundle.entry.map((e) => e.resource)
  t.equal(resources.length, 2)
  for (const r of resources) t.same(Object.keys(r).sort(), ['code', 'id', 'resourceType', 'valueQuantity'], `only code and valueQuantity of ${r.id}`)
  refused(t, await post(await signed(VIEWER, request({ relationship: aliceRel, fieldMasks: [0b0111n] }))), 403, 'FORBIDDEN', 'a field beyond the grant')
  refused(t, await post(await signed(VIEWER, request({ relationship: aliceRel, fieldMasks: [0b1000n] }))), 403, 'FORBIDDEN', 'another field only')
  const viewer = createRequester({ client: clients[VIEWER]!, privateKey: keyOf(VIEWER), chainId: CHAIN_ID })
  const fetched = await viewer.fetchRecords(aliceRel)
  t.equal(fetched.pointers[0]!.status, 'verified', 'a partial result verifies against the full hash (field commitments)')
})

t.test('signatures: forged, altered, wrong chain, wrong gatekeeper', async (t) => {
  const forged = await signed(STRANGER, request({ relationship: aliceRel }))
  refused(t, await post({ ...forged, from: addr(ALICE) }), 401, 'BAD_SIGNATURE', "a stranger's signature claiming to be alice")
  const good = await signed(ALICE, request({ relationship: aliceRel }))
  refused(t, await post({ ...good, request: { ...good.request, relationship: bobRel } }), 401, 'BAD_SIGNATURE', 'relationship changed after signing')
  refused(t, await post({ ...good, request: { ...good.request, fieldMasks: ['255'] } }), 401, 'BAD_SIGNATURE', 'fields changed after signing')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel }), 1n)), 401, 'BAD_SIGNATURE', 'signed for another chain')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, gatekeeper: addr(BOB) }))), 421, 'WRONG_GATEKEEPER', 'addressed to another gatekeeper')
  const bad = await signed(ALICE, request({ relationship: aliceRel }))
  refused(t, await post({ ...bad, signature: `${bad.signature.slice(0, -4)}ffff` }), 401, 'BAD_SIGNATURE', 'mangled signature bytes')
})

t.test('freshness and single use', async (t) => {
  const once = await signed(ALICE, request({ relationship: aliceRel }))
  t.equal((await post(once)).status, 200, 'first use served')
  refused(t, await post(once), 401, 'REPLAYED', 'the same request again')
  const now = Math.floor(Date.now() / 1000)
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, issuedAt: BigInt(now - 120), expiresAt: BigInt(now - 60) }), CHAIN_ID)), 401, 'EXPIRED', 'expired')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, issuedAt: BigInt(now), expiresAt: BigInt(now + 86_400) }))), 401, 'EXPIRED', 'a lifetime beyond the maximum')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, issuedAt: BigInt(now + 600), expiresAt: BigInt(now + 700) }))), 401, 'EXPIRED', 'issued in the future')
})

t.test("another patient's data, unknown requesters", async (t) => {
  refused(t, await post(await signed(ALICE, request({ relationship: bobRel }))), 403, 'FORBIDDEN', "alice asks for bob's records")
  refused(t, await post(await signed(VIEWER, request({ relationship: bobRel, fieldMasks: [0b0110n] }))), 403, 'FORBIDDEN', "alice's viewer asks for bob's records")
  refused(t, await post(await signed(STRANGER, request({ relationship: aliceRel }))), 403, 'FORBIDDEN', 'an account unknown to the chain')
  refused(t, await post(await signed(ALICE, request({ relationship: addr(STRANGER) }))), 404, 'NOT_FOUND', 'a relationship this gatekeeper does not serve')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, pointerIds: [7n] }))), 403, 'FORBIDDEN', 'a pointer that does not exist')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, pointerIds: [2n ** 200n] }))), 403, 'FORBIDDEN', 'a pointer id beyond any list')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, fieldMasks: [0n] }))), 400, 'BAD_REQUEST', 'an empty field mask')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, fieldMasks: [1n << 255n] }))), 400, 'BAD_REQUEST', 'a mask beyond 255 fields')
  refused(t, await post(await signed(ALICE, request({ relationship: aliceRel, fieldMasks: [0b10000n] }))), 403, 'FORBIDDEN', 'a field the pointer does not have')
})

t.test('expired and revoked grants', async (t) => {
  const rel = clients[ALICE]!.relationship(aliceRel)
  const expiresAt = Math.floor(Date.now() / 1000) + 4
  await rel.grant(addr(VIEWER2), [{ pointerId: 0, fields: [1] }], expiresAt)
  t.equal((await post(await signed(VIEWER2, request({ relationship: aliceRel, fieldMasks: [0b10n] })))).status, 200, 'served while the grant lives')
  // Served until the expiry, refused from then on: poll for the refusal (the grant dies in ~4 s) rather than sleep past it.
  await waitFor(async () => (await post(await signed(VIEWER2, request({ relationship: aliceRel, fieldMasks: [0b10n] })))).status !== 200, 'the grant to expire', 20_000)
  t.ok(Math.floor(Date.now() / 1000) >= expiresAt, 'no sooner than its expiry')
  refused(t, await post(await signed(VIEWER2, request({ relationship: aliceRel, fieldMasks: [0b10n] }))), 403, 'FORBIDDEN', 'after the grant expired')
  await rel.grant(addr(VIEWER2), [{ pointerId: 0, fields: [1] }])
  t.equal((await post(await signed(VIEWER2, request({ relationship: aliceRel, fieldMasks: [0b10n] })))).status, 200, 'a new grant serves again')
  await rel.revoke(addr(VIEWER2))
  refused(t, await post(await signed(VIEWER2, request({ relationship: aliceRel, fieldMasks: [0b10n] }))), 403, 'FORBIDDEN', 'after the grant was revoked')
})

t.test('malformed input gets a clear error', async (t) => {
  const r1 = await post(undefined, 'not json')
  t.equal(r1.status, 400)
  t.equal(r1.body.error?.code, 'BAD_REQUEST')
  const r2 = await post({ request: { method: "records' OR 1=1 --" }, from: addr(ALICE), signature: '0x00' })
  t.equal(r2.status, 400)
  t.equal(r2.body.error?.code, 'BAD_REQUEST')
  const big = await gkFetch(`${gkUrl}/v1/requests`, { method: 'POST', body: 'x'.repeat(200_000) })
  t.equal(big.status, 413, 'oversized body refused')
  const info = (await (await gkFetch(`${gkUrl}/v1/info`)).json()) as { account: string }
  t.equal(info.account, provider)
  // The medrec_* RPC refuses malformed parameters with -32602 and says what it wants.
  const bad = [
    ['medrec_fetch', []],
    ['medrec_fetch', [{ relationship: 42 }]],
    ['medrec_addRecord', [['not', 'an', 'object']]],
    ['medrec_addRecord', [{ identity: 'alice', resources: [] }]],
    ['medrec_addPatient', [{ identity: 'x', address: 'not-an-address' }]],
    ['medrec_collectBounty', [{ index: -1 }]],
    ['medrec_share', [{ relationship: aliceRel, viewer: 'nobody', items: [{ pointerId: 0, fields: [1] }] }]],
  ] as const
  for (const [method, params] of bad) {
    const r = await rpcRaw(node.url, method, [...params])
    t.equal(r.error?.code, -32602, `${method} ${JSON.stringify(params)}: invalid params (${r.error?.message})`)
  }
  const notPatient = await rpcRaw(node.url, 'medrec_share', [{ relationship: aliceRel, viewer: addr(VIEWER), items: [{ pointerId: 0, fields: [1] }] }])
  t.match(notPatient.error?.message ?? '', /NotPatient/, "the provider's node cannot share the patient's records: the contract refuses")
})

t.test('the FHIR API takes SMART access tokens, not signed requests: a signed request in Authorization is refused as an OperationOutcome', async (t) => {
  const s = await signed(ALICE, request({ relationship: aliceRel }))
  const res = await gkFetch(`${gkUrl}/fhir/Observation?relationship=${aliceRel}&pointer=0`, { headers: { authorization: `MedRec ${Buffer.from(JSON.stringify(s)).toString('base64url')}` } })
  t.equal(res.status, 401)
  t.match(res.headers.get('www-authenticate') ?? '', /^Bearer/, 'a Bearer challenge')
  const body = (await res.json()) as { resourceType: string }
  t.equal(body.resourceType, 'OperationOutcome', 'no Binary, no records')
  const none = await gkFetch(`${gkUrl}/fhir/Observation`)
  t.equal(none.status, 401, 'no token, no records')
  const cs = (await (await gkFetch(`${gkUrl}/fhir/metadata`)).json()) as { resourceType: string; rest: { security: { extension: { extension: { url: string; valueUri: string }[] }[] } }[] }
  t.equal(cs.resourceType, 'CapabilityStatement', "the node's gatekeeper serves the FHIR API")
  const smart = (await (await gkFetch(`${gkUrl}/.well-known/smart-configuration`)).json()) as { authorization_endpoint: string; token_endpoint: string }
  t.same(cs.rest[0]!.security.extension[0]!.extension.map((e) => e.valueUri), [smart.authorization_endpoint, smart.token_endpoint], "its SMART endpoints are the authorization server's")
})

t.test('bounties: only the owner, only cells of at least k patients, signed by the provider', async (t) => {
  const owner = createRequester({ client: clients[PROVIDER]!, privateKey: keyOf(PROVIDER), chainId: CHAIN_ID })
  const list = await clients[PROVIDER]!.relationships.bounties(provider)
  t.ok(list.length >= 2, 'the dev sealer authored the updates, so it owns their bounties')
  const res = await owner.collectBounty(0)
  t.equal(res.signer.toLowerCase(), provider.toLowerCase(), 'signed by the provider')
  t.same(res.cells.map((c) => c.group), [{ code: '8480-6' }], 'the code three patients share is released')
  t.ok(res.cells.every((c) => c.patients >= 2), 'no released cell below k')
  t.equal(res.suppressed, 2, 'the codes only alice or only carol have are withheld (together they cover k patients, so no difference reveals one)')
  const alice = createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  await t.rejects(alice.collectBounty(0), { code: GatekeeperErrorCode.NOT_FOUND }, 'a non-owner has no such bounty to ask for')
  refused(t, await post(await signed(ALICE, request({ method: 'bounty', relationship: aliceRel, pointerIds: [0n], fieldMasks: [], index: 0n }))), 403, 'FORBIDDEN', 'a non-owner asks the gatekeeper directly')
  // A bounty over the one record coded in SNOMED CT (alice's only): every cell, and the total, is below k.
  await rpc(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [{ resourceType: 'Observation', id: 'a3', status: 'final', code: { coding: [{ system: 'http://snomed.info/sct', code: '43396009' }] }, valueQuantity: { value: 6.5, unit: '%' } }], query: { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] }, bounty: { resourceType: 'Observation', aggregate: 'count', codeSystems: ['http://snomed.info/sct'] } }])
  const index = (await clients[PROVIDER]!.relationships.bountyCount(provider)) - 1
  await t.rejects(owner.collectBounty(index), { code: GatekeeperErrorCode.K_ANONYMITY }, 'an aggregate over fewer than k patients is refused')
})

t.test('records changed behind the chain are reported as tampered', async (t) => {
  const db = new DatabaseSync(join(dir.path, 'gatekeeper', 'records.sqlite'))
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name)
  const table = tables.find((n) => /observation/i.test(n))!
  const row = db.prepare(`SELECT resource FROM ${table} WHERE id = ?`).get('a2') as { resource: string }
  const changed = JSON.parse(row.resource) as { valueQuantity: { value: number } }
  changed.valueQuantity.value = 99
  db.prepare(`UPDATE ${table} SET resource = ? WHERE id = ?`).run(JSON.stringify(changed), 'a2')
  db.close()
  const alice = createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const res = await alice.fetchRecords(aliceRel)
  t.equal(res.pointers[0]!.status, 'tampered', 'the receiver sees the mismatch with the hash on chain')
})

t.test('audit: every request logged, hash-linked, readable by the patient only, anchored on chain', async (t) => {
  const alice = createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const log = await alice.audit(aliceRel)
  t.ok(log.linked, 'hash links check out')
  t.notOk(log.entries.some((e) => /BAD_SIGNATURE/.test(e.reason) || e.requester.startsWith('unverified:')), 'forged attempts stay out of her view (they are in the provider-only log)')
  t.ok(log.entries.some((e) => e.decision === 'granted' && e.requester.toLowerCase() === addr(VIEWER).toLowerCase()), "the viewer's reads are in the log")
  t.ok(log.entries.every((e) => e.relationship.toLowerCase() === aliceRel.toLowerCase()), "only alice's relationship")
  const viewer = createRequester({ client: clients[VIEWER]!, privateKey: keyOf(VIEWER), chainId: CHAIN_ID })
  await t.rejects(viewer.audit(aliceRel), { code: GatekeeperErrorCode.FORBIDDEN }, "a viewer cannot read the patient's audit log")
  const anchored = await rpc<{ seq: number; head: string }>(node.url, 'medrec_anchorAudit')
  t.equal(await clients[PROVIDER]!.registrar.anchoredSeq(provider), anchored.seq, 'the head is anchored in the Registrar')
  const again = await rpcRaw(node.url, 'medrec_anchorAudit')
  t.match(again.error?.message ?? '', /StaleAnchor|empty|seq/, 'anchoring the same head twice is refused')
  const checked = await alice.audit(aliceRel)
  t.equal(checked.covered.status, 'verified', 'her entries up to the anchor match it')
})

t.test('a query with a value is refused by medrec_* before anything is stored or sent', async (t) => {
  const pending = () => rpc<Hex>(node.url, 'eth_getTransactionCount', [provider, 'pending'])
  const nonceBefore = await pending()
  const pointersBefore = await clients[PROVIDER]!.relationship(aliceRel).pointerCount()
  const record = (id: string): FhirResource => ({ resourceType: 'Condition', id, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'E11.9' }] } })
  const query = { resourceType: 'Condition', fields: ['code'] }
  const calls: [string, string, Record<string, unknown>, RegExp][] = [
    ['a diagnosis code in the pointer query', 'medrec_addRecord', { identity: 'alice', resources: [record('v1')], query: { ...query, search: { code: 'E11' } } }, /search values never go on chain: a query names a resource type, fields and code systems.*e\.g\. \{/],
    ['a lab threshold in the bounty', 'medrec_addRecord', { identity: 'alice', resources: [record('v2')], query, bounty: { resourceType: 'Observation', aggregate: 'count', search: { 'value-quantity': 'ge6.5' } } }, /search values never go on chain/],
    ['a code inside a code system URI', 'medrec_addRecord', { identity: 'alice', resources: [record('v3')], query: { ...query, codeSystems: ['http://hl7.org/fhir/sid/icd-10-cm|E11'] } }, /closed list/],
    ['a value under a key of its own', 'medrec_addRecord', { identity: 'alice', resources: [record('v4')], query: { ...query, code: 'E11' } }, /unknown key\(s\) "code"; allowed: resourceType, fields, codeSystems/],
    ['a value in the bounty of an update', 'medrec_update', { identity: 'alice', bounty: { resourceType: 'Condition', aggregate: 'count', search: { code: 'E11' } } }, /search values never go on chain/],
  ]
  for (const [what, method, params, message] of calls) {
    const r = await rpcRaw(node.url, method, [params])
    t.equal(r.error?.code, -32602, `${what}: invalid params`)
    t.match(r.error?.message ?? '', message, `${what}: says what a query may contain (${r.error?.message})`)
  }
  t.equal(await pending(), nonceBefore, 'no transaction was sent')
  t.equal(await clients[PROVIDER]!.relationship(aliceRel).pointerCount(), pointersBefore, 'no pointer was added')
  const db = new DatabaseSync(join(dir.path, 'gatekeeper', 'records.sqlite'), { readOnly: true })
  t.teardown(() => db.close())
  t.same(db.prepare("SELECT id FROM condition WHERE id IN ('v1', 'v2', 'v3', 'v4')").all(), [], 'and no record was stored')
})

t.test('a pointer or bounty with values put on chain by a hand-made transaction is never served', async (t) => {
  /** The provider's own key calls the contract directly: no client, no gatekeeper, no query check. */
  async function handMade(functionName: 'addPointer' | 'updatePointer', args: readonly unknown[]): Promise<void> {
    const data = encodeFunctionData({ abi: patientProviderRelationshipAbi, functionName, args } as never)
    const nonce = await rpc<Hex>(node.url, 'eth_getTransactionCount', [provider, 'pending'])
    const raw = await accounts[PROVIDER]!.signTransaction({ type: 'eip1559', chainId: Number(CHAIN_ID), nonce: Number(nonce), to: bobRel, data, gas: 3_000_000n, maxFeePerGas: 50_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n })
    const hash = await rpc<Hex>(node.url, 'eth_sendRawTransaction', [raw])
    const receipt = await waitFor(() => rpc<{ status: Hex } | null>(node.url, 'eth_getTransactionReceipt', [hash]), `${functionName} included`)
    t.equal(receipt.status, '0x1', `the chain took the hand-made ${functionName}: the contract does not read queries`)
  }
  const bob = clients[BOB]!.relationship(bobRel)
  const pointerId = await bob.pointerCount()
  const withValue = JSON.stringify({ resourceType: 'Condition', fields: ['code'], search: { code: 'E11' } })
  const bountyWithValue = JSON.stringify({ resourceType: 'Observation', aggregate: 'count', search: { 'value-quantity': 'ge6.5' } })
  const hash32 = `0x${'11'.repeat(32)}` as Hex
  await handMade('addPointer', [withValue, 1, hash32, bountyWithValue])
  await handMade('addPointer', ['SELECT * FROM condition', 1, hash32, '{"resourceType":"Observation","aggregate":"count"}'])
  t.equal((await bob.pointer(pointerId)).query, withValue, 'the value-carrying query is on chain as written')

  // The patient may read every pointer of her relationship, and still gets nothing from these.
  const withValueReply = await post(await signed(BOB, request({ relationship: bobRel, pointerIds: [BigInt(pointerId)], fieldMasks: [1n] })))
  refused(t, withValueReply, 403, 'FORBIDDEN', 'a pointer whose query carries a search value')
  t.match(withValueReply.body.error?.message ?? '', /pointer \d+ of 0x[0-9a-f]{40} has a query outside the query grammar, so this gatekeeper never serves it.*search values never go on chain/, 'the refusal names the pointer and the grammar')
  refused(t, await post(await signed(BOB, request({ relationship: bobRel, pointerIds: [BigInt(pointerId + 1)], fieldMasks: [1n] }))), 403, 'FORBIDDEN', 'a pointer whose query is SQL')
  refused(t, await post(await signed(BOB, request({ relationship: bobRel, pointerIds: [0n, BigInt(pointerId)], fieldMasks: [1n, 1n] }))), 403, 'FORBIDDEN', 'a good pointer asked with a bad one: nothing at all')

  // Refused like any other request the chain's state decides, and audited in the patient's view.
  const bobLog = await createRequester({ client: clients[BOB]!, privateKey: keyOf(BOB), chainId: CHAIN_ID }).audit(bobRel)
  t.ok(
    bobLog.entries.some((e) => e.decision === 'refused' && e.pointerIds.map(Number).includes(pointerId) && /FORBIDDEN: .*outside the query grammar/.test(e.reason)),
    'the refusal is in the audit log',
  )

  // Its bounty went to the block author, the provider's own account: not served either.
  const index = (await clients[PROVIDER]!.relationships.bountyCount(provider)) - 2
  const [b] = await clients[PROVIDER]!.relationships.bounties(provider, { offset: index, limit: 1 })
  t.equal(b?.query, bountyWithValue, 'the hand-made bounty is on chain')
  const bountyReply = await post(await signed(PROVIDER, request({ method: 'bounty', relationship: bobRel, pointerIds: [BigInt(pointerId)], fieldMasks: [], index: BigInt(index) })))
  refused(t, bountyReply, 403, 'FORBIDDEN', 'a bounty whose query carries a search value')
  t.match(bountyReply.body.error?.message ?? '', /bounty #\d+ has a query outside the query grammar/, 'the refusal names the bounty')

  // The provider's own update leaves such pointers alone and says so.
  const update = await rpc<{ outsideGrammar?: { pointerId: number }[] }>(node.url, 'medrec_update', [{ identity: 'bob' }])
  t.same(update.outsideGrammar?.map((p) => p.pointerId), [pointerId, pointerId + 1], 'update reports the pointers it will not hash')
})

void waitFor
