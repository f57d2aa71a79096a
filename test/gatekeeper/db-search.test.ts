import t from 'tap'
import { RESOURCE_TYPES, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { setLogLevel } from '../../common/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { fixtureBundle, fixtureStore, ids } from '../fixtures/gatekeeper/store.ts'

setLogLevel('warn')

const q = (resourceType: ResourceType, search?: Record<string, string>): RecordQuery => ({ resourceType, fields: ['id'], ...(search === undefined ? {} : { search }) })
const patientOf = (r: FhirResource): string => (r.resourceType === 'Patient' ? r.id : ((r.subject ?? r.patient) as { reference: string }).reference.slice('Patient/'.length))

/** [patient, type, search, expected ids sorted by id]: every supported search parameter of every type. */
const CASES: [string, ResourceType, Record<string, string>, string[]][] = [
  // Patient
  ['pat-alice', 'Patient', { gender: 'female' }, ['pat-alice']],
  ['pat-alice', 'Patient', { gender: 'male' }, []],
  ['pat-alice', 'Patient', { active: 'true' }, ['pat-alice']],
  ['pat-alice', 'Patient', { active: 'false' }, []],
  ['pat-alice', 'Patient', { _lastUpdated: 'lt2024-06' }, ['pat-alice']],
  ['pat-alice', 'Patient', { _lastUpdated: 'eq2024-05-01' }, ['pat-alice']],
  ['pat-alice', 'Patient', { _lastUpdated: 'ge2024-05-02' }, []],
  // Observation: token code in all four forms, OR, category, status
  ['pat-alice', 'Observation', { code: '8480-6' }, ['bp-1-sys', 'bp-2-sys']],
  ['pat-alice', 'Observation', { code: 'http://loinc.org|4548-4' }, ['a1c-1', 'a1c-2']],
  ['pat-alice', 'Observation', { code: 'http://snomed.info/sct|4548-4' }, []],
  ['pat-alice', 'Observation', { code: '|8480-6' }, []],
  ['pat-alice', 'Observation', { code: 'http://loinc.org|' }, ['a1c-1', 'a1c-2', 'bp-1-dia', 'bp-1-sys', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { code: '8480-6,4548-4' }, ['a1c-1', 'a1c-2', 'bp-1-sys', 'bp-2-sys']],
  ['pat-alice', 'Observation', { category: 'laboratory' }, ['a1c-1', 'a1c-2']],
  ['pat-alice', 'Observation', { category: 'http://terminology.hl7.org/CodeSystem/observation-category|vital-signs' }, ['bp-1-dia', 'bp-1-sys', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { status: 'amended' }, []],
  ['pat-carol', 'Observation', { status: 'amended,preliminary' }, ['bp-4-dia', 'bp-4-sys']],
  ['pat-frank', 'Observation', { status: '|preliminary' }, ['glu-1']],
  // Observation date: stored precision vs searched precision, every prefix, time zones
  ['pat-alice', 'Observation', { date: '2024-01-15' }, ['a1c-1', 'bp-1-dia', 'bp-1-sys']],
  ['pat-alice', 'Observation', { date: 'eq2024-01' }, ['a1c-1', 'bp-1-dia', 'bp-1-sys']],
  ['pat-alice', 'Observation', { date: '2024-04-10T10:00:00Z' }, ['bp-2-dia', 'bp-2-sys']],
  ['pat-alice', 'Observation', { date: 'ne2024-01-15' }, ['a1c-2', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { date: 'gt2024-01-15' }, ['a1c-2', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { date: 'lt2024-04-10' }, ['a1c-1', 'bp-1-dia', 'bp-1-sys']],
  ['pat-alice', 'Observation', { date: 'ge2024-04-10T10:05:00Z' }, ['a1c-2', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { date: 'le2024-01-15T09:30:00Z' }, ['a1c-1', 'bp-1-dia', 'bp-1-sys']],
  ['pat-alice', 'Observation', { date: 'lt2024-01-15T09:30:00Z' }, ['a1c-1']],
  ['pat-bob', 'Observation', { date: '2024-02-02T13:20:00Z', code: '8480-6' }, ['bp-3-sys']],
  ['pat-bob', 'Observation', { date: '2024-02-02T14:20:00+01:00', code: '8480-6' }, ['bp-3-sys']],
  ['pat-bob', 'Observation', { date: '2024-02-02T14:20:00Z' }, []],
  ['pat-alice', 'Observation', { date: 'lt2024-01-01,gt2024-04-10T10:05:30Z' }, ['a1c-2', 'wt-1']],
  // Observation value-quantity: implied precision, prefixes, units
  ['pat-alice', 'Observation', { 'value-quantity': 'gt100' }, ['bp-1-sys', 'bp-2-sys']],
  ['pat-alice', 'Observation', { 'value-quantity': '7.9' }, ['a1c-1']],
  ['pat-alice', 'Observation', { 'value-quantity': '8' }, ['a1c-1']],
  ['pat-alice', 'Observation', { 'value-quantity': 'ne8' }, ['a1c-2', 'bp-1-dia', 'bp-1-sys', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { 'value-quantity': 'le7.1' }, ['a1c-2']],
  ['pat-alice', 'Observation', { 'value-quantity': 'lt7.1' }, []],
  ['pat-alice', 'Observation', { 'value-quantity': 'ge142' }, ['bp-1-sys']],
  ['pat-alice', 'Observation', { 'value-quantity': 'gt1.4e2' }, ['bp-1-sys']],
  ['pat-alice', 'Observation', { 'value-quantity': '1e2' }, []],
  ['pat-alice', 'Observation', { 'value-quantity': 'lt100|http://unitsofmeasure.org|mm[Hg]' }, ['bp-1-dia', 'bp-2-dia']],
  ['pat-alice', 'Observation', { 'value-quantity': 'lt100||mmHg' }, ['bp-1-dia', 'bp-2-dia']],
  ['pat-alice', 'Observation', { 'value-quantity': 'lt100||kg' }, ['wt-1']],
  ['pat-alice', 'Observation', { 'value-quantity': 'lt100|http://example.org/units|kg' }, []],
  ['pat-alice', 'Observation', { _lastUpdated: 'gt2024-05-02' }, ['a1c-1', 'a1c-2', 'bp-1-dia', 'bp-1-sys', 'bp-2-dia', 'bp-2-sys', 'hr-1', 'wt-1']],
  ['pat-alice', 'Observation', { _lastUpdated: 'lt2020' }, []],
  ['pat-alice', 'Observation', { code: '8480-6', date: 'ge2024-04' }, ['bp-2-sys']],
  // Condition: any coding matches, statuses, onset with year/month precision
  ['pat-dave', 'Condition', { code: 'E11.9' }, ['dm-dave']],
  ['pat-dave', 'Condition', { code: 'http://hl7.org/fhir/sid/icd-10-cm|I10' }, ['htn-dave']],
  ['pat-dave', 'Condition', { code: 'http://snomed.info/sct|I10' }, []],
  ['pat-dave', 'Condition', { code: 'http://snomed.info/sct|44054006,http://snomed.info/sct|38341003' }, ['dm-dave', 'htn-dave']],
  ['pat-dave', 'Condition', { category: 'problem-list-item' }, ['dm-dave', 'htn-dave']],
  ['pat-dave', 'Condition', { 'clinical-status': 'http://terminology.hl7.org/CodeSystem/condition-clinical|active' }, ['dm-dave', 'htn-dave']],
  ['pat-dave', 'Condition', { 'clinical-status': 'resolved' }, []],
  ['pat-erin', 'Condition', { 'clinical-status': 'resolved' }, ['asthma-erin']],
  ['pat-dave', 'Condition', { 'verification-status': 'confirmed' }, ['dm-dave', 'htn-dave']],
  ['pat-dave', 'Condition', { 'verification-status': 'refuted' }, []],
  ['pat-dave', 'Condition', { 'onset-date': 'ge2000' }, ['dm-dave']],
  ['pat-dave', 'Condition', { 'onset-date': '1998' }, ['htn-dave']],
  ['pat-dave', 'Condition', { 'onset-date': '1998-05-15' }, []],
  ['pat-dave', 'Condition', { 'onset-date': 'lt1999' }, ['htn-dave']],
  ['pat-dave', 'Condition', { _lastUpdated: 'gt2024-05-02' }, ['dm-dave', 'htn-dave']],
  // Encounter
  ['pat-dave', 'Encounter', { status: 'finished' }, ['enc-5', 'enc-6', 'enc-dave-inpatient']],
  ['pat-dave', 'Encounter', { status: 'in-progress' }, []],
  ['pat-dave', 'Encounter', { class: 'AMB' }, ['enc-5', 'enc-6']],
  ['pat-dave', 'Encounter', { class: 'http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP' }, ['enc-dave-inpatient']],
  ['pat-dave', 'Encounter', { type: '32485007' }, ['enc-dave-inpatient']],
  ['pat-dave', 'Encounter', { type: 'http://snomed.info/sct|185349003' }, ['enc-5', 'enc-6']],
  ['pat-dave', 'Encounter', { date: '2024-03-01' }, ['enc-5']],
  ['pat-dave', 'Encounter', { date: 'ge2024-03-02' }, ['enc-6', 'enc-dave-inpatient']],
  ['pat-dave', 'Encounter', { date: 'lt2024-03-01T12:00:00Z' }, ['enc-5']],
  ['pat-dave', 'Encounter', { date: '2024-03' }, ['enc-5', 'enc-6', 'enc-dave-inpatient']],
  ['pat-dave', 'Encounter', { _lastUpdated: 'lt2020' }, []],
  // MedicationRequest
  ['pat-dave', 'MedicationRequest', { status: 'stopped' }, ['metformin-dave-old']],
  ['pat-dave', 'MedicationRequest', { status: 'active' }, ['lisinopril-dave', 'metformin-dave']],
  ['pat-dave', 'MedicationRequest', { intent: 'order' }, ['lisinopril-dave', 'metformin-dave', 'metformin-dave-old']],
  ['pat-dave', 'MedicationRequest', { intent: 'plan' }, []],
  ['pat-dave', 'MedicationRequest', { code: '860975' }, ['metformin-dave', 'metformin-dave-old']],
  ['pat-dave', 'MedicationRequest', { code: 'http://www.nlm.nih.gov/research/umls/rxnorm|314076' }, ['lisinopril-dave']],
  ['pat-dave', 'MedicationRequest', { authoredon: 'ge2023' }, ['lisinopril-dave', 'metformin-dave']],
  ['pat-dave', 'MedicationRequest', { authoredon: 'lt2020', status: 'stopped' }, ['metformin-dave-old']],
  ['pat-dave', 'MedicationRequest', { _lastUpdated: 'gt2024-05-02' }, ['lisinopril-dave', 'metformin-dave', 'metformin-dave-old']],
  // Immunization
  ['pat-alice', 'Immunization', { status: 'completed' }, ['flu-alice']],
  ['pat-alice', 'Immunization', { 'vaccine-code': '158' }, ['flu-alice']],
  ['pat-alice', 'Immunization', { 'vaccine-code': 'http://hl7.org/fhir/sid/cvx|208' }, []],
  ['pat-grace', 'Immunization', { 'vaccine-code': 'http://hl7.org/fhir/sid/cvx|208' }, ['covid-grace']],
  ['pat-alice', 'Immunization', { date: '2023-10' }, ['flu-alice']],
  ['pat-alice', 'Immunization', { date: 'gt2023-10-02' }, []],
  ['pat-alice', 'Immunization', { date: 'ge2023-10-02' }, ['flu-alice']],
  ['pat-alice', 'Immunization', { _lastUpdated: 'lt2020' }, []],
  // DocumentReference
  ['pat-alice', 'DocumentReference', { status: 'current' }, ['doc-alice-1']],
  ['pat-alice', 'DocumentReference', { status: 'superseded' }, []],
  ['pat-alice', 'DocumentReference', { type: 'http://loinc.org|34133-9' }, ['doc-alice-1']],
  ['pat-alice', 'DocumentReference', { category: 'clinical-note' }, ['doc-alice-1']],
  ['pat-alice', 'DocumentReference', { date: '2024-04-10' }, ['doc-alice-1']],
  ['pat-alice', 'DocumentReference', { date: 'lt2024-04-10' }, []],
  ['pat-alice', 'DocumentReference', { _lastUpdated: 'gt2024-05-02' }, ['doc-alice-1']],
]

t.test('every supported search parameter of every type', async (t) => {
  const store = fixtureStore(t)
  for (const [patient, type, search, expected] of CASES) {
    t.same(ids(await store.query(patient, q(type, search))), expected, `${patient} ${type} ${JSON.stringify(search)}`)
  }
  // Every parameter a table declares is exercised above.
  const { TABLES } = await import('../../gatekeeper/db/index.ts')
  for (const type of RESOURCE_TYPES) {
    const used = new Set(CASES.filter((c) => c[1] === type).flatMap((c) => Object.keys(c[2])))
    t.same(Object.keys(TABLES[type].search).filter((k) => !used.has(k)), [], `${type}: every search parameter has a case`)
  }
})

t.test('a query is scoped to its patient: never another patient\'s rows, whatever the search', async (t) => {
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
    }
    t.equal(seen, store.resourceCount(type), `${type}: the per-patient results partition the table`)
  }
  // Search values that match only other patients' records find nothing for this one.
  t.same(await store.query('pat-grace', q('Observation', { code: '4548-4' })), [], 'grace has no HbA1c, others do')
  t.same(await store.query('pat-alice', q('Immunization', { 'vaccine-code': '208' })), [])
  t.same(await store.query('pat-erin', q('Condition', { code: '44054006,38341003' })), [])
  t.same(await store.query('pat-alice', q('Observation', { date: '2024-03-01T11:00:00Z' })), [], "dave's reading time")
  t.same(await store.query('pat-zed', q('Observation')), [], 'an unknown patient has nothing')
  t.same(await store.query('', q('Observation')), [])
  t.same(await store.query('pat-alice', q('Patient')).then(ids), ['pat-alice'], 'a Patient query returns only the patient itself')
})

t.test('FHIR escapes: \\, and \\| are literal characters in a value', async (t) => {
  const store = fixtureStore(t)
  const code = (c: string, system = 'http://example.org'): FhirResource => ({
    resourceType: 'Observation',
    id: `esc-${Buffer.from(c).toString('hex')}`,
    status: 'final',
    code: { coding: [{ system, code: c }] },
    subject: { reference: 'Patient/pat-alice' },
  })
  store.upsert(code('a,b'))
  store.upsert(code('x|y'))
  store.upsert(code('back\\slash'))
  store.upsert(code('a'))
  t.same(ids(await store.query('pat-alice', q('Observation', { code: 'a\\,b' }))), ['esc-612c62'])
  t.same(ids(await store.query('pat-alice', q('Observation', { code: 'a,b' }))), ['esc-61'], 'an unescaped comma is OR (of a and b)')
  t.same(ids(await store.query('pat-alice', q('Observation', { code: 'http://example.org|x\\|y' }))), ['esc-787c79'])
  t.same(ids(await store.query('pat-alice', q('Observation', { code: 'back\\\\slash' }))), ['esc-6261636b5c736c617368'])
})

t.test('unsupported searches are refused, never ignored', async (t) => {
  const store = fixtureStore(t)
  const refused: [ResourceType | string, unknown, RegExp][] = [
    ['Observation', { foo: 'x' }, /search parameter "foo" is not supported for Observation/],
    ['Observation', { 'code:text': 'pressure' }, /"code:text" is not supported/],
    ['Observation', { 'code:not': '8480-6' }, /"code:not" is not supported/],
    ['Observation', { patient: 'pat-bob' }, /"patient" is not supported/],
    ['Observation', { subject: 'Patient/pat-bob' }, /"subject" is not supported/],
    ['Observation', { _id: 'bp-3-sys' }, /"_id" is not supported/],
    ['Observation', { 'onset-date': '2001' }, /"onset-date" is not supported for Observation/],
    ['Patient', { birthdate: '1961' }, /"birthdate" is not supported for Patient/],
    ['Patient', { name: 'Alice' }, /"name" is not supported/],
    ['Observation', { constructor: 'x' }, /"constructor" is not supported/],
    ['Observation', { toString: 'x' }, /"toString" is not supported/],
    ['Observation', { hasOwnProperty: 'x' }, /"hasOwnProperty" is not supported/],
    ['Observation', JSON.parse('{"__proto__":"x"}'), /"__proto__" is not supported/],
    ['Observation', { date: 'sa2024-01-01' }, /prefix "sa" of "date" is not supported/],
    ['Observation', { date: 'ap2024-01-01' }, /prefix "ap"/],
    ['Observation', { date: 'yesterday' }, /must be \[prefix\]date/],
    ['Observation', { date: '2024-02-30' }, /must be \[prefix\]date/],
    ['Observation', { date: 'ge2024-01-01,' }, /empty alternative/],
    ['Observation', { 'value-quantity': 'high' }, /must start with \[prefix\]number/],
    ['Observation', { 'value-quantity': '5|kg' }, /\[prefix\]number\|system\|code/],
    ['Observation', { status: 'http://hl7.org/fhir/observation-status|final' }, /"status" of Observation is a plain code/],
    ['Observation', { code: '' }, /non-empty string/],
    ['Observation', { code: 5 }, /non-empty string/],
    ['Observation', { code: 'trailing\\' }, /lone backslash/],
    ['Patient', { active: 'yes' }, /must be true or false/],
    ['Observation', 'code=8480-6', /search must be an object/],
    ['Specimen', undefined, /resource type "Specimen" is not stored/],
    ['toString', undefined, /resource type "toString" is not stored/],
  ]
  for (const [resourceType, search, re] of refused) {
    await t.rejects(store.query('pat-alice', { resourceType, fields: ['id'], search } as unknown as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH, message: re }, `${resourceType} ${JSON.stringify(search)}`)
  }
  await t.rejects(store.query(42 as unknown as string, q('Observation')), { code: GatekeeperErrorCode.BAD_REQUEST })
})
