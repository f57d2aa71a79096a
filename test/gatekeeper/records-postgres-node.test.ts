import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import pg from 'pg'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { createCustomCommon, Mainnet } from '@ethereumjs/common'
import { bytesToHex } from '@ethereumjs/util'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createMedRecClient } from '../../contracts/client/index.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import { fixtureBundle, fixtureCsv } from '../fixtures/gatekeeper/store.ts'
import { postgresSkipReason, startPostgres } from '../helpers/postgres.ts'
import { rpc, rpcRaw, startNodeProcess, tempDir, waitFor } from '../helpers/node-process.ts'
import { medrec, medrecBatch } from '../cli/run-cli.ts'

/**
 * `medrec start --gatekeeper --gatekeeper.records postgres://… --gatekeeper.records.mapping FILE`:
 * a real node whose gatekeeper reads the provider's PostgreSQL database (the documented example
 * schema and mapping): a patient's fetch is served from it and verifies against the chain, imports
 * go into its tables over medrec_import, add-patient puts the database's existing patients on chain
 * and add-record writes into its tables and publishes the hash, and the node does not start at all
 * against an unreachable server.
 */

const EXAMPLE_SCHEMA = join(import.meta.dirname, '../../gatekeeper/db/postgres-example-schema.sql')
const EXAMPLE_MAPPING = join(import.meta.dirname, '../../gatekeeper/db/postgres-example-mapping.json')

const MNEMONIC = 'test test test test test test test test test test test junk'

/** Sends `value` wei from dev account `from` (tip 0, fee cap `feeCap`) and waits for its receipt: used to empty and refill the provider's account. */
async function send(url: string, from: number, to: Address, value: bigint, feeCap: bigint): Promise<void> {
  const account = mnemonicToAccount(MNEMONIC, { addressIndex: from })
  const nonce = BigInt(await rpc<string>(url, 'eth_getTransactionCount', [account.address, 'pending']))
  const common = createCustomCommon({ chainId: 1337 }, Mainnet, { hardfork: 'london' })
  const tx = createFeeMarket1559Tx({ nonce, to, value, gasLimit: 21_000n, maxFeePerGas: feeCap, maxPriorityFeePerGas: 0n }, { common }).sign(account.getHdKey().privateKey!)
  const hash = await rpc<string>(url, 'eth_sendRawTransaction', [bytesToHex(tx.serialize())])
  await waitFor(async () => (await rpc<unknown>(url, 'eth_getTransactionReceipt', [hash])) !== null, `transfer ${hash} mined`, 20_000)
}

async function baseFee(url: string): Promise<bigint> {
  return BigInt((await rpc<{ baseFeePerGas: string }>(url, 'eth_getBlockByNumber', ['latest', false])).baseFeePerGas)
}

