import t, { type Test } from 'tap'
import {
  CODE_SYSTEM_URIS,
  ClientError,
  ClientErrorCode,
  RESOURCE_TYPES,
  bountyQuery,
  parseBountyQuery,
  parseRecordQuery,
  recordQuery,
} from '../../contracts/client/index.ts'
import { CODED_ELEMENT } from '../../contracts/client/query-shape.ts'

/**
 * The closed query grammar (contracts/client/query.ts): what a pointer or bounty stores on chain
 * names a resource type, fields and code systems, never a value. Every way a value used to get
 * in (FHIR search parameters, a code system URI with a code in it, a stray key) is refused with a
 * message that says what is allowed.
 */

function refused(t: Test, check: () => unknown, pattern: RegExp, what: string): void {
  try {
    check()
    t.fail(`${what}: accepted`)
  } catch (err) {
    t.ok(err instanceof ClientError && err.code === ClientErrorCode.INVALID_QUERY, `${what}: INVALID_QUERY`)
    t.match((err as Error).message, pattern, `${what}: says why`)
  }
}

const LOINC = 'http://loinc.org'
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm'

t.test('search values are refused wherever a query enters, with a message that says what is allowed', async (t) => {
  const allowed = /search values never go on chain: a query names a resource type, fields and code systems.*e\.g\. \{"resourceType":"Observation".*"codeSystems":\["http:\/\/loinc\.org"\]\}/
  const withValues = [
    { search: { code: 'E11' } },
    { search: { 'value-quantity': 'ge6.5' } },
    { search: { code: 'http://loinc.org|4548-4' } },
    { search: {} },
  ]
  for (const extra of withValues) {
    refused(t, () => recordQuery({ resourceType: 'Condition', fields: ['code'], ...extra }), allowed, `record query ${JSON.stringify(extra)}`)
    refused(t, () => bountyQuery({ resourceType: 'Condition', aggregate: 'count', ...extra }), /search values never go on chain/, `bounty query ${JSON.stringify(extra)}`)
    const stored = JSON.stringify({ resourceType: 'Observation', fields: ['code'], ...extra })
    refused(t, () => parseRecordQuery(stored), /search values never go on chain/, `stored pointer query ${stored}`)
    refused(t, () => parseBountyQuery(JSON.stringify({ resourceType: 'Observation', aggregate: 'count', ...extra })), /search values never go on chain/, `stored bounty query ${stored}`)
  }
  refused(t, () => recordQuery('Observation?value-quantity=ge6.5'), /expected a structured query object/, 'a FHIR search URL')
})

t.test('code systems come from a closed list, so no value can hide in a URI', async (t) => {
  const closed = /not one this grammar allows \(a closed list.*http:\/\/loinc\.org \(LOINC\)/
  for (const bad of [`${LOINC}|4548-4`, 'http://loinc.org/4548-4', 'http://example.org/diagnosis/E11', 'urn:oid:2.16.840.1.113883.6.90', 'LOINC', 'http://LOINC.org', '', 'http://loinc.org ']) {
    refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], codeSystems: [bad] }), closed, `codeSystems ${JSON.stringify(bad)}`)
    refused(t, () => bountyQuery({ resourceType: 'Observation', aggregate: 'count', codeSystems: [bad] }), closed, `bounty codeSystems ${JSON.stringify(bad)}`)
  }
  refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], codeSystems: [{ system: LOINC, code: '4548-4' }] }), closed, 'a coding object')
  refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], codeSystems: LOINC }), /must be an array of code system URIs/, 'a bare string')
  refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], codeSystems: { [LOINC]: '4548-4' } }), /must be an array of code system URIs/, 'a map from system to code')
  refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], codeSystems: [LOINC, LOINC] }), /twice/, 'a repeated system')
  refused(t, () => recordQuery({ resourceType: 'Patient', fields: ['gender'], codeSystems: [LOINC] }), /Patient has none/, 'Patient has no coded element')
})

t.test('anything but the grammar\'s keys is refused, naming the keys allowed', async (t) => {
  for (const key of ['code', 'value', 'filter', 'where', 'valueQuantity', 'date', '_has', 'sql']) {
    refused(t, () => recordQuery({ resourceType: 'Observation', fields: ['code'], [key]: 'x' }), /unknown key.*allowed: resourceType, fields, codeSystems/, `record query key ${key}`)
    refused(t, () => bountyQuery({ resourceType: 'Observation', aggregate: 'count', [key]: 'x' }), /unknown key.*allowed: resourceType, aggregate, field, groupBy, codeSystems/, `bounty query key ${key}`)
  }
  // Fields are element names or paths: SQL metacharacters and value syntax never pass.
  for (const f of ['code=E11', 'value-quantity', 'valueQuantity>6.5', "code' OR 1=1", 'code|4548-4', 'code:E11', '4548-4', 'code.', '']) {
    refused(t, () => recordQuery({ resourceType: 'Observation', fields: [f] }), /a field must be an element name/, `field ${JSON.stringify(f)}`)
    refused(t, () => bountyQuery({ resourceType: 'Observation', aggregate: 'count', groupBy: [f] }), /a field must be an element name/, `groupBy ${JSON.stringify(f)}`)
  }
})

t.test('a valid query is canonical: systems sorted, an empty filter dropped, the same query the same hash', async (t) => {
  const a = recordQuery({ resourceType: 'Condition', fields: ['code', 'onsetDateTime'], codeSystems: [ICD10CM, 'http://snomed.info/sct'] })
  const b = recordQuery({ codeSystems: ['http://snomed.info/sct', ICD10CM], fields: ['code', 'onsetDateTime'], resourceType: 'Condition' })
  t.equal(a.json, '{"codeSystems":["http://hl7.org/fhir/sid/icd-10-cm","http://snomed.info/sct"],"fields":["code","onsetDateTime"],"resourceType":"Condition"}')
  t.equal(a.json, b.json)
  t.equal(a.hash, b.hash)
  t.same(parseRecordQuery(a.json).query, a.query, 'what is stored reads back')
  t.equal(recordQuery({ resourceType: 'Condition', fields: ['code'], codeSystems: [] }).json, '{"fields":["code"],"resourceType":"Condition"}', 'no systems: no filter')
  t.equal(bountyQuery({ resourceType: 'Immunization', aggregate: 'count', groupBy: ['vaccineCode'], codeSystems: ['http://hl7.org/fhir/sid/cvx'] }).json, '{"aggregate":"count","codeSystems":["http://hl7.org/fhir/sid/cvx"],"groupBy":["vaccineCode"],"resourceType":"Immunization"}')
  // Every coded type accepts every listed system.
  for (const rt of RESOURCE_TYPES.filter((r) => CODED_ELEMENT[r] !== undefined)) {
    t.equal(recordQuery({ resourceType: rt, fields: ['status'], codeSystems: [...CODE_SYSTEM_URIS] }).query.codeSystems?.length, CODE_SYSTEM_URIS.length, `${rt} takes every listed system`)
  }
})
