import t from 'tap'
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import type { Notification, RelationshipView } from '../../gatekeeper/api.ts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { ROOT, rpc, waitFor } from '../helpers/node-process.ts'

/**
 * At rest, across three real node processes (provider, patient, viewer) at the most verbose log
 * level: every file under every data dir is owner-only, a viewer's cached copy disappears from its
 * disk when the grant is revoked and when it expires, and no process ever logs a record value.
 */

let net: TestNetwork
const [PROVIDER, PATIENT, VIEWER] = [0, 1, 2] as const

// Values of the records imported below: none may appear in any log line of any process.
const MARKER = 'Zyxwvut-7731 marker'
const SECRET_VALUES = [
  MARKER,
  '187.35',
  'MRN-1000', // alice's record number (fixture bundle)
  '1961-04-12', // her birth date
  'Okafor', // another patient's family name
  'Hemoglobin A1c', // her lab result's display
  'Systolic blood pressure',
  'Metformin',
]

const url = (m: number): string => net.members[m]!.node!.url
const call = <T>(m: number, method: string, params: unknown[] = []): Promise<T> => rpc<T>(url(m), method, params)

const notified = (m: number, kind: string, relationship: string, after = 0) =>
  waitFor(async () => (await call<Notification[]>(m, 'medrec_notifications', [{ since: after }])).find((n) => n.kind === kind && n.relationship === relationship.toLowerCase()), `${kind} on ${net.members[m]!.name}`, 40_000)

const lastNotification = async (m: number): Promise<number> => (await call<Notification[]>(m, 'medrec_notifications', [{ since: 0 }])).at(-1)?.id ?? 0

/** The bytes of a gatekeeper state database and its side files, as any local user would read them. */
function stateBytes(m: number): string {
  const base = join(net.members[m]!.datadir, 'gatekeeper', 'state.sqlite')
  return ['', '-wal', '-shm', '-journal'].map((s) => (existsSync(base + s) ? readFileSync(base + s).toString('latin1') : '')).join('')
}

async function viewerCache(relationship: string): Promise<RelationshipView['cached']> {
  const rels = await call<RelationshipView[]>(VIEWER, 'medrec_relationships')
  return rels.find((r) => r.relationship === relationship.toLowerCase())?.cached ?? []
}

async function headTime(m: number): Promise<number> {
  return Number(BigInt((await call<{ timestamp: string }>(m, 'eth_getBlockByNumber', ['latest', false])).timestamp))
}

t.before(async () => {
  net = await createTestNetwork(3, { authorities: 1, period: 1, logLevel: 'trace' })
  // Loosen what the harness wrote owner-only, as a hand-made data dir would be: the node must tighten it.
  for (const m of net.members) chmodSync(join(m.datadir, 'genesis.json'), 0o644)
  await net.start(PROVIDER, { args: gatekeeperArgs(net.members[PROVIDER]!, ['--gatekeeper.k', '2']) })
  // Both join through the provider, at once.
  await Promise.all([PATIENT, VIEWER].map((m) => net.start(m, { sealer: false, args: gatekeeperArgs(net.members[m]!) })))
})
t.teardown(() => net?.close())

let relationship = ''

