import t, { type Test } from 'tap'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { setLogLevel } from '../../common/index.ts'
import { createSqliteRecordStore, type SqliteRecordStore } from '../../gatekeeper/db/index.ts'
import { openReader } from '../../gatekeeper/db/connections.ts'
import { GatekeeperErrorCode, isGatekeeperError } from '../../gatekeeper/errors.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { emptyStore, fixtureBundle, fixtureCsv, ids } from '../fixtures/gatekeeper/store.ts'

setLogLevel('warn')

const OBS = { resourceType: 'Observation', fields: ['code'] } as const
/** The resources whose first coding has this code (queries carry no values: tests pick rows themselves). */
const withCode = (rs: FhirResource[], code: string): FhirResource[] => rs.filter((r) => (r.code as { coding?: { code?: string }[] } | undefined)?.coding?.[0]?.code === code)
const patient = (id: string, identity?: string): FhirResource => ({
  resourceType: 'Patient',
  id,
  ...(identity === undefined ? {} : { identifier: [{ system: 'urn:medrec:identity', value: identity }] }),
})
const obs = (id: string, patientId: string, extra: Record<string, unknown> = {}): FhirResource => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: '2024-01-01T10:00:00Z',
  ...extra,
})

/** Runs fn and returns the GatekeeperError it throws (failing the test when it does not). */
function caught(t: Test, fn: () => unknown, code: GatekeeperErrorCode = GatekeeperErrorCode.INVALID_IMPORT): { message: string; context: Record<string, unknown> } {
  try {
    fn()
  } catch (err) {
    if (!isGatekeeperError(err)) throw err
    t.equal(err.code, code, `error code ${code}: ${err.message}`)
    return { message: err.message, context: err.context ?? {} }
  }
  t.fail('expected an error')
  return { message: '', context: {} }
}

t.test('a FHIR collection bundle imports every resource, stored byte-identical', async (t) => {
  const store = emptyStore(t)
  const bundle = fixtureBundle()
  const res = store.importBundle(bundle)
  t.same(res.byType, { Patient: 8, Observation: 26, Condition: 9, Encounter: 11, MedicationRequest: 9, Immunization: 7, DocumentReference: 1 })
  t.equal(res.imported, 71)
  t.equal(store.resourceCount(), 71)
  t.equal(store.resourceCount('Observation'), 26)
  t.equal(store.patientCount(), 8)
  for (const e of bundle.entry.filter((x) => x.resource.resourceType === 'Patient')) {
    const identity = (e.resource.identifier as { system: string; value: string }[])[0]!.value
    t.equal(store.patientByIdentity(identity)?.id, e.resource.id, `identity ${identity}`)
    t.equal(store.identityOf(e.resource.id), identity)
  }
  t.equal(store.patientByIdentity('nobody'), undefined)
  // What a read returns is exactly what was imported, per patient and type.
  for (const e of bundle.entry) {
    const r = e.resource
    const pid = r.resourceType === 'Patient' ? r.id : ((r.subject ?? r.patient) as { reference: string }).reference.slice('Patient/'.length)
    const back = (await store.query(pid, { resourceType: r.resourceType as 'Observation', fields: ['id'] })).find((x) => x.id === r.id)
    t.equal(JSON.stringify(back), JSON.stringify(r), `${r.resourceType}/${r.id} round-trips`)
  }
  t.ok(await store.hasPatient('pat-alice'))
  t.notOk(await store.hasPatient('pat-zed'))
})