const skip = postgresSkipReason()
if (skip !== undefined) t.plan(0, skip)
else {
  const server = await startPostgres(t)

  t.test('a patient reads, verified against the chain, what the provider\'s PostgreSQL database holds', async (t) => {
    // A provider that made its relationships with the embedded store moves its records into its own
    // database: the relationships stay, `update` re-hashes their pointers over PostgreSQL's records.
    const db = await server.createDatabase('moved')
    const setup = new pg.Client({ connectionString: db })
    await setup.connect()
    await setup.query(readFileSync(EXAMPLE_SCHEMA, 'utf8'))
    await setup.end()
    const alice = mnemonicToAccount(MNEMONIC, { addressIndex: 1 })
    const aliceKey = toHex(alice.getHdKey().privateKey!) as Hex
    const dir = tempDir()
    t.teardown(() => dir.remove())
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const a = srv.address()
        srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
      })
    })
    // The relationship records the gatekeeper's URL: the same port in both lives.
    const base = ['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', String(port), '--gatekeeper.delegates=false']
    let node = await startNodeProcess(base, { datadir: dir.path })
    await rpc(node.url, 'medrec_addPatient', [{ identity: 'alice.lee', address: alice.address, patient: { resourceType: 'Patient', id: 'pat-alice' } }])
    const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'], codeSystems: ['http://loinc.org'] }
    const added = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'alice.lee', resources: [{ resourceType: 'Observation', id: 'sqlite-only', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }], query }])
    await node.stop()

    node = await startNodeProcess([...base, '--gatekeeper.records', db, '--gatekeeper.records.mapping', EXAMPLE_MAPPING], { datadir: dir.path })
    t.teardown(() => node.stop())
    const imported = await rpc<{ update?: { updated: { relationship: string; pointerId: number }[] } }>(node.url, 'medrec_import', [{ bundle: fixtureBundle(), publish: true }])
    t.same(imported.update?.updated.map((u) => [u.relationship.toLowerCase(), u.pointerId]), [[added.relationship.toLowerCase(), 0]], 'the pointer is re-hashed over the PostgreSQL records')
    const requester = createRequester({ client: createMedRecClient({ rpcUrl: node.url, privateKey: aliceKey, pollMs: 100 }), privateKey: aliceKey, chainId: 1337n })
    const res = await requester.fetchRecords(added.relationship)
    const p = res.pointers[0]!
    t.equal(p.status, 'verified', 'verified against the dataHash on chain')
    const expectedIds = fixtureBundle().entry.map((e) => e.resource).filter((r) => r.resourceType === 'Observation' && (r.subject as { reference: string }).reference === 'Patient/pat-alice').map((r) => r.id).sort()
    t.same(p.bundle.entry.map((e) => e.resource.id).sort(), expectedIds, "exactly alice's Observations from PostgreSQL (the embedded store's record is not served)")
    const bp = p.bundle.entry.find((e) => e.resource.id === 'bp-1-sys')?.resource as { valueQuantity?: { value: number } } | undefined
    t.equal(bp?.valueQuantity?.value, 142, 'values from the provider\'s columns')

    // Imports go into the provider's own tables; what the mapping cannot hold is reported.
    const csv = await rpc<{ imported: number; unmapped: Record<string, number> }>(node.url, 'medrec_import', [{ resourceType: 'Observation', csv: fixtureCsv() }])
    t.equal(csv.imported, 6)
    const check = new pg.Client({ connectionString: db })
    await check.connect()
    t.equal(Number((await check.query('SELECT COUNT(*) AS n FROM lab_results')).rows[0].n), 32, "the rows are in the provider's own table")
    await check.end()
    // The operator's patient count follows the PostgreSQL database (refreshed at each head).
    await waitFor(async () => (await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')).patients === 8, 'the patient count from PostgreSQL', 20_000)
    // add-record after the move: the identity was bound in the embedded store's life, the record goes into PostgreSQL.
    const more = await rpc<{ action: string; relationship: string }>(node.url, 'medrec_addRecord', [{ identity: 'alice.lee', resources: [{ resourceType: 'Observation', id: 'after-move', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 71, unit: '/min' } }], query }])
    t.equal(more.action, 'updated', 'the same pointer, a new hash')
    // The identities bound before the move still hold: alice's patient cannot be given a second one.
    const rebound = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'alice.other', address: alice.address, patient: { resourceType: 'Patient', id: 'pat-alice' } }])
    t.match(rebound.error?.message, /local patient "pat-alice" already has the MedRec identity "alice\.lee"/)
    const after = (await requester.fetchRecords(added.relationship)).pointers[0]!
    t.equal(after.status, 'verified')
    const rows = new pg.Client({ connectionString: db })
    await rows.connect()
    const alices = (await rows.query("SELECT result_id FROM lab_results WHERE mrn = 'pat-alice'")).rows.map((r: { result_id: string }) => r.result_id)
    await rows.end()
    t.ok(alices.includes('after-move'), "the record is a row of the provider's table")
    t.same(after.bundle.entry.map((e) => e.resource.id).sort(), alices.sort(), 'the new record is served from PostgreSQL with the others (the CSV import\'s too)')
  })

  t.test('a provider on PostgreSQL puts its existing patients on chain and adds their records', async (t) => {
    const db = await server.createDatabase('existing')
    const sql = new pg.Client({ connectionString: db })
    await sql.connect()
    t.teardown(() => sql.end())
    await sql.query(readFileSync(EXAMPLE_SCHEMA, 'utf8'))
    const dir = tempDir()
    t.teardown(() => dir.remove())
    const node = await startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.delegates=false', '--gatekeeper.records', db, '--gatekeeper.records.mapping', EXAMPLE_MAPPING], { datadir: dir.path })
    t.teardown(() => node.stop())
    // The provider's database holds its patients and records before MedRec (the import stands in for its own systems).
    await rpc(node.url, 'medrec_import', [{ bundle: fixtureBundle() }])
    const bob = mnemonicToAccount(MNEMONIC, { addressIndex: 2 })
    const bobKey = toHex(bob.getHdKey().privateKey!) as Hex
    const chain = createMedRecClient({ rpcUrl: node.url, privateKey: bobKey, pollMs: 100 })
    const patients = async () => (await sql.query('SELECT mrn, sex, birth_date FROM patients ORDER BY mrn')).rows

    // Refused before any chain transaction: a patient the database does not have (a hostile key
    // too), a Patient body (demographics are the provider's systems' to write), no patient named.
    const before = await patients()
    const ghost = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address, patient: { resourceType: 'Patient', id: 'pat-nobody' } }])
    t.match(ghost.error?.message, /the provider's PostgreSQL database has no patient "pat-nobody": add-patient puts an existing patient on chain/)
    const injected = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address, patient: { resourceType: 'Patient', id: "pat-bob' OR '1'='1" } }])
    t.match(injected.error?.message, /has no patient/, 'the key is a bound value, not SQL')
    const body = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address, patient: { resourceType: 'Patient', id: 'pat-bob', gender: 'female' } }])
    t.match(body.error?.message, /names an existing patient and writes no Patient data \(got gender\)/)
    const unnamed = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address }])
    t.match(unnamed.error?.message, /add-patient names an existing patient: give its key as patientId \(--patient-id ID\)/)
    const missing = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address, patientId: 'pat-nobody' }])
    t.match(missing.error?.message, /has no patient "pat-nobody"/, 'a key the database does not hold, by patientId too')
    const both = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'ghost', address: bob.address, patientId: 'pat-bob', patient: { resourceType: 'Patient', id: 'pat-bob' } }])
    t.match([both.error?.code, both.error?.message], [-32602, /give "patient" or "patientId", not both/])
    t.equal(await chain.registrar.resolve('ghost'), undefined, 'no identity was registered for a refused patient')
    t.same(await patients(), before, "the provider's patients table is untouched")

    const added = await rpc<{ patientId: string; registered: boolean }>(node.url, 'medrec_addPatient', [{ identity: 'bob.k', address: bob.address, patient: { resourceType: 'Patient', id: 'pat-bob' } }])
    t.same([added.patientId, added.registered], ['pat-bob', true])
    // One identity per patient: a second identity for the same patient is refused before it is registered.
    const second = await rpcRaw(node.url, 'medrec_addPatient', [{ identity: 'bob.k2', address: bob.address, patient: { resourceType: 'Patient', id: 'pat-bob' } }])
    t.match(second.error?.message, /local patient "pat-bob" already has the MedRec identity "bob\.k"/)
    t.equal(await chain.registrar.resolve('bob.k2'), undefined)
    // A patient the database has but with no identity yet: nothing is written into its tables.
    const carol = await rpcRaw(node.url, 'medrec_addRecord', [{ patientId: 'pat-carol', resources: [{ resourceType: 'Observation', id: 'carol-new', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }] }])
    t.match(carol.error?.message, /local patient pat-carol has no MedRec identity/)
    t.equal((await sql.query("SELECT 1 FROM lab_results WHERE result_id = 'carol-new'")).rowCount, 0, 'not written')

    // The CLI names an existing patient by her key alone (--patient-id): no Patient file, nothing written to the tables.
    const carolAccount = mnemonicToAccount(MNEMONIC, { addressIndex: 3 }).address
    const cli = await medrec(['provider', 'add-patient', '--rpc', node.url, '--datadir', dir.path, '--identity', 'carol.p', '--address', carolAccount, '--patient-id', 'pat-carol', '--json'])
    t.equal(cli.code, 0, `add-patient --patient-id exits 0${cli.code === 0 ? '' : `: ${cli.stderr}`}`)
    t.match(JSON.parse(cli.stdout || '{}'), { patientId: 'pat-carol', identity: 'carol.p', registered: true })
    t.equal((await chain.registrar.resolve('carol.p'))?.participant.toLowerCase(), carolAccount.toLowerCase(), 'the identity is registered to her account')
    t.same(await patients(), before, "still nothing written to the provider's patients table")
    const carolRecord = await rpc<{ action: string }>(node.url, 'medrec_addRecord', [{ identity: 'carol.p', resources: [{ resourceType: 'Observation', id: 'carol-new', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] } }] }])
    t.equal(carolRecord.action, 'created', 'her records go on chain by the identity bound to her key')
    t.same((await sql.query("SELECT mrn FROM lab_results WHERE result_id = 'carol-new'")).rows, [{ mrn: 'pat-carol' }], 'into her rows')

    // add-record: into the provider's table, and the new relationship's pointer hashes bob's existing Observations with it.
    const query = { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity', 'effectiveDateTime'] }
    const rec = await rpc<{ relationship: Address; action: string }>(node.url, 'medrec_addRecord', [{ patientId: 'pat-bob', resources: [{ resourceType: 'Observation', id: 'bob-new', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveDateTime: '2026-12-01T09:30:00Z', valueQuantity: { value: 64, unit: '/min' } }], query }])
    t.equal(rec.action, 'created')
    t.same((await sql.query("SELECT mrn, loinc, value FROM lab_results WHERE result_id = 'bob-new'")).rows.map((r: { mrn: string; loinc: string; value: unknown }) => [r.mrn, r.loinc, Number(r.value)]), [['pat-bob', '8867-4', 64]], "the record is a row of the provider's table")
    const requester = createRequester({ client: chain, privateKey: bobKey, chainId: 1337n })
    const got = (await requester.fetchRecords(rec.relationship)).pointers[0]!
    t.equal(got.status, 'verified', 'verified against the dataHash on chain')
    const existing = fixtureBundle().entry.map((e) => e.resource).filter((r) => r.resourceType === 'Observation' && (r.subject as { reference: string }).reference === 'Patient/pat-bob').map((r) => r.id)
    t.same(got.bundle.entry.map((e) => e.resource.id).sort(), [...existing, 'bob-new'].sort(), "bob's existing Observations and the new one, nobody else's")

    // No staging on PostgreSQL: a chain update that fails (the provider's account emptied) leaves the
    // record written and the hash behind it, and says so; `update` for that patient publishes it.
    const provider = mnemonicToAccount(MNEMONIC, { addressIndex: 0 }).address
    const fee = 2n * (await baseFee(node.url))
    const balance = BigInt(await rpc<string>(node.url, 'eth_getBalance', [provider, 'latest']))
    await send(node.url, 0, mnemonicToAccount(MNEMONIC, { addressIndex: 4 }).address, balance - 21_000n * fee, fee)
    const failed = await rpcRaw(node.url, 'medrec_addRecord', [{ patientId: 'pat-bob', resources: [{ resourceType: 'Observation', id: 'bob-late', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 66, unit: '/min' } }], query }])
    t.match(failed.error?.data, { code: 'GATEKEEPER_CHAIN_UPDATE_FAILED' })
    t.match(failed.error?.message, /insufficient funds.*the records are already in the provider's database and served.*run "medrec provider update"/s, `the error says what happened and what to do (${failed.error?.message})`)
    t.equal((await requester.fetchRecords(rec.relationship)).pointers[0]!.status, 'tampered', 'until then readers see the hash behind the records, as the error said')
    await send(node.url, 5, provider, 10n ** 20n, 4n * (await baseFee(node.url)))
    const updated = await rpc<{ updated: { relationship: string }[] }>(node.url, 'medrec_update', [{ patientId: 'pat-bob' }])
    t.same(updated.updated.map((u) => u.relationship.toLowerCase()), [rec.relationship.toLowerCase()], 'update by the PostgreSQL patient id')
    const healed = (await requester.fetchRecords(rec.relationship)).pointers[0]!
    t.equal(healed.status, 'verified')
    t.ok(healed.bundle.entry.some((e) => e.resource.id === 'bob-late'), 'with the late record')
  })

  t.test('an unreachable server or a bad mapping stops the start with the reason', async (t) => {
    const dir = tempDir()
    t.teardown(() => dir.remove())
    const start = (...args: string[]) => medrec(['start', '--dev', '--datadir', dir.path, '--rpc.port', '0', '--gatekeeper', '--gatekeeper.http.port', '0', ...args])
    const down = await start('--gatekeeper.records', 'postgres://medrec:pw-not-shown@127.0.0.1:1/ehr', '--gatekeeper.records.mapping', EXAMPLE_MAPPING)
    t.not(down.code, 0)
    t.match(down.stderr, /cannot reach the PostgreSQL record database at postgres:\/\/medrec:\*\*\*@127\.0\.0\.1:1\/ehr/)
    t.notMatch(down.stderr + down.stdout, /pw-not-shown/, 'the password is not printed')
    // Usage errors end in parsing: one process for all of them.
    const gk = ['start', '--dev', '--datadir', dir.path, '--gatekeeper']
    const [noMapping, stray, notPg, both] = await medrecBatch([
      [...gk, '--gatekeeper.records', server.url('ehr')],
      [...gk, '--gatekeeper.records.mapping', EXAMPLE_MAPPING],
      [...gk, '--gatekeeper.records', 'mysql://root:pw-not-shown@db/ehr', '--gatekeeper.records.mapping', EXAMPLE_MAPPING],
      [...gk, '--gatekeeper.records', server.url('ehr'), '--gatekeeper.records.mapping', EXAMPLE_MAPPING, '--gatekeeper.db', 'x.sqlite'],
    ])
    t.equal(noMapping!.code, 2, 'a usage error')
    t.match(noMapping!.stderr, /--gatekeeper\.records needs --gatekeeper\.records\.mapping FILE/)
    t.equal(stray!.code, 2)
    t.match(stray!.stderr, /--gatekeeper\.records\.mapping configures --gatekeeper\.records/)
    t.equal(notPg!.code, 2)
    t.match(notPg!.stderr, /expected a PostgreSQL URL postgres:\/\/USER@HOST:PORT\/DB/)
    t.notMatch(notPg!.stderr, /pw-not-shown/)
    t.equal(both!.code, 2)
    t.match(both!.stderr, /--gatekeeper\.db .* and --gatekeeper\.records .* are alternatives/)
  })
}
