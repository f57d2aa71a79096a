import t from 'tap'
import { parseDate } from '../../gatekeeper/fhir/dates.ts'
import { DATA_ABSENT_REASON, maskWithheld } from '../../gatekeeper/fhir/masking.ts'
import { matches, parseSearch } from '../../gatekeeper/fhir/search-params.ts'
import { project } from '../../gatekeeper/fhir-path.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import { validate } from './fhir-helpers.ts'

/**
 * Projection keeps records valid FHIR R4 whatever a pointer's fields leave out: one complete record
 * of each type the store holds, projected to every single field path it has (what a viewer
 * granted one field sees), masked, and validated. And the search values' parsing edges.
 */

const ref = { reference: 'Patient/p1' }
const cc = (system: string, code: string) => ({ coding: [{ system, code }] })
const SAMPLES: FhirResource[] = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Doe', given: ['Ann'] }], gender: 'female', birthDate: '1980-02-29', communication: [{ language: cc('urn:ietf:bcp:47', 'en'), preferred: true }] },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, type: [cc('http://snomed.info/sct', '185349003')], subject: ref, period: { start: '2026-01-02T10:00:00Z', end: '2026-01-02T11:00:00Z' }, diagnosis: [{ condition: { reference: 'Condition/c1' }, rank: 1 }] },
  {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    code: cc('http://loinc.org', '85354-9'),
    subject: ref,
    effectiveDateTime: '2026-01-02T10:00:00Z',
    component: [{ code: cc('http://loinc.org', '8480-6'), valueQuantity: { value: 120, unit: 'mmHg' } }],
    note: [{ text: 'rested', authorString: 'nurse' }],
  },
  { resourceType: 'Condition', id: 'c1', code: cc('http://hl7.org/fhir/sid/icd-10-cm', 'E11.9'), subject: ref, onsetDateTime: '2020-05-01', note: [{ text: 'x', time: '2020-05-01' }] },
  { resourceType: 'MedicationRequest', id: 'm1', status: 'active', intent: 'order', medicationCodeableConcept: cc('http://www.nlm.nih.gov/research/umls/rxnorm', '860975'), subject: ref, authoredOn: '2026-01-02', substitution: { allowedBoolean: true, reason: cc('http://x', 'y') } },
  { resourceType: 'Immunization', id: 'i1', status: 'completed', vaccineCode: cc('http://hl7.org/fhir/sid/cvx', '158'), patient: ref, occurrenceDateTime: '2023-10-02', performer: [{ actor: { reference: 'Practitioner/x' }, function: cc('http://x', 'AP') }], protocolApplied: [{ doseNumberPositiveInt: 1, series: 'a' }] },
  { resourceType: 'DocumentReference', id: 'd1', status: 'current', type: cc('http://loinc.org', '34133-9'), subject: ref, date: '2026-01-02T10:00:00Z', content: [{ attachment: { contentType: 'text/plain', url: 'https://x/doc' }, format: { code: 'urn:x' } }] },
]

/** Every path to a leaf (arrays walked as fhir-path does). */
function paths(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return [...new Set(v.flatMap((el) => paths(el, prefix)))]
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, sub]) => (prefix === '' && (k === 'resourceType' || k === 'id') ? [] : paths(sub, prefix === '' ? k : `${prefix}.${k}`)))
  return [prefix]
}

t.test('every sample is valid as stored', async (t) => {
  for (const r of SAMPLES) t.same(validate(r), [], `${r.resourceType}/${r.id}`)
})

t.test('projected to any one field, a record stays valid R4, and says it was redacted', async (t) => {
  for (const r of SAMPLES) {
    const all = paths(r)
    const parents = [...new Set(all.flatMap((p) => p.split('.').map((_, i, a) => a.slice(0, i + 1).join('.'))))]
    for (const path of parents) {
      const masked = maskWithheld(r, project(r, [path]))
      t.same(validate(masked), [], `${r.resourceType} projected to ${path}`)
      const security = (masked.meta as { security?: { code: string }[] } | undefined)?.security ?? []
      t.ok(security.some((s) => s.code === 'REDACTED'), `${r.resourceType} ${path}: REDACTED`)
    }
    const whole = maskWithheld(r, project(r, Object.keys(r)))
    t.same(whole, r, `${r.resourceType} with every field: unchanged, not marked`)
  }
  const obs = maskWithheld(SAMPLES[2]!, project(SAMPLES[2]!, ['component.valueQuantity', 'note.authorString']))
  t.same(obs._status, { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] }, 'a primitive: the _element form')
  t.same(obs.code, { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] }, 'a complex element: the extension in it')
  t.same((obs.component as { code: unknown }[])[0]!.code, { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] }, 'a backbone element: its required code')
  t.notOk('valueQuantity' in obs, 'nothing beyond the fields is added')
})