t.test('the observations CSV imports with RFC 4180 quoting', async (t) => {
  const store = emptyStore(t)
  store.importBundle(fixtureBundle())
  const res = store.importCsv('Observation', fixtureCsv())
  t.same(res, { imported: 6, byType: { Observation: 6 } })
  const alice = withCode(await store.query('pat-alice', OBS), '29463-7')
  t.same(alice, [
    {
      resourceType: 'Observation',
      id: 'wt-1',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight, measured' }] },
      subject: { reference: 'Patient/pat-alice' },
      effectiveDateTime: '2024-04-10T10:06:00Z',
      valueQuantity: { value: 68.4, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
    },
  ])
  const [smoking] = withCode(await store.query('pat-erin', OBS), '72166-2')
  t.equal(smoking?.valueString, 'Former smoker, quit "2019"', 'doubled quotes and commas inside quotes')
  t.notOk('valueQuantity' in (smoking ?? {}))
  t.equal((await store.query('pat-frank', OBS)).find((r) => r.status === 'preliminary')?.id, 'glu-1')
})

t.test('CSV for every resource type; header and row problems are named', async (t) => {
  const store = emptyStore(t)
  const patients = store.importCsv('Patient', 'id,identity,family,given,gender,birth_date,active\r\np1,"Ann ""A"" Doe",Doe,Ann,female,1970-01-02,true\r\np2,,Roe,,male,1980,false\r\n')
  t.same(patients.byType, { Patient: 2 })
  t.same(store.patientByIdentity('Ann "A" Doe'), {
    resourceType: 'Patient',
    id: 'p1',
    identifier: [{ system: 'urn:medrec:identity', value: 'Ann "A" Doe' }],
    active: true,
    name: [{ family: 'Doe', given: ['Ann'] }],
    gender: 'female',
    birthDate: '1970-01-02',
  })
  t.equal(store.identityOf('p2'), undefined, 'an empty identity cell means none')
  t.same(store.importCsv('Condition', 'id,patient,code_system,code,display,clinical_status,onset\nc1,p1,http://snomed.info/sct,44054006,Diabetes,active,2015\n').byType, { Condition: 1 })
  t.same(store.importCsv('Encounter', 'id,patient,status,class,start,end\ne1,p1,finished,AMB,2024-01-01T09:00:00Z,2024-01-01T10:00:00Z\n').byType, { Encounter: 1 })
  t.same(store.importCsv('MedicationRequest', 'id,patient,code_system,code,authored\nm1,p1,http://www.nlm.nih.gov/research/umls/rxnorm,860975,2024-01-15\n').byType, { MedicationRequest: 1 })
  t.same(store.importCsv('Immunization', 'id,patient,vaccine_system,vaccine_code,date\ni1,p2,http://hl7.org/fhir/sid/cvx,158,2023-10-02\n').byType, { Immunization: 1 })
  t.same(store.importCsv('DocumentReference', 'id,patient,type_system,type,status,date,content_type,url\nd1,p1,http://loinc.org,34133-9,current,2024-04-10T11:00:00Z,text/plain,https://x.example/d1\n').byType, { DocumentReference: 1 })
  t.same(ids(await store.query('p1', { resourceType: 'Condition', fields: ['code'], codeSystems: ['http://snomed.info/sct'] })), ['c1'], 'the CSV code system is indexed')
  t.same(ids(await store.query('p1', { resourceType: 'Encounter', fields: ['class'] })), ['e1'])
  t.same(ids(await store.query('p2', { resourceType: 'Immunization', fields: ['vaccineCode'], codeSystems: ['http://hl7.org/fhir/sid/cvx'] })), ['i1'])
  t.same(ids(await store.query('p1', { resourceType: 'MedicationRequest', fields: ['status'], codeSystems: ['http://www.nlm.nih.gov/research/umls/rxnorm'] })), ['m1'])
  t.same(ids(await store.query('p1', { resourceType: 'DocumentReference', fields: ['status'], codeSystems: ['http://loinc.org'] })), ['d1'])
  const before = store.resourceCount()

  const cases: [string, string, RegExp][] = [
    ['Observation', 'id,patient,code,colour\n', /unknown column\(s\) "colour"/],
    ['Observation', 'id,code\n', /needs the column\(s\) patient/],
    ['Observation', 'id,patient,code,code\n', /"code" appears twice/],
    ['Observation', 'id,patient,code\no1,p1\n', /CSV line 2 has 2 fields, the header 3/],
    ['Observation', 'id,patient,code\no1,p1,"open\n', /CSV line 2: a quoted field is never closed/],
    ['Observation', 'id,patient,code\no1,p1,a"b\n', /CSV line 2: a double quote inside an unquoted field/],
    ['Observation', 'id,patient,code\no1,p1,"a"b\n', /CSV line 2: text after a closing quote/],
    ['Observation', 'id,patient,code\no1,p1,\n', /CSV line 2: the code column is empty/],
    ['Observation', 'id,patient,code,date\no1,p1,x,2024-01-01\no2,p1,"multi\nline",2024-01-02\no3,p9,x,2024-01-03\n', /CSV line 5 \(Observation\/o3\): .*Patient\/p9, which is not stored/],
    ['Observation', 'id,patient,code,date\no1,p1,x,2024-01-01\no2,p1,y,yesterday\n', /CSV line 3 \(Observation\/o2\): Observation\.effectiveDateTime "yesterday" is not a FHIR date/],
    ['Observation', 'id,patient,code\no1,p1,x\no1,p1,y\n', /CSV line 3 \(Observation\/o1\) repeats Observation\/o1 \(already in CSV line 2/],
    ['Patient', 'id,active\np3,maybe\n', /CSV line 2: active must be true or false/],
    ['Specimen', 'id\n', /"Specimen" is not stored/],
    ['Observation', '', /the text is empty/],
  ]
  for (const [type, csv, re] of cases) {
    const { message } = caught(t, () => store.importCsv(type, csv))
    t.match(message, re, JSON.stringify(csv.slice(0, 40)))
  }
  t.equal(store.resourceCount(), before, 'no failed CSV import stored anything')
  t.same(await store.query('p1', OBS), [], 'the good rows before the bad one were rolled back')
})

t.test('a bad bundle entry rolls back the whole bundle and the error names the entry', async (t) => {
  const store = emptyStore(t)
  store.upsert(patient('existing'))
  const good = [patient('new-1', 'new one'), obs('o-1', 'new-1'), obs('o-2', 'existing')]
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [obs('o-3', 'new-1', { effectiveDateTime: '2024-13-01' }), 3, /bundle entry 3 \(Observation\/o-3\): Observation\.effectiveDateTime "2024-13-01" is not a FHIR date/],
    [obs('o-3', 'ghost'), 3, /bundle entry 3 \(Observation\/o-3\): Observation\/o-3 references Patient\/ghost, which is not stored/],
    [obs('o-3', 'new-1', { valueQuantity: { value: '120' } }), 3, /Observation\.valueQuantity\.value must be a number/],
    [obs('o-3', 'new-1', { status: 7 }), 3, /Observation\.status must be a string/],
    [{ ...obs('o-3', 'new-1'), id: 'has space' }, 3, /Observation\.id must be a FHIR id/],
    [{ ...obs('o-3', 'new-1'), subject: { reference: 'Group/g1' } }, 3, /the patient reference must be "Patient\/<id>"/],
    [{ ...obs('o-3', 'new-1'), subject: undefined }, 3, /names no patient/],
    [{ resourceType: 'Practitioner', id: 'dr' }, 3, /bundle entry 3: resourceType "Practitioner" is not stored/],
    [obs('o-1', 'new-1'), 3, /bundle entry 3 \(Observation\/o-1\) repeats Observation\/o-1 \(already in bundle entry 1/],
    [patient('new-2', 'new one'), 3, /bundle entry 3 \(Patient\/new-2\): the MedRec identity is already that of Patient\/new-1/],
    [obs('o-3', 'new-1', { effectiveDateTime: '2024-01-01', effectivePeriod: { start: '2024-01-01' } }), 3, /both effectiveDateTime and effectivePeriod/],
    [obs('o-3', 'new-1', { note: [{ text: 'lone \uD800 surrogate' }] }), 3, /Observation\.note\[0\]\.text is not well-formed Unicode/],
    [obs('o-3', 'new-1', { valueQuantity: { value: Number.NaN } }), 3, /valueQuantity\.value is NaN/],
  ]
  for (const [bad, index, re] of cases) {
    const entry = [...good, bad].map((resource) => ({ resource }))
    const { message, context } = caught(t, () => store.importBundle({ resourceType: 'Bundle', type: 'collection', entry }))
    t.match(message, re)
    t.match(message, /nothing was imported/)
    t.equal(context.entry, index, 'context names the entry')
    t.equal(store.resourceCount(), 1, 'only the Patient stored before the bundle remains')
    t.notOk(await store.hasPatient('new-1'), 'the bundle Patient was rolled back too')
  }
  const shape: [unknown, RegExp][] = [
    [[], /expected a FHIR Bundle/],
    [{ resourceType: 'Bundle', type: 'batch', entry: [] }, /Bundle.type "batch" is not importable/],
    [{ resourceType: 'Bundle', type: 'collection', entry: {} }, /Bundle.entry must be an array/],
    [{ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'x' }] }, /bundle entry 0 has no resource object/],
    [{ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient('t1'), request: { method: 'DELETE', url: 'Patient/t1' } }] }, /bundle entry 0: transaction entries must be POST or PUT/],
  ]
  for (const [bundle, re] of shape) t.match(caught(t, () => store.importBundle(bundle)).message, re)
  t.equal(store.resourceCount(), 1)
})

