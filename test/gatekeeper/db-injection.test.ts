import t, { type Test } from 'tap'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { RESOURCE_TYPES, type BountyQuery, type CodeSystem, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { setLogLevel } from '../../common/index.ts'
import { createSqliteRecordStore, releaseCells } from '../../gatekeeper/db/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { ids } from '../fixtures/gatekeeper/store.ts'

setLogLevel('warn')

/** Strings that would change a statement built by concatenation, or be lost by a careless binding. */
const EVIL = [
  `' " ; -- /* */ % _ \\ ) OR 1=1`,
  `'); DROP TABLE observation; --`,
  `" OR ""="`,
  `x' UNION SELECT resource FROM patient --`,
  '%',
  '_',
  '*',
  '\\',
  'a\u0000b',
  '\u0000',
  'Ünïcödé 🚑 \u202eRTL\u202c 中文 e\u0301 \u200b',
  '$1 ?1 :name @p ?',
  'a,b|c',
  '__proto__',
]

const coding = (s: string) => ({ system: s, code: s, display: s })
const concept = (s: string) => ({ coding: [coding(s)], text: s })

/** One resource of a type with the evil string in every string element that is not an id, a reference or a date. */
function evilResource(type: ResourceType, i: number, s: string): FhirResource {
  const subject = { reference: `Patient/inj-${i}`, display: s }
  const extension = [{ url: s, valueString: s }]
  const common = { id: `${type.toLowerCase()}-${i}`, extension, [s]: s, meta: { tag: [coding(s)] } }
  switch (type) {
    case 'Patient':
      return {
        resourceType: type, id: `inj-${i}`, extension,
        identifier: [{ system: 'urn:medrec:identity', value: s }, { system: s, value: s }],
        name: [{ family: s, given: [s, s] , text: s }], gender: s, telecom: [{ system: 'phone', value: s }], address: [{ line: [s], city: s }],
      }
    case 'Observation':
      return { resourceType: type, ...common, status: s, category: [concept(s)], code: concept(s), subject, effectiveDateTime: '2024-01-01', valueQuantity: { value: i, unit: s, system: s, code: s }, note: [{ text: s }] }
    case 'Condition':
      return { resourceType: type, ...common, clinicalStatus: concept(s), verificationStatus: concept(s), category: [concept(s)], code: concept(s), subject, note: [{ text: s }] }
    case 'Encounter':
      return { resourceType: type, ...common, status: s, class: coding(s), type: [concept(s)], reasonCode: [concept(s)], subject }
    case 'MedicationRequest':
      return { resourceType: type, ...common, status: s, intent: s, medicationCodeableConcept: concept(s), subject, dosageInstruction: [{ text: s }] }
    case 'Immunization':
      return { resourceType: type, ...common, status: s, vaccineCode: concept(s), patient: subject, lotNumber: s }
    case 'DocumentReference':
      return { resourceType: type, ...common, status: s, type: concept(s), category: [concept(s)], subject, description: s, content: [{ attachment: { contentType: s, title: s, url: s } }] }
  }
}

const LOINC = 'http://loinc.org'
const q = (resourceType: ResourceType, codeSystems?: CodeSystem[]): RecordQuery => ({ resourceType, fields: ['id'], ...(codeSystems === undefined ? {} : { codeSystems }) })

function setup(t: Test) {
  const path = join(t.testdir(), 'records.sqlite')
  const store = createSqliteRecordStore({ path })
  t.teardown(() => store.close())
  const stored = new Map<string, FhirResource>()
  EVIL.forEach((s, i) => {
    for (const type of RESOURCE_TYPES) {
      const r = evilResource(type, i, s)
      store.upsert(r)
      stored.set(`${type}/${r.id}`, r)
    }
  })
  return { store, path, stored }
}

t.test('SQL metacharacters, NUL and unicode in every string field are stored and read back byte-identical', async (t) => {
  const { store } = setup(t)
  t.equal(store.resourceCount(), EVIL.length * RESOURCE_TYPES.length, 'one row per resource, no more')
  for (let i = 0; i < EVIL.length; i++) {
    for (const type of RESOURCE_TYPES) {
      const rows = await store.query(`inj-${i}`, q(type))
      t.equal(rows.length, 1, `${type} of inj-${i}: exactly its own row`)
      t.equal(JSON.stringify(rows[0]), JSON.stringify(evilResource(type, i, EVIL[i]!)), `${type} ${JSON.stringify(EVIL[i])} round-trips`)
    }
    t.equal(store.identityOf(`inj-${i}`), EVIL[i], `identity ${JSON.stringify(EVIL[i])} read back whole`)
    t.equal(store.patientByIdentity(EVIL[i]!)?.id, `inj-${i}`)
  }
  t.equal(store.patientByIdentity('a'), undefined, 'an identity with a NUL is not its prefix')
  t.equal(store.patientByIdentity(''), undefined)
  for (const probe of ["' OR '1'='1", '%%', 'inj%', '_%', "x' OR 1=1 --", '\u0000\u0000']) t.equal(store.patientByIdentity(probe), undefined, `identity probe ${JSON.stringify(probe)}`)
})

t.test('metacharacters in every part of a query are refused before any SQL is built; the filter stays in scope', async (t) => {
  const { store } = setup(t)
  const refusedQuery = async (query: unknown, what: string) => {
    await t.rejects(store.query('inj-0', query as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `record query: ${what}`)
  }
  const refusedBounty = async (query: unknown, what: string) => {
    await t.rejects(store.aggregate(query as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `bounty query: ${what}`)
  }
  for (const s of EVIL) {
    const v = JSON.stringify(s)
    await refusedQuery({ resourceType: 'Observation', fields: ['id'], codeSystems: [s] }, `code system ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: ['id'], codeSystems: [`${LOINC}${s}`] }, `LOINC followed by ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: [s] }, `field ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: [`code.${s}`] }, `path code.${v}`)
    await refusedQuery({ resourceType: s, fields: ['id'] }, `resource type ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: ['id'], [s]: [LOINC] }, `key ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: ['id'], search: { code: s } }, `search value ${v}`)
    await refusedQuery({ resourceType: 'Observation', fields: ['id'], search: { [s]: 'x' } }, `search key ${v}`)
    await refusedBounty({ resourceType: 'Observation', aggregate: 'count', codeSystems: [s] }, `code system ${v}`)
    await refusedBounty({ resourceType: 'Observation', aggregate: 'count', groupBy: [s] }, `groupBy ${v}`)
    await refusedBounty({ resourceType: 'Observation', aggregate: 'sum', field: s }, `field ${v}`)
    await refusedBounty({ resourceType: 'Observation', aggregate: s }, `aggregate ${v}`)
    await refusedBounty({ resourceType: 'Observation', aggregate: 'count', search: { code: s } }, `search value ${v}`)
  }
  // The records carry the evil strings as their code systems: no query can name those systems, and a
  // listed system finds only records that have it, within the patient.
  EVIL.forEach((s, i) => store.upsert({ resourceType: 'Observation', id: `loinc-${i}`, status: s, code: { coding: [coding(s), { system: LOINC, code: s }] }, subject: { reference: `Patient/inj-${i}` } }))
  for (let i = 0; i < EVIL.length; i++) {
    t.same(ids(await store.query(`inj-${i}`, q('Observation', [LOINC]))), [`loinc-${i}`], `inj-${i}: only its own LOINC-coded record`)
    t.same(ids(await store.query(`inj-${i}`, q('Observation'))), [`loinc-${i}`, `observation-${i}`], `inj-${i}: unfiltered, both of its own`)
  }
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [LOINC] }), [{ group: {}, patients: EVIL.length, records: EVIL.length, value: EVIL.length }])
  t.equal(store.resourceCount(), EVIL.length * (RESOURCE_TYPES.length + 1), 'nothing but the upserts was added or removed')
})

t.test('metacharacters in patient ids, resource types, parameter names and aggregate fields stay inert', async (t) => {
  const { store, path } = setup(t)
  const badIds = [...EVIL, "inj-0' OR '1'='1", 'inj-0"; DROP TABLE patient; --', 'inj-0 ', ' inj-0', 'inj-0\u0000', 'Patient/inj-0', 'inj-%', 'inj-_']
  for (const id of badIds) {
    t.throws(() => store.upsert({ resourceType: 'Patient', id }), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /FHIR id/ }, `Patient id ${JSON.stringify(id)} refused`)
    t.same(await store.query(id, q('Observation')), [], `query as ${JSON.stringify(id)} finds nothing`)
    t.notOk(await store.hasPatient(id))
    t.notOk(store.hasPatientSync(id))
    t.throws(
      () => store.upsert({ ...evilResource('Observation', 0, 'x'), id: 'o-new', subject: { reference: `Patient/${id}` } }),
      { code: GatekeeperErrorCode.INVALID_IMPORT },
      `a reference to ${JSON.stringify(id)} is refused`,
    )
  }
  for (const key of ["code' OR 1=1 --", 'code) OR (1=1', 'code;', 'r.code', '1=1', 'search_token', '__proto__', 'constructor']) {
    await t.rejects(store.query('inj-0', { ...q('Observation'), [key]: 'x' } as unknown as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `query key ${JSON.stringify(key)}`)
    await t.rejects(store.query('inj-0', q('Observation', [key as CodeSystem])), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `code system ${JSON.stringify(key)}`)
  }
  for (const rt of ["Observation'; --", 'observation', 'Observation r, patient', 'search_token']) {
    await t.rejects(store.query('inj-0', { resourceType: rt, fields: ['id'] } as unknown as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `resource type ${JSON.stringify(rt)}`)
    await t.rejects(store.aggregate({ resourceType: rt, aggregate: 'count' } as unknown as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH })
  }
  const badAggregates: unknown[] = [
    { resourceType: 'Observation', aggregate: 'count', groupBy: ['code) FROM patient --'] },
    { resourceType: 'Observation', aggregate: 'count', groupBy: ['patient_id'] },
    { resourceType: 'Observation', aggregate: 'sum', field: 'value_number) FROM patient; --' },
    { resourceType: 'Observation', aggregate: 'sum', field: 'resource' },
    { resourceType: 'Observation', aggregate: 'count(*) FROM patient --' },
    { resourceType: 'Observation', aggregate: 'count', search: { "code' OR 1=1": 'x' } },
    { resourceType: 'Observation', aggregate: 'count', codeSystems: ["http://loinc.org' OR 1=1 --"] },
    { resourceType: 'Observation', aggregate: 'count', codeSystems: "http://loinc.org') OR (1=1" },
  ]
  for (const b of badAggregates) await t.rejects(store.aggregate(b as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, JSON.stringify(b))

  // Every table is still there with every row.
  const raw = new DatabaseSync(path, { readOnly: true })
  t.teardown(() => raw.close())
  const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name)
  t.same(tables, ['condition', 'document_reference', 'encounter', 'immunization', 'medication_request', 'observation', 'patient', 'schema_version', 'search_token', 'sqlite_sequence', 'staged_records'].sort())
  t.equal(store.resourceCount(), EVIL.length * RESOURCE_TYPES.length)
})

t.test('aggregates over metacharacter values group them exactly and read them back whole', async (t) => {
  const { store } = setup(t)
  const cells = await store.aggregate({ resourceType: 'Observation', aggregate: 'sum', field: 'valueQuantity.value', groupBy: ['code', 'status', 'unit'] })
  t.equal(cells.length, EVIL.length, 'one group per distinct value (NUL strings not merged with their prefix)')
  const byCode = new Map(cells.map((c) => [c.group.code, c]))
  EVIL.forEach((s, i) => {
    const c = byCode.get(s)
    t.same(c, { group: { code: s, status: s, unit: s }, patients: 1, records: 1, value: i }, `group ${JSON.stringify(s)}`)
  })
  const filtered = await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [LOINC] })
  t.same(filtered, [{ group: {}, patients: 0, records: 0, value: 0 }], 'no evil record has a listed code system')
  t.same(releaseCells(cells, 2), { released: [], suppressed: EVIL.length }, 'one patient per group: nothing released at k=2')
})