t.test('dates: precision, zones, calendars', async (t) => {
  t.same(parseDate('2026'), { lo: Date.UTC(2026, 0, 1), hi: Date.UTC(2027, 0, 1) })
  t.same(parseDate('2024-02'), { lo: Date.UTC(2024, 1, 1), hi: Date.UTC(2024, 2, 1) })
  t.ok(parseDate('2024-02-29'), 'a leap day')
  t.equal(parseDate('2025-02-29'), undefined, 'not a leap year')
  t.equal(parseDate('2026-04-31'), undefined)
  t.equal(parseDate('2026-01-02T10:00:00'), undefined, 'a time without its zone')
  t.same(parseDate('2026-01-02T10:00:00+02:00'), { lo: Date.UTC(2026, 0, 2, 8), hi: Date.UTC(2026, 0, 2, 8, 0, 1) })
  t.same(parseDate('2026-01-02T10:00:00.5Z'), { lo: Date.UTC(2026, 0, 2, 10, 0, 0, 500), hi: Date.UTC(2026, 0, 2, 10, 0, 0, 501) })
  t.equal(parseDate("2026' OR 1=1"), undefined)
  const r = { resourceType: 'Observation', id: 'x', effectivePeriod: { start: '2026-01-01' } }
  const s = (q: string) => parseSearch('Observation', new URLSearchParams(q))
  t.ok(matches(r, s('date=ge2027-01-01')), 'an open period runs on')
  t.notOk(matches(r, s('date=lt2025-12-31')), 'but starts where it starts')
  t.notOk(matches(r, s('date=2026')), 'eq: an open period is not within a year')
})

t.test('tokens: escaping, systems, codes', async (t) => {
  const r = { resourceType: 'Observation', id: 'x', code: { coding: [{ system: 'http://loinc.org', code: 'a,b|c' }, { code: 'nosys' }] } }
  const s = (q: string) => parseSearch('Observation', new URLSearchParams(q))
  t.ok(matches(r, s('code=http://loinc.org|a\\,b\\|c')), 'escaped , and |')
  t.notOk(matches(r, s('code=a,b')), 'unescaped: two codes, neither matches')
  t.ok(matches(r, s('code=|nosys')), '|code: a coding without a system')
  t.notOk(matches(r, s('code=|a\\,b\\|c')), 'which the LOINC coding is not')
  t.throws(() => s('code=a|b|c'), { code: 'GATEKEEPER_BAD_REQUEST' })
  t.throws(() => s('code=a\\x'), { code: 'GATEKEEPER_BAD_REQUEST' })
  t.throws(() => s('code=|'), { code: 'GATEKEEPER_BAD_REQUEST' })
  t.throws(() => s('patient=a,b'), { code: 'GATEKEEPER_BAD_REQUEST' })
})

t.test('a projected field is a copy: nothing shared with the stored record, a "__proto__" key stays data, a driver\'s Date stays a Date', async (t) => {
  // The FHIR API serves copies (project() promises "shares no object with input"), made without structuredClone on the plain JSON.
  const stored = JSON.parse('{"resourceType":"Observation","id":"o9","status":"final","code":{"__proto__":{"polluted":true},"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":1}}') as FhirResource
  const p = project(stored, ['code', 'valueQuantity'])
  const code = p.code as Record<string, unknown>
  t.not(code, stored.code, 'a new object')
  t.not((code.coding as unknown[])[0], ((stored.code as Record<string, unknown>).coding as unknown[])[0], 'nested objects too')
  t.ok(Object.hasOwn(code, '__proto__'), '"__proto__" is an own key of the copy')
  t.equal(Object.getPrototypeOf(code), Object.prototype, 'not the copy\'s prototype')
  t.equal((code as { polluted?: unknown }).polluted, undefined)
  t.equal(JSON.stringify(p), JSON.stringify({ resourceType: 'Observation', id: 'o9', code: stored.code, valueQuantity: { value: 1 } }), 'the same JSON as the stored fields')
  ;(code.coding as { code: string }[])[0]!.code = 'changed'
  t.equal((((stored.code as Record<string, unknown>).coding as { code: string }[])[0]!).code, '8480-6', 'changing the copy leaves the record alone')
  const when = new Date(0)
  const withDate = project({ resourceType: 'Observation', id: 'o10', issued: when } as unknown as FhirResource, ['issued'])
  t.ok(withDate.issued instanceof Date && withDate.issued !== when && withDate.issued.getTime() === 0, 'a non-JSON object is still copied whole')
})
