import t from 'tap'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount, type HDAccount } from 'viem/accounts'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import { AUDIT_GENESIS_HASH, auditCommitment, auditHash } from '../../gatekeeper/audit.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { createRequester, type Requester } from '../../gatekeeper/requester.ts'
import type { GatekeeperRequest } from '../../gatekeeper/types.ts'
import { GATEKEEPER_PROTOCOL } from '../../gatekeeper/requester.ts'
import { rpc, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { pinnedFetch } from '../helpers/gatekeeper-tls.ts'
import { startNode as startP2PHost } from '../p2p/helpers.ts'

/**
 * The audit log against an insider and a flood, on a real node: the gatekeeper anchors its head
 * in the Registrar every 3 entries, the patient checks the log against that anchor, forged
 * requests stay out of her view, every refusal is audited, and a requester over its rate gets 429.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const accounts: HDAccount[] = Array.from({ length: 5 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const keyOf = (i: number): Hex => toHex(accounts[i]!.getHdKey().privateKey!)
const addr = (i: number): Address => accounts[i]!.address
const [PROVIDER, ALICE, BOB, STRANGER, FLOODER] = [0, 1, 2, 3, 4] as const
const CHAIN_ID = 1337n
const ANCHOR_EVERY = 3
const BURST = 20
const U256_MAX = (1n << 256n) - 1n

let node: NodeProcess
let dir: ReturnType<typeof tempDir>
let gkUrl: string
/** Requests to the gatekeeper's HTTPS API, pinned to the certificate fingerprint it publishes. */
let gkFetch: ReturnType<typeof pinnedFetch>
let provider: Address
let aliceRel: Address
let alice: Requester
const clients: MedRecClient[] = []

type Reply = { status: number; retryAfter: string | null; body: { ok: boolean; encrypted?: unknown; error?: { code: string; message: string; retryAfter?: number } } }

async function post(body: unknown): Promise<Reply> {
  const res = await gkFetch(`${gkUrl}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Reply['body'] }
}

function request(fields: Partial<GatekeeperRequest> & Pick<GatekeeperRequest, 'relationship'>): GatekeeperRequest {
  return { ...newRequest({ gatekeeper: provider, method: 'records', relationship: fields.relationship, pointerIds: [0n], fieldMasks: [0x3n] }), ...fields }
}

/** Rows of one audit table of the node's state database, read on a second connection. */
function rows(table: 'audit_log' | 'audit_provider'): { seq: number; requester: string; relationship: string; entry: string; hash: string }[] {
  const db = new DatabaseSync(join(dir.path, 'gatekeeper', 'state.sqlite'))
  try {
    return db.prepare(`SELECT seq, requester, relationship, entry, hash FROM ${table} ORDER BY seq`).all() as never
  } finally {
    db.close()
  }
}

t.before(async () => {
  dir = tempDir('medrec-gk-audit-')
  node = await startNodeProcess(
    ['--dev', '--dev.period', '1', '--p2p.port', '0', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.audit.anchor-entries', String(ANCHOR_EVERY), '--gatekeeper.audit.anchor-interval', '0', '--gatekeeper.ratelimit', '1', '--gatekeeper.ratelimit.burst', String(BURST)],
    { datadir: dir.path },
  )
  const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  gkUrl = info.url!
  gkFetch = pinnedFetch(info.tlsFingerprint)
  provider = info.account as Address
  for (let i = 0; i < accounts.length; i++) clients.push(createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(i), pollMs: 100 }))
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'alice', address: addr(ALICE) }])
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'bob', address: addr(BOB) }])
  const obs = (id: string, value: number) => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value, unit: 'mmHg' } })
  const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity'] }
  aliceRel = (await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs('a1', 120)], query }])).relationship
  await rpc(node.url, 'medrec_addRecord', [{ identity: 'bob', resources: [obs('b1', 135)], query }])
  alice = createRequester({ client: clients[ALICE]!, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
})

t.teardown(async () => {
  await node?.kill()
  dir?.remove()
})

t.test('the gatekeeper anchors its audit head by itself after N entries', async (t) => {
  t.equal(await clients[PROVIDER]!.registrar.anchoredSeq(provider), 0, 'nothing anchored before any request')
  for (let i = 0; i < ANCHOR_EVERY; i++) t.equal((await alice.fetchRecords(aliceRel)).pointers[0]!.status, 'verified')
  const seq = await waitFor(async () => {
    const s = await clients[PROVIDER]!.registrar.anchoredSeq(provider)
    return s >= ANCHOR_EVERY ? s : undefined
  }, 'an automatic anchor')
  const anchor = (await clients[ALICE]!.registrar.latestAuditAnchor(provider))!
  t.equal(anchor.seq, seq, 'the anchor is read back from the chain')
  t.equal(anchor.head, rows('audit_log').find((r) => r.seq === seq)?.hash, 'with the hash of that entry')
  // The anchorer learns of its anchor when its own receipt poll returns, which may be after the block is seen here.
  const anchored = await waitFor(async () => {
    const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
    return info.auditAnchored >= ANCHOR_EVERY ? info.auditAnchored : undefined
  }, 'the operator to see the anchored seq')
  t.pass(`the operator sees the anchored seq (${anchored})`)
})

t.test('an honest log verifies against the anchor; entries after it are not covered', async (t) => {
  const anchored = await clients[ALICE]!.registrar.anchoredSeq(provider)
  await alice.fetchRecords(aliceRel)
  const log = await alice.audit(aliceRel)
  t.equal(log.linked, true, log.problem)
  t.equal(log.anchor?.seq, anchored)
  t.equal(log.covered.status, 'verified', 'entries up to the anchor match it')
  t.ok(log.covered.entries >= ANCHOR_EVERY, `${log.covered.entries} of her entries are covered`)
  t.ok(log.uncovered.entries >= 1, `${log.uncovered.entries} after the anchor are reported as not covered`)
  t.ok(log.entries.every((e) => e.covered === e.seq <= anchored), 'each entry says whether the anchor covers it')
  t.ok(log.entries.every((e) => e.relationship === aliceRel.toLowerCase()), 'only her relationship')
})

t.test('forged requests never reach a patient\'s view; they go to the provider-only log', async (t) => {
  const forged = signRequest(keyOf(STRANGER), CHAIN_ID, request({ relationship: aliceRel }))
  const r1 = await post({ ...forged, from: addr(ALICE) })
  t.equal(r1.status, 401)
  t.equal(r1.body.error?.code, 'BAD_SIGNATURE')
  const wrongChain = signRequest(keyOf(STRANGER), 1n, request({ relationship: aliceRel }))
  t.equal((await post(wrongChain)).status, 401, 'signed for another chain')
  const log = await alice.audit(aliceRel)
  t.notOk(log.entries.some((e) => e.requester.startsWith('unverified:') || /BAD_SIGNATURE/.test(e.reason)), 'no forged request in her view')
  t.ok(log.entries.every((e) => [addr(ALICE), provider].map((a) => a.toLowerCase()).includes(e.requester)), 'only verified requesters of her relationship')
  const priv = rows('audit_provider')
  t.ok(priv.some((r) => r.requester === `unverified:${addr(ALICE).toLowerCase()}` && r.relationship === aliceRel.toLowerCase()), 'the forgery is in the provider-only log')
  t.notOk(rows('audit_log').some((r) => r.requester.startsWith('unverified:')), 'and nowhere in the log patients read')
})

t.test('the audit head is served only to a patient with a relationship here', async (t) => {
  const info = (await (await gkFetch(`${gkUrl}/v1/info`)).json()) as Record<string, unknown>
  t.equal(info.audit, undefined, 'GET /v1/info has no audit head')
  const operator = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  t.match(operator.audit.hash, /^0x[0-9a-f]{64}$/, 'the operator reads it over the authenticated RPC')
  t.notOk(JSON.stringify(info).includes(operator.audit.hash.slice(2)), 'nowhere in the public info')
  const zero = '0x0000000000000000000000000000000000000000' as Address
  const asStranger = await post(signRequest(keyOf(STRANGER), CHAIN_ID, { ...request({ relationship: zero }), method: 'audit', pointerIds: [], fieldMasks: [] }))
  t.equal(asStranger.status, 403, 'a signed audit request from someone with no relationship here is refused')
  t.equal(asStranger.body.encrypted, undefined, 'no head, no entries')
  const asAlice = await post(signRequest(keyOf(ALICE), CHAIN_ID, { ...request({ relationship: zero }), method: 'audit', pointerIds: [], fieldMasks: [] }))
  t.equal(asAlice.status, 200, 'the patient gets it')
})

t.test('a refusal with pointer id 2^256 − 1 is audited', async (t) => {
  const req = request({ relationship: aliceRel, pointerIds: [U256_MAX] })
  const r = await post(signRequest(keyOf(ALICE), CHAIN_ID, req))
  t.equal(r.status, 403)
  t.equal(r.body.error?.code, 'FORBIDDEN')
  const entry = rows('audit_log').map((row) => JSON.parse(row.entry) as { nonce: string; pointerIds: string[]; decision: string }).find((e) => e.nonce === req.nonce)
  t.ok(entry, 'the refusal has its entry')
  t.same(entry?.pointerIds, [String(U256_MAX)])
  t.equal(entry?.decision, 'refused')
  const unparseable = await post({ request: { method: 'records', pointerIds: [String(U256_MAX) + '0'] }, from: addr(ALICE), signature: '0x00' })
  t.equal(unparseable.status, 400)
  t.ok(rows('audit_provider').some((row) => /BAD_REQUEST/.test(JSON.parse(row.entry).reason as string)), 'an unparseable request is audited in the provider-only log')
})

t.test('a requester over its rate gets 429 with Retry-After, and is served again after the window', async (t) => {
  const ask = () => post(signRequest(keyOf(FLOODER), CHAIN_ID, request({ relationship: aliceRel })))
  let limited: Reply | undefined
  for (let i = 0; i < BURST + 5 && limited === undefined; i++) {
    const r = await ask()
    if (r.status === 429) limited = r
    else t.equal(r.body.error?.code, 'FORBIDDEN', 'within the burst: an ordinary answer')
  }
  t.ok(limited, 'refused once the burst is spent')
  t.equal(limited?.body.error?.code, 'RATE_LIMITED')
  t.match(limited?.retryAfter ?? '', /^[1-9][0-9]*$/, `Retry-After: ${limited?.retryAfter}`)
  t.equal(limited?.body.error?.retryAfter, Number(limited?.retryAfter), 'the body says it too (as libp2p replies do)')
  t.equal((await alice.fetchRecords(aliceRel)).pointers.length, 1, 'another requester is not affected')
  const again = await waitFor(async () => {
    const r = await ask()
    return r.status === 429 ? undefined : r
  }, 'the flooder to be served again', 15_000)
  t.equal(again.body.error?.code, 'FORBIDDEN', 'served (and refused on its merits) after the window')
  t.ok(rows('audit_provider').some((r) => /RATE_LIMITED/.test(JSON.parse(r.entry).reason as string)), 'the rate-limit refusal is audited (provider-only)')
})

t.test('over libp2p a requester over its rate gets the same refusal, with retryAfter', async (t) => {
  const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
  const target = info.multiaddrs[0]!
  t.ok(target, 'the gatekeeper serves /medrec/gatekeeper/1')
  const host = await startP2PHost(t, 77)
  type P2PReply = { ok: boolean; error?: { code: string; retryAfter?: number } }
  let limited = undefined as P2PReply | undefined
  // The flooder's bucket is shared across transports: it is nearly empty after the HTTP flood.
  for (let i = 0; i < BURST + 5 && limited === undefined; i++) {
    const body = new TextEncoder().encode(JSON.stringify(signRequest(keyOf(FLOODER), CHAIN_ID, request({ relationship: aliceRel }))))
    const reply = JSON.parse(new TextDecoder().decode(await host.p2p.requestTo(target, GATEKEEPER_PROTOCOL, body))) as P2PReply
    if (reply.error?.code === 'RATE_LIMITED') limited = reply
  }
  t.equal(limited?.ok, false)
  t.ok((limited?.error?.retryAfter ?? 0) >= 1, `retryAfter ${limited?.error?.retryAfter}`)
})

t.test('an insider who rewrites the log is caught against the anchor', async (t) => {
  const anchored = await clients[ALICE]!.registrar.anchoredSeq(provider)
  const mine = rows('audit_log').filter((r) => r.relationship === aliceRel.toLowerCase() && r.seq <= anchored)
  t.ok(mine.length > 0)
  // Drop one of alice's anchored entries and recompute every later seq, commitment and hash.
  const db = new DatabaseSync(join(dir.path, 'gatekeeper', 'state.sqlite'))
  db.exec('PRAGMA busy_timeout = 5000; DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; BEGIN IMMEDIATE')
  db.prepare('DELETE FROM audit_log WHERE seq = ?').run(mine[0]!.seq)
  const all = db.prepare('SELECT seq, entry, salt FROM audit_log ORDER BY seq').all() as { seq: number; entry: string; salt: string }[]
  db.exec('DELETE FROM audit_log')
  const ins = db.prepare('INSERT INTO audit_log (seq, time, requester, relationship, entry, salt, commitment, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  let prev: string = AUDIT_GENESIS_HASH
  all.forEach((r, i) => {
    const body: Record<string, unknown> = { ...(JSON.parse(r.entry) as Record<string, unknown>), seq: i + 1 }
    const json = JSON.stringify(Object.fromEntries(Object.entries(body).sort(([a], [b]) => (a < b ? -1 : 1))))
    const c = auditCommitment(r.salt, json)
    const h = auditHash(prev, c)
    ins.run(i + 1, body.time as number, body.requester as string, body.relationship as string, json, r.salt, c, prev, h)
    prev = h
  })
  db.exec('COMMIT')
  db.close()
  const log = await alice.audit(aliceRel)
  t.equal(log.linked, true, 'the rewritten log links up on its own')
  t.equal(log.covered.status, 'mismatch', 'but is reported as NOT matching the anchor')
})
