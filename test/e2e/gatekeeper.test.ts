import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { DatabaseSync } from 'node:sqlite'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { medrec } from '../cli/run-cli.ts'
import type { FetchResult, Notification, RelationshipView } from '../../gatekeeper/api.ts'
import { toHex } from 'viem'
import { createMedRecClient, type ClientError } from '../../contracts/client/index.ts'
import type { ConsentRequest } from '../../gatekeeper/api.ts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { MEDREC, ROOT, authHeaders, rpc, rpcRaw, waitFor } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'

/**
 * The paper's Figure 2 and the third-party flow across three real node processes on 127.0.0.1:
 * a provider (the authority, sealing, gatekeeper on HTTP), a patient and a third party (synced
 * peers with their own gatekeeper accounts), driven through the `medrec` CLI as users would.
 */

let net: TestNetwork
const [PROVIDER, PATIENT, THIRD] = [0, 1, 2] as const

async function cli(t: Test, member: number, args: string[]): Promise<unknown> {
  const r = await medrec([...args, '--rpc', net.members[member]!.node!.url, '--datadir', net.members[member]!.datadir, '--json'])
  t.equal(r.code, 0, `medrec ${args.slice(0, 2).join(' ')} exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  return r.code === 0 ? JSON.parse(r.stdout) : undefined
}

const notified = (member: number, kind: string, relationship: string) =>
  waitFor(async () => {
    const list = await rpc<Notification[]>(net.members[member]!.node!.url, 'medrec_notifications', [{ since: 0 }])
    return list.find((n) => n.kind === kind && n.relationship === relationship.toLowerCase())
  }, `${kind} notification on ${net.members[member]!.name}`, 30_000)

t.before(async () => {
  // Period 0: the authority seals as soon as a transaction arrives; every step here is a transaction or waits for one.
  net = await createTestNetwork(3, { authorities: 1, period: 0 })
  await net.start(PROVIDER, { args: gatekeeperArgs(net.members[PROVIDER]!, ['--gatekeeper.k', '2']) })
  // Both join through the provider, at once.
  await Promise.all([PATIENT, THIRD].map((m) => net.start(m, { sealer: false, args: gatekeeperArgs(net.members[m]!) })))
})
t.teardown(() => net?.close())

let relationship = ''

t.test("Figure 2: the provider adds a record for a new patient; the patient accepts and fetches it", async (t) => {
  const dir = net.members[PROVIDER]!.datadir
  const patient = net.members[PATIENT]!.address
  // Steps 1–3: resolve/register the identity, create the PPR with its pointer, link it into the Summary.
  await cli(t, PROVIDER, ['provider', 'add-patient', '--identity', 'alice-1970', '--address', patient])
  const file = join(dir, 'obs.json')
  writeFileSync(file, JSON.stringify([
    { resourceType: 'Observation', id: 'bp-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }] }, valueQuantity: { value: 128, unit: 'mmHg' }, effectiveDateTime: '2026-10-01T09:00:00Z' },
    { resourceType: 'Observation', id: 'hba1c-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'HbA1c' }] }, valueQuantity: { value: 6.1, unit: '%' }, effectiveDateTime: '2026-10-01T09:00:00Z' },
  ]))
  const added = (await cli(t, PROVIDER, ['provider', 'add-record', '--identity', 'alice-1970', '--resource', file])) as { relationship: string; action: string }
  t.equal(added.action, 'created', 'a new relationship')
  relationship = added.relationship
  // Steps 4–5: the patient's node, which synced the block, notifies.
  const n = await notified(PATIENT, 'relationship-added', relationship)
  t.match(n.message, /accept or reject/)
  const rels = (await cli(t, PATIENT, ['patient', 'relationships'])) as RelationshipView[]
  t.equal(rels[0]?.status, 'awaiting-approval')
  // Step 6: accept. Steps 7–9: the watch service fetches from the provider's gatekeeper and verifies.
  await cli(t, PATIENT, ['patient', 'accept', '--relationship', relationship])
  await notified(PATIENT, 'records-fetched', relationship)
  const fetched = (await cli(t, PATIENT, ['patient', 'fetch', '--relationship', relationship])) as FetchResult
  t.equal(fetched.pointers[0]?.status, 'verified', 'the records match the hash on chain')
  t.same(fetched.pointers[0]!.bundle.entry.map((e) => e.resource.id).sort(), ['bp-1', 'hba1c-1'])
  const cached = (await cli(t, PATIENT, ['patient', 'relationships'])) as RelationshipView[]
  t.equal(cached[0]?.cached[0]?.status, 'verified', 'kept in the local cache')
})

t.test('the same records over the libp2p protocol (noise-encrypted stream), found through the Registrar', async (t) => {
  const res = await rpc<FetchResult>(net.members[PATIENT]!.node!.url, 'medrec_fetch', [{ relationship, transport: 'p2p' }])
  t.equal(res.transport, 'p2p')
  t.equal(res.pointers[0]?.status, 'verified')
  t.equal(res.pointers[0]?.bundle.entry.length, 2)
})

t.test('a provider update notifies the patient, who gets the new records', async (t) => {
  const file = join(net.members[PROVIDER]!.datadir, 'obs2.json')
  writeFileSync(file, JSON.stringify({ resourceType: 'Observation', id: 'bp-2', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 121, unit: 'mmHg' }, effectiveDateTime: '2026-11-01T09:00:00Z' }))
  const res = (await cli(t, PROVIDER, ['provider', 'add-record', '--identity', 'alice-1970', '--resource', file])) as { action: string }
  t.equal(res.action, 'updated')
  await notified(PATIENT, 'update-pending', relationship)
  await cli(t, PATIENT, ['patient', 'accept', '--relationship', relationship])
  const fetched = await waitFor(async () => {
    const rels = await rpc<RelationshipView[]>(net.members[PATIENT]!.node!.url, 'medrec_relationships')
    return rels[0]?.cached[0]?.version === 2 ? rels[0] : undefined
  }, 'the updated records in the cache', 30_000)
  t.equal(fetched.cached[0]!.status, 'verified')
})

t.test('third party: the patient shares a subset with an expiry; the third party fetches exactly that, until revoked', async (t) => {
  const third = net.members[THIRD]!.address
  // The third party needs an identity (and so a Summary) to be notified.
  await cli(t, PROVIDER, ['provider', 'add-patient', '--identity', 'research-lab-7', '--address', third])
  // Its notifications three ways: `medrec watch` (server-sent events), an eth_subscribe, and the RPC log.
  const watch = spawn(...plainNode([MEDREC, 'watch', '--json', '--rpc', net.members[THIRD]!.node!.url, '--datadir', net.members[THIRD]!.datadir]), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let watched = ''
  watch.stdout.on('data', (c: Buffer) => (watched += c.toString()))
  const ws = new WebSocket(net.members[THIRD]!.node!.wsUrl, { headers: await authHeaders(net.members[THIRD]!.node!.wsUrl) })
  const pushed: { kind: string; relationship: string }[] = []
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  ws.on('message', (m: Buffer) => {
    const msg = JSON.parse(m.toString()) as { method?: string; params?: { result: { kind: string; relationship: string } } }
    if (msg.method === 'eth_subscription') pushed.push(msg.params!.result)
  })
  ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['medrecNotifications'] }))
  await cli(t, PATIENT, ['patient', 'share', '--relationship', relationship, '--viewer', third, '--pointer', '0:2,4', '--expires', '2h'])
  await notified(THIRD, 'grant', relationship)
  await notified(THIRD, 'records-fetched', relationship)
  await waitFor(async () => watched.includes('"records-fetched"'), 'medrec watch to print the notifications')
  watch.kill('SIGINT')
  const lines = watched.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; relationship: string })
  t.ok(lines.some((n) => n.kind === 'grant' && n.relationship === relationship), 'medrec watch streamed the grant')
  await waitFor(async () => pushed.some((n) => n.kind === 'records-fetched'), 'the WebSocket subscription')
  t.ok(pushed.some((n) => n.kind === 'grant' && n.relationship === relationship), 'eth_subscribe medrecNotifications pushed the grant')
  ws.close()
  const got = (await cli(t, THIRD, ['patient', 'fetch', '--relationship', relationship])) as FetchResult
  const p = got.pointers[0]!
  t.equal(p.status, 'verified', 'the subset verifies against the full hash on chain')
  t.same(p.fields, [2, 4], 'code and valueQuantity')
  t.equal(p.bundle.entry.length, 3)
  for (const e of p.bundle.entry) t.same(Object.keys(e.resource).sort(), ['code', 'id', 'resourceType', 'valueQuantity'], `${e.resource.id}: no field beyond the grant`)
  await cli(t, PATIENT, ['patient', 'revoke', '--relationship', relationship, '--viewer', third])
  const after = await medrec(['patient', 'fetch', '--relationship', relationship, '--rpc', net.members[THIRD]!.node!.url, '--datadir', net.members[THIRD]!.datadir])
  t.not(after.code, 0, 'after revocation the fetch fails')
  t.match(after.stderr, /grant|FORBIDDEN|not let/i)
  const audit = (await cli(t, PATIENT, ['patient', 'audit', '--relationship', relationship])) as { entries: { requester: string; decision: string }[]; linked: boolean }
  t.ok(audit.linked)
  t.ok(audit.entries.some((e) => e.requester.toLowerCase() === third.toLowerCase() && e.decision === 'granted'), "the patient sees the third party's read in the audit log")
})

t.test('records changed in the provider database behind the chain are reported as tampered', async (t) => {
  const db = new DatabaseSync(join(net.members[PROVIDER]!.datadir, 'gatekeeper', 'records.sqlite'))
  const table = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%bservation%'").get() as { name: string }).name
  const row = db.prepare(`SELECT resource FROM ${table} WHERE id = 'bp-1'`).get() as { resource: string }
  db.prepare(`UPDATE ${table} SET resource = ? WHERE id = 'bp-1'`).run(row.resource.replace('128', '182'))
  db.close()
  const r = await medrec(['patient', 'fetch', '--relationship', relationship, '--rpc', net.members[PATIENT]!.node!.url, '--datadir', net.members[PATIENT]!.datadir])
  t.equal(r.code, 1, 'the fetch reports failure')
  t.match(r.stdout + r.stderr, /TAMPERED/i)
})

t.test('the provider imports a FHIR bundle and a CSV file; a bounty goes to the block author, k-anonymised', async (t) => {
  const fixtures = join(ROOT, 'test', 'fixtures', 'gatekeeper')
  const bundle = (await cli(t, PROVIDER, ['provider', 'import', '--bundle', join(fixtures, 'bundle.json')])) as { imported: number; byType: Record<string, number> }
  t.ok(bundle.imported > 50, `imported ${bundle.imported} resources from the bundle`)
  t.ok((bundle.byType.Observation ?? 0) > 0)
  const csv = (await cli(t, PROVIDER, ['provider', 'import', '--csv', join(fixtures, 'observations.csv'), '--type', 'Observation'])) as { imported: number }
  t.equal(csv.imported, 6, 'one resource per CSV row (the fixture has 6)')
  // The provider seals every block, so it owns the bounties of its own updates (MedRec's mining reward).
  const list = (await cli(t, PROVIDER, ['bounty', 'list'])) as { index: number; relationship: string }[]
  t.ok(list.length >= 2, 'the updates above left bounties')
  const res = (await cli(t, PROVIDER, ['bounty', 'collect', '--index', '0'])) as { cells: { patients: number }[]; signer: string; provider: string; k: number }
  t.equal(res.k, 2)
  t.ok(res.cells.length > 0 && res.cells.every((c) => c.patients >= 2), 'cells of at least k patients only')
  t.equal(res.signer.toLowerCase(), res.provider.toLowerCase(), "signed by the provider's key")
  const stranger = await medrec(['bounty', 'collect', '--index', '0', '--rpc', net.members[PATIENT]!.node!.url, '--datadir', net.members[PATIENT]!.datadir])
  t.equal(stranger.code, 1, 'the patient owns no bounty to collect')
})

t.test("consent: a share waits for the provider's approval, which only the provider's node can give; then the patient deletes the relationship", async (t) => {
  const [provider, third] = [net.members[PROVIDER]!, net.members[THIRD]!]
  const asMember = (i: number) => createMedRecClient({ rpcUrl: net.members[i]!.node!.url, privateKey: toHex(net.members[i]!.key), pollMs: 100 })
  const ppr = asMember(PROVIDER).relationship(relationship)
  await cli(t, PROVIDER, ['provider', 'require-consent', '--relationship', relationship])
  t.equal((await ppr.info()).consentRequired, true, 'the chain requires the provider\'s consent')
  await cli(t, PATIENT, ['patient', 'share', '--relationship', relationship, '--viewer', third.address, '--pointer', '0:2', '--expires', '2h'])
  const grant = await waitFor(async () => {
    const g = await ppr.grantOf(third.address)
    return g.active ? g : undefined
  }, 'the new grant on the provider node', 30_000)
  t.equal(await ppr.canRead(third.address, 0, [2]), false, 'a grant that needs consent reads nothing yet')
  const waiting = (await cli(t, PROVIDER, ['provider', 'consent'])) as ConsentRequest[]
  t.same(waiting.map((c) => [c.relationship, c.viewer, c.grantId, c.items]), [[relationship.toLowerCase(), third.address.toLowerCase(), grant.grantId, [{ pointerId: 0, fields: [2] }]]], 'the provider lists it with its grant id')

  // Attacks (over JSON-RPC with each node's own token; the CLI path is the same call): the patient's
  // and the third party's nodes (their gatekeepers do not serve it), their keys on the chain
  // directly, and the provider's own node for a grant id it was not shown.
  const approveAt = (i: number, grantId: number) => rpcRaw(net.members[i]!.node!.url, 'medrec_approve', [{ relationship, viewer: third.address, grantId }])
  for (const [i, who] of [[PATIENT, 'the patient'], [THIRD, 'the viewer']] as const) {
    const r = await approveAt(i, grant.grantId)
    t.match(r.error, { data: { code: 'GATEKEEPER_NOT_FOUND' }, message: /does not serve relationship/ }, `${who}'s node refuses to approve, saying why`)
    const direct = await asMember(i).relationship(relationship).approveGrant(third.address, grant.grantId).then(() => undefined, (err: ClientError) => err)
    t.equal(direct?.revert?.errorName, 'NotProvider', `${who}'s key is refused by the chain: ${direct?.message}`)
  }
  const stale = await approveAt(PROVIDER, grant.grantId + 1)
  t.match(stale.error, { code: -32602, message: /is not the grant/ }, 'a grant id other than the one the patient made is refused')
  t.equal(await ppr.canRead(third.address, 0, [2]), false, 'nothing was approved by any of that')
  const refused = await rpcRaw(third.node!.url, 'medrec_fetch', [{ relationship }])
  t.match(refused.error, { data: { code: 'GATEKEEPER_FORBIDDEN' } }, "and the provider's gatekeeper serves the third party nothing")

  const approved = (await cli(t, PROVIDER, ['provider', 'approve', '--relationship', relationship, '--viewer', third.address, '--grant', String(grant.grantId)])) as { grantId: number; transaction: string }
  t.equal(approved.grantId, grant.grantId)
  t.equal(await ppr.canRead(third.address, 0, [2]), true, 'approved: the third party may read the shared field')
  t.same(await rpc(provider.node!.url, 'medrec_consentRequests'), [], 'nothing waits any more')
  t.match((await approveAt(PROVIDER, grant.grantId)).error, { message: /approved already/ }, 'approving twice sends nothing')

  const deleted = (await cli(t, PATIENT, ['patient', 'delete', '--relationship', relationship])) as { status: string; transaction: string }
  t.equal(deleted.status, 'deleted', "the patient's node marks it deleted in her Summary")
  const rels = (await cli(t, PATIENT, ['patient', 'relationships'])) as RelationshipView[]
  t.equal(rels.find((r) => r.relationship === relationship.toLowerCase())?.status, 'deleted')
  t.ok((await rpcRaw(provider.node!.url, 'medrec_delete', [{ relationship }])).error, "the provider's node cannot delete it from her Summary")
})