t.test('provider → patient → viewer: records flow, and the viewer loses its copy when the grant is revoked', async (t) => {
  const bundle = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'gatekeeper', 'bundle.json'), 'utf8')) as unknown
  const imported = await call<{ imported: number }>(PROVIDER, 'medrec_import', [{ bundle }])
  t.ok(imported.imported > 50, 'the fixture bundle is in the provider database')
  await call(PROVIDER, 'medrec_addPatient', [{ identity: 'alice.lee', address: net.members[PATIENT]!.address }])
  await call(PROVIDER, 'medrec_addPatient', [{ identity: 'lab-viewer', address: net.members[VIEWER]!.address }])
  const added = await call<{ relationship: string }>(PROVIDER, 'medrec_addRecord', [
    {
      identity: 'alice.lee',
      resources: [{ resourceType: 'Observation', id: 'marker-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: MARKER }] }, valueQuantity: { value: 187.35, unit: 'mmHg' }, effectiveDateTime: '2026-10-01T09:00:00Z' }],
      query: { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] },
    },
  ])
  relationship = added.relationship
  await notified(PATIENT, 'relationship-added', relationship)
  await call(PATIENT, 'medrec_accept', [{ relationship }])
  await notified(PATIENT, 'records-fetched', relationship)

  await call(PATIENT, 'medrec_share', [{ relationship, viewer: net.members[VIEWER]!.address, items: [{ pointerId: 0, fields: [1, 2] }] }])
  await notified(VIEWER, 'records-fetched', relationship)
  t.equal((await viewerCache(relationship)).length, 1, 'the viewer holds a cached copy')
  t.ok(stateBytes(VIEWER).includes(MARKER), "the copy is on the viewer's disk (the check below can see it)")

  await call(PATIENT, 'medrec_revoke', [{ relationship, viewer: net.members[VIEWER]!.address }])
  await waitFor(async () => (await viewerCache(relationship)).length === 0, 'the revoked copy to be deleted', 30_000)
  t.pass('the revoked grant took the cached copy with it')
  t.notOk(stateBytes(VIEWER).includes(MARKER), "no byte of the record is left in the viewer's database, WAL or journal")
  t.equal((await viewerCache(relationship)).length, 0)
})

t.test('an expiring grant: the copy is deleted when the chain reaches the expiry', async (t) => {
  const since = await lastNotification(VIEWER)
  const expiresAt = (await headTime(VIEWER)) + 8
  await call(PATIENT, 'medrec_share', [{ relationship, viewer: net.members[VIEWER]!.address, items: [{ pointerId: 0, fields: [1, 2] }], expiresAt }])
  await notified(VIEWER, 'records-fetched', relationship, since)
  t.equal((await viewerCache(relationship)).length, 1, 'fetched under the new grant')
  await waitFor(async () => (await viewerCache(relationship)).length === 0, 'the expired copy to be deleted', 40_000)
  t.ok((await headTime(VIEWER)) >= expiresAt - 1, 'deleted once the chain reached the expiry, not before it was near')
  await waitFor(async () => !stateBytes(VIEWER).includes(MARKER), 'the expired copy to leave the disk', 20_000)
  t.pass("no byte of the record is left on the viewer's disk")
  const p = await call<RelationshipView[]>(PATIENT, 'medrec_relationships')
  t.equal(p.find((r) => r.relationship === relationship)?.cached.length, 1, "the patient's own copy stays")
})

t.test('every file under every data dir is owner-only (0600 in 0700 folders)', async (t) => {
  for (const m of net.members) {
    const loose: string[] = []
    let files = 0
    const walk = (path: string): void => {
      const st = lstatSync(path)
      if (st.isSymbolicLink()) return
      const mode = st.mode & 0o777
      if (st.isDirectory()) {
        if (mode !== 0o700) loose.push(`${relative(m.datadir, path) || '.'}/ ${mode.toString(8)}`)
        for (const name of readdirSync(path)) walk(join(path, name))
      } else {
        files++
        if ((mode & 0o077) !== 0 || (mode & 0o600) !== 0o600) loose.push(`${relative(m.datadir, path)} ${mode.toString(8)}`)
      }
    }
    walk(m.datadir)
    t.same(loose, [], `${m.name}: ${files} files, none readable by other users`)
    for (const name of ['nodekey', 'genesis.json', 'chaindata', 'keystore', join('gatekeeper', 'records.sqlite'), join('gatekeeper', 'state.sqlite'), join('gatekeeper', 'secret')]) {
      t.ok(existsSync(join(m.datadir, name)), `${m.name}: ${name} was checked`)
    }
    t.ok(readdirSync(join(m.datadir, 'gatekeeper')).some((f) => f.endsWith('-wal')), `${m.name}: SQLite side files were checked`)
    // genesis.json was loosened to 0644 before the start: the node tightened it.
    t.match(m.node!.output(), /Made the data dir owner-only/, `${m.name}: the node said it tightened the data dir`)
  }
})

t.test('no log line of any process carries a record value', async (t) => {
  for (const m of net.members) {
    const out = m.node!.output()
    t.ok(out.length > 10_000, `${m.name}: ${out.length} bytes of trace-level log were captured`)
    for (const v of SECRET_VALUES) t.notOk(out.includes(v), `${m.name}: "${v}" is in no log line`)
  }
})