t.test('transaction bundles: urn:uuid references resolve, POST ids come from fullUrl, order does not matter', async (t) => {
  const store = emptyStore(t)
  const P = 'urn:uuid:2a1c6b0e-4a55-4f0b-9d3e-8c1f2d3e4f50'
  const res = store.importBundle({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:0f2b', resource: obs('bp-1', 'x', { subject: { reference: P } }), request: { method: 'PUT', url: 'Observation/bp-1' } },
      { fullUrl: 'urn:uuid:7c9d', resource: { resourceType: 'Immunization', status: 'completed', vaccineCode: { coding: [{ code: '158' }] }, patient: { reference: P } }, request: { method: 'POST', url: 'Immunization' } },
      { fullUrl: P, resource: { resourceType: 'Patient', id: '2a1c6b0e-4a55-4f0b-9d3e-8c1f2d3e4f50' }, request: { method: 'POST', url: 'Patient' } },
    ],
  })
  t.same(res.byType, { Patient: 1, Observation: 1, Immunization: 1 })
  const pid = '2a1c6b0e-4a55-4f0b-9d3e-8c1f2d3e4f50'
  const [o] = await store.query(pid, OBS)
  t.same(o?.subject, { reference: `Patient/${pid}` }, 'the urn reference is stored in local form')
  const [i] = await store.query(pid, { resourceType: 'Immunization', fields: ['status'] })
  t.equal(i?.id, '7c9d', 'a POSTed resource without id takes its fullUrl uuid')
  t.same(i?.patient, { reference: `Patient/${pid}` })

  const skipped = store.importBundle({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Practitioner', id: 'dr' } }, { resource: patient('q1') }] }, { skipUnsupported: true })
  t.same(skipped, { imported: 1, byType: { Patient: 1 }, skipped: { Practitioner: 1 } })
})

t.test('upsert validates, replaces, keeps identities unique and search tokens current', async (t) => {
  const store = emptyStore(t)
  store.upsertPatient(patient('a'), 'alice')
  t.equal(store.identityOf('a'), 'alice')
  store.upsert(patient('a'))
  t.equal(store.identityOf('a'), 'alice', 'an upsert without identity keeps the one stored')
  t.match(caught(t, () => store.upsertPatient(patient('b'), 'alice')).message, /already that of Patient\/a/)
  t.match(caught(t, () => store.upsertPatient(obs('x', 'a'), 'x')).message, /upsertPatient takes a FHIR Patient/)
  t.match(caught(t, () => store.upsertPatient(patient('c', 'carol'), 'caroline')).message, /carries the MedRec identity "carol" in its identifier but is stored as "caroline"/)
  store.upsertPatient(patient('c', 'carol'), 'carol')
  t.equal(store.patientByIdentity('carol')?.id, 'c')
  t.match(caught(t, () => store.upsert(obs('o', 'a', { patient: { reference: 'Patient/b' } }))).message, /two different patients/)
  t.match(caught(t, () => store.upsert({ resourceType: 'Patient', id: 'x'.repeat(65) })).message, /FHIR id/)
  t.match(caught(t, () => store.upsert({ resourceType: 'Patient', id: 'p', identifier: [{ system: 'urn:medrec:identity', value: 'a' }, { system: 'urn:medrec:identity', value: 'b' }] })).message, /2 different urn:medrec:identity identifiers/)
  t.match(caught(t, () => store.upsert({ resourceType: 'Patient', id: 'p', extension: [{ big: 10n }] } as unknown as FhirResource)).message, /is a bigint, which is not JSON/)
  t.match(caught(t, () => store.upsert(null as unknown as FhirResource)).message, /must be a FHIR resource object/)

  store.upsert(obs('o1', 'a'))
  t.same(ids(await store.query('a', { ...OBS, codeSystems: ['http://loinc.org'] })), ['o1'])
  store.upsert(obs('o1', 'a', { code: { coding: [{ system: 'http://snomed.info/sct', code: '271649006' }] } }))
  t.same(ids(await store.query('a', { ...OBS, codeSystems: ['http://loinc.org'] })), [], 'the old code system no longer matches')
  t.same(ids(await store.query('a', { ...OBS, codeSystems: ['http://snomed.info/sct'] })), ['o1'])
  t.equal(store.resourceCount('Observation'), 1, 'replaced, not duplicated')
})

t.test('the schema is created once, checked on reopen, and foreign files are refused', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'r.sqlite')
  const a = createSqliteRecordStore({ path })
  a.upsert(patient('p1', 'one'))
  await a.close()
  await a.close()
  t.throws(() => a.upsert(patient('p2')), { code: GatekeeperErrorCode.INTERNAL }, 'a closed store refuses work')
  const b = createSqliteRecordStore({ path })
  t.equal(b.patientByIdentity('one')?.id, 'p1', 'data survives a reopen')
  await b.close()

  const raw = new DatabaseSync(path)
  raw.exec('UPDATE schema_version SET version = 99')
  raw.close()
  t.throws(() => createSqliteRecordStore({ path }), { code: GatekeeperErrorCode.INTERNAL, message: /record schema version 99, this node understands 1/ })

  const other = join(dir, 'other.sqlite')
  const o = new DatabaseSync(other)
  o.exec('CREATE TABLE patient (x TEXT)')
  o.close()
  t.throws(() => createSqliteRecordStore({ path: other }), { code: GatekeeperErrorCode.INTERNAL, message: /not a MedRec record database/ })
  t.throws(() => createSqliteRecordStore({ path: ':memory:' }), { code: GatekeeperErrorCode.INTERNAL, message: /needs a database file path/ })
})

t.test('the read connection refuses every kind of write', async (t) => {
  const path = join(t.testdir(), 'r.sqlite')
  const store: SqliteRecordStore = createSqliteRecordStore({ path })
  t.teardown(() => store.close())
  store.upsert(patient('p1'))
  store.upsert(obs('o1', 'p1'))
  const reader = openReader(path)
  t.teardown(() => reader.close())
  t.equal(reader.prepare('PRAGMA query_only').get()?.query_only, 1)
  for (const sql of [
    "INSERT INTO patient (id, patient_id, resource, last_updated) VALUES ('x', 'x', '{}', 0)",
    "UPDATE observation SET resource = '{}'",
    'DELETE FROM observation',
    'DELETE FROM search_token',
    'DROP TABLE observation',
    'CREATE TABLE evil (x)',
    'UPDATE schema_version SET version = 2',
  ]) {
    t.throws(() => reader.exec(sql), { code: 'ERR_SQLITE_ERROR' }, sql)
  }
  t.equal(store.resourceCount(), 2, 'nothing changed')
  t.equal((await store.query('p1', OBS))[0]?.id, 'o1')
})
