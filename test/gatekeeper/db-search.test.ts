import t from 'tap'
import { CODE_SYSTEM_URIS, RESOURCE_TYPES, type CodeSystem, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { CODED_ELEMENT } from '../../contracts/client/query-shape.ts'
import { setLogLevel } from '../../common/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { fixtureBundle, fixtureStore, ids } from '../fixtures/gatekeeper/store.ts'

setLogLevel('warn')

/**
 * The record store's filter: a query names a resource type, fields and (optionally) code systems
 * from a closed list. The store applies `codeSystems` to the type's coded element, always within
 * the one patient, and refuses anything outside the query grammar, never ignores it.
 */

const q = (resourceType: ResourceType, codeSystems?: CodeSystem[]): RecordQuery => ({ resourceType, fields: ['id'], ...(codeSystems === undefined ? {} : { codeSystems }) })
const patientOf = (r: FhirResource): string => (r.resourceType === 'Patient' ? r.id : ((r.subject ?? r.patient) as { reference: string }).reference.slice('Patient/'.length))

/** The systems of a resource's coded element (CODED_ELEMENT), read straight from its JSON: the oracle. */
function systemsOf(r: FhirResource): Set<string> {
  const element = CODED_ELEMENT[r.resourceType as ResourceType]
  if (element === undefined) return new Set()
  const v = r[element]
  const concepts = (Array.isArray(v) ? v : v === undefined ? [] : [v]) as { coding?: { system?: string }[] }[]
  return new Set(concepts.flatMap((c) => (c.coding ?? []).map((x) => x.system ?? '')))
}

const LOINC = 'http://loinc.org'
const SNOMED = 'http://snomed.info/sct'
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm'

t.test('codeSystems keeps the records whose coded element has a coding in one of the systems', async (t) => {
  const store = fixtureStore(t)
  const obs = (id: string, codings: { system: string; code: string }[]): FhirResource => ({ resourceType: 'Observation', id, status: 'final', code: { coding: codings }, subject: { reference: 'Patient/pat-alice' } })
  store.upsert(obs('x-snomed', [{ system: SNOMED, code: '271649006' }]))
  store.upsert(obs('x-both', [{ system: 'http://example.org/local', code: 'bp' }, { system: LOINC, code: '8480-6' }]))
  store.upsert(obs('x-local', [{ system: 'http://example.org/local', code: 'bp' }]))
  store.upsert({ resourceType: 'Observation', id: 'x-none', status: 'final', subject: { reference: 'Patient/pat-alice' } })

  const all = ids(await store.query('pat-alice', q('Observation')))
  t.ok(['x-snomed', 'x-both', 'x-local', 'x-none'].every((id) => all.includes(id)), 'no filter: every Observation of the patient')
  const loinc = ids(await store.query('pat-alice', q('Observation', [LOINC])))
  t.ok(loinc.includes('x-both'), 'any coding counts, not only the first')
  t.notOk(loinc.includes('x-snomed') || loinc.includes('x-local') || loinc.includes('x-none'), 'records without a LOINC coding are left out')
  t.same(ids(await store.query('pat-alice', q('Observation', [SNOMED]))), ['x-snomed'])
  t.same(ids(await store.query('pat-alice', q('Observation', [LOINC, SNOMED]))).length, loinc.length + 1, 'several systems: any of them')
  t.same(ids(await store.query('pat-alice', q('Condition', [ICD10CM]))), ['dm-alice'])
  t.same(ids(await store.query('pat-alice', q('Condition', ['http://hl7.org/fhir/sid/icd-10']))), [], 'ICD-10 is not ICD-10-CM')

  // Against the oracle, for every coded type, every patient and every listed system.
  const bundle = fixtureBundle()
  const patients = bundle.entry.filter((e) => e.resource.resourceType === 'Patient').map((e) => e.resource.id)
  for (const type of RESOURCE_TYPES.filter((r) => CODED_ELEMENT[r] !== undefined)) {
    let matched = 0
    for (const p of patients) {
      const rows = await store.query(p, q(type))
      for (const system of CODE_SYSTEM_URIS) {
        const expected = ids(rows.filter((r) => systemsOf(r).has(system)))
        matched += expected.length
        t.same(ids(await store.query(p, q(type, [system]))), expected, `${p} ${type} ${system}`)
      }
    }
    t.ok(matched > 0, `${type}: the fixture exercises the filter`)
  }
})

t.test('a query is scoped to its patient: never another patient\'s rows, whatever the filter', async (t) => {
  const store = fixtureStore(t)
  const bundle = fixtureBundle()
  const patients = bundle.entry.filter((e) => e.resource.resourceType === 'Patient').map((e) => e.resource.id)
  for (const type of RESOURCE_TYPES) {
    let seen = 0
    for (const p of patients) {
      const rows = await store.query(p, q(type))
      t.ok(rows.every((r) => patientOf(r) === p), `${type} of ${p} are all ${p}'s`)
      t.same(ids(rows), [...ids(rows)].sort(), 'sorted by id')
      seen += rows.length
      if (CODED_ELEMENT[type] !== undefined) {
        const filtered = await store.query(p, q(type, [...CODE_SYSTEM_URIS]))
        t.ok(filtered.every((r) => patientOf(r) === p), `${type} of ${p} filtered by every system are all ${p}'s`)
      }
    }
    t.equal(seen, store.resourceCount(type), `${type}: the per-patient results partition the table`)
  }
  t.same(await store.query('pat-grace', q('Condition', [ICD10CM])), [], 'grace has no coded condition, others do')
  t.same(await store.query('pat-zed', q('Observation', [LOINC])), [], 'an unknown patient has nothing')
  t.same(await store.query('', q('Observation')), [])
  t.same(await store.query('pat-alice', q('Patient')).then(ids), ['pat-alice'], 'a Patient query returns only the patient itself')
})

t.test('anything outside the query grammar is refused by the store, never ignored', async (t) => {
  const store = fixtureStore(t)
  const refused: [string, unknown, RegExp][] = [
    ['a search value', { resourceType: 'Observation', fields: ['id'], search: { code: '4548-4' } }, /search values never go on chain/],
    ['a quantity search', { resourceType: 'Observation', fields: ['id'], search: { 'value-quantity': 'ge6.5' } }, /search values never go on chain/],
    ['an empty search', { resourceType: 'Observation', fields: ['id'], search: {} }, /search values never go on chain/],
    ['a system with a code', { resourceType: 'Observation', fields: ['id'], codeSystems: [`${LOINC}|4548-4`] }, /closed list/],
    ['an unlisted system', { resourceType: 'Observation', fields: ['id'], codeSystems: ['http://example.org/local'] }, /closed list/],
    ['a Patient filter', { resourceType: 'Patient', fields: ['id'], codeSystems: [LOINC] }, /Patient has none/],
    ['a stray key', { resourceType: 'Observation', fields: ['id'], code: '4548-4' }, /unknown key\(s\) "code"/],
    ['a prototype key', JSON.parse('{"resourceType":"Observation","fields":["id"],"__proto__":{"x":1}}'), /unknown key|expected an object/],
    ['no fields', { resourceType: 'Observation' }, /fields must be an array/],
    ['a field with SQL', { resourceType: 'Observation', fields: ["id' OR 1=1"] }, /a field must be an element name/],
    ['a SQL string', 'SELECT * FROM observation', /looks like SQL|must be an object/],
    ['an unknown type', { resourceType: 'Specimen', fields: ['id'] }, /resource type "Specimen" is not stored/],
    ['a prototype type', { resourceType: 'toString', fields: ['id'] }, /resource type "toString" is not stored|a record query must be/],
  ]
  for (const [what, query, re] of refused) {
    await t.rejects(store.query('pat-alice', query as unknown as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH, message: re }, what)
  }
  await t.rejects(store.query(42 as unknown as string, q('Observation')), { code: GatekeeperErrorCode.BAD_REQUEST })
})
