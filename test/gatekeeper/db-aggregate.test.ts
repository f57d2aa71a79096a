import t from 'tap'
import type { BountyQuery } from '../../contracts/client/index.ts'
import { setLogLevel } from '../../common/index.ts'
import { releaseCells } from '../../gatekeeper/db/index.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { AggregateCell } from '../../gatekeeper/types.ts'
import { fixtureStore } from '../fixtures/gatekeeper/store.ts'

setLogLevel('warn')

const LOINC = 'http://loinc.org'
const SNOMED = 'http://snomed.info/sct'
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm'

const cell = (group: AggregateCell['group'], patients: number, records = patients, value: number | null = records): AggregateCell => ({ group, patients, records, value })

t.test('count, sum, mean, min and max over all patients, grouped and filtered', async (t) => {
  const store = fixtureStore(t)
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count' }), [cell({}, 8, 32)])
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', field: 'value' }), [cell({}, 8, 32, 31)], 'count of a field counts records that have it')
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] }), [
    cell({ code: '2339-0' }, 1, 1),
    cell({ code: '29463-7' }, 2, 2),
    cell({ code: '4548-4' }, 5, 6),
    cell({ code: '72166-2' }, 1, 1),
    cell({ code: '8462-4' }, 8, 10),
    cell({ code: '8480-6' }, 8, 10),
    cell({ code: '8867-4' }, 2, 2),
  ])
  // codeSystems: only records whose coded element has a coding in one of the systems.
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [LOINC] }), [cell({}, 8, 32)], 'every fixture Observation is LOINC-coded')
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [SNOMED] }), [cell({}, 0, 0, 0)], 'none is SNOMED-coded')
  t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', codeSystems: [ICD10CM, SNOMED] }), [cell({}, 7, 9)])
  t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', codeSystems: ['http://hl7.org/fhir/sid/icd-10'] }), [cell({}, 0, 0, 0)], 'ICD-10 is not ICD-10-CM')
  t.same(await store.aggregate({ resourceType: 'Immunization', aggregate: 'count', groupBy: ['vaccineCode'], codeSystems: ['http://hl7.org/fhir/sid/cvx'] }), [cell({ vaccineCode: '158' }, 6), cell({ vaccineCode: '208' }, 1)])
  const stats = async (aggregate: BountyQuery['aggregate'], field: string, code: string) =>
    (await store.aggregate({ resourceType: 'Observation', aggregate, field, groupBy: ['code'] })).find((c) => c.group.code === code)!.value
  t.equal(await stats('sum', 'valueQuantity.value', '8480-6'), 1378)
  t.equal(await stats('mean', 'valueQuantity.value', '8480-6'), 137.8)
  t.equal(await stats('min', 'value', '8462-4'), 71)
  t.equal(await stats('max', 'valueQuantity', '8462-4'), 99)
  t.equal(Math.round((await stats('mean', 'value', '4548-4'))! * 100) / 100, 7.8)
  t.equal(await stats('mean', 'value', '72166-2'), null, 'null when no record has the field')
  const byUnit = await store.aggregate({ resourceType: 'Observation', aggregate: 'max', field: 'value', groupBy: ['unit'], codeSystems: [LOINC] })
  t.same(byUnit.filter((c) => c.group.unit === '%' || c.group.unit === 'mmHg'), [
    cell({ unit: '%' }, 5, 6, 9.2),
    cell({ unit: 'mmHg' }, 8, 20, 165),
  ])
  const systolic = await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code', 'valueQuantity.code', 'status'] })
  t.same(systolic.filter((c) => c.group.code === '8480-6').map((c) => ({ ...c, group: { 'valueQuantity.code': c.group['valueQuantity.code']!, status: c.group.status! } })), [
    cell({ 'valueQuantity.code': 'mm[Hg]', status: 'amended' }, 1, 1),
    cell({ 'valueQuantity.code': 'mm[Hg]', status: 'final' }, 7, 9),
  ])

  t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['gender'] }), [cell({ gender: 'female' }, 5), cell({ gender: 'male' }, 3)])
  t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'mean', field: 'birthYear' }), [cell({}, 8, 8, 1969)])
  t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['active'] }), [cell({ active: true }, 8)])
  t.same((await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['birthYear'] }))[0], cell({ birthYear: 1949 }, 1))
  t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', groupBy: ['clinicalStatus'] }), [cell({ clinicalStatus: 'active' }, 6, 8), cell({ clinicalStatus: 'resolved' }, 1, 1)])
  t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', groupBy: ['verificationStatus', 'category'] }), [cell({ verificationStatus: 'confirmed', category: 'problem-list-item' }, 7, 9)])
  t.same(await store.aggregate({ resourceType: 'Encounter', aggregate: 'count', groupBy: ['class'] }), [cell({ class: 'AMB' }, 8, 10), cell({ class: 'IMP' }, 1, 1)])
  t.same(await store.aggregate({ resourceType: 'Encounter', aggregate: 'count', groupBy: ['status', 'type'] }), [cell({ status: 'finished', type: '185349003' }, 8, 10), cell({ status: 'finished', type: '32485007' }, 1, 1)])
  t.same(await store.aggregate({ resourceType: 'MedicationRequest', aggregate: 'count', groupBy: ['medicationCodeableConcept', 'status'] }), [
    cell({ medicationCodeableConcept: '314076', status: 'active' }, 3),
    cell({ medicationCodeableConcept: '860975', status: 'active' }, 5),
    cell({ medicationCodeableConcept: '860975', status: 'stopped' }, 1),
  ])
  t.same(await store.aggregate({ resourceType: 'MedicationRequest', aggregate: 'count', groupBy: ['intent'] }), [cell({ intent: 'order' }, 6, 9)])
  t.same(await store.aggregate({ resourceType: 'Immunization', aggregate: 'count', groupBy: ['vaccineCode', 'status'] }), [cell({ vaccineCode: '158', status: 'completed' }, 6), cell({ vaccineCode: '208', status: 'completed' }, 1)])
  t.same(await store.aggregate({ resourceType: 'DocumentReference', aggregate: 'count', groupBy: ['type', 'category', 'status'] }), [cell({ type: '34133-9', category: 'clinical-note', status: 'current' }, 1)])

  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [SNOMED] }), [cell({}, 0, 0, 0)], 'no match: one empty cell')
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'sum', field: 'value', codeSystems: [SNOMED] }), [cell({}, 0, 0, null)])
  t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'], codeSystems: [SNOMED] }), [])
})

t.test('unsupported fields, groupings and aggregates are refused with the supported ones named', async (t) => {
  const store = fixtureStore(t)
  const refused: [unknown, RegExp][] = [
    [{ resourceType: 'Observation', aggregate: 'sum', field: 'code' }, /field "code" of Observation cannot be aggregated.*numeric fields: value, valueQuantity/],
    [{ resourceType: 'Condition', aggregate: 'mean', field: 'onsetDateTime' }, /numeric fields: none/],
    [{ resourceType: 'Observation', aggregate: 'sum' }, /aggregate sum needs a numeric field/],
    [{ resourceType: 'Observation', aggregate: 'median', field: 'value' }, /aggregate must be one of count, sum, mean, min, max/],
    [{ resourceType: 'Observation', aggregate: 'count', groupBy: ['subject'] }, /cannot group Observation by "subject"; supported: code, status/],
    [{ resourceType: 'Patient', aggregate: 'count', groupBy: ['birthDate'] }, /cannot group Patient by "birthDate"/],
    [{ resourceType: 'Observation', aggregate: 'count', groupBy: 'code' }, /groupBy must be an array/],
    [{ resourceType: 'Observation', aggregate: 'count', groupBy: ['code', 'code'] }, /groupBy names a field twice/],
    [{ resourceType: 'Observation', aggregate: 'count', search: { patient: 'pat-alice' } }, /search values never go on chain/],
    [{ resourceType: 'Observation', aggregate: 'count', search: { code: '4548-4' } }, /search values never go on chain/],
    [{ resourceType: 'Observation', aggregate: 'count', codeSystems: ['http://loinc.org|4548-4'] }, /closed list/],
    [{ resourceType: 'Patient', aggregate: 'count', codeSystems: [LOINC] }, /Patient has none/],
    [{ resourceType: 'Observation', aggregate: 'count', code: '4548-4' }, /unknown key\(s\) "code"/],
    [{ resourceType: 'Observation', aggregate: 'count', groupBy: ['toString'] }, /cannot group Observation by "toString"/],
    [{ resourceType: 'Observation', aggregate: 'toString' }, /aggregate must be one of/],
    [{ resourceType: 'Observation', aggregate: 'sum', field: 'constructor' }, /cannot be aggregated/],
    ['count', /must be an object/],
  ]
  for (const [query, re] of refused) await t.rejects(store.aggregate(query as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH, message: re }, JSON.stringify(query))
})

t.test('k-anonymity: cells below k are dropped; a query below k releases nothing', async (t) => {
  t.same(releaseCells([], 3), { released: [], suppressed: 0 })
  t.same(releaseCells([cell({}, 2)], 3), { released: [], suppressed: 1 }, 'the whole query covers 2 < 3 patients')
  t.same(releaseCells([cell({}, 3)], 3), { released: [cell({}, 3)], suppressed: 0 }, 'exactly k is released')
  t.same(releaseCells([cell({}, 0, 0, 0)], 1), { released: [], suppressed: 1 }, 'an empty aggregate is never released')
  t.same(releaseCells([cell({ c: 'a' }, 2), cell({ c: 'b' }, 1)], 3), { released: [], suppressed: 2 }, 'no cell reaches k: nothing')
  t.same(
    releaseCells([cell({ c: 'a' }, 10), cell({ c: 'b' }, 2), cell({ c: 'c' }, 7), cell({ c: 'd' }, 1)], 3),
    { released: [cell({ c: 'a' }, 10), cell({ c: 'c' }, 7)], suppressed: 2 },
    'the suppressed cells together cover 3 >= k patients: no more is needed',
  )
  for (const k of [0, -1, 1.5, Number.NaN]) t.throws(() => releaseCells([cell({}, 5)], k), { code: GatekeeperErrorCode.INTERNAL }, `k=${k}`)

  const store = fixtureStore(t)
  const obsByCode = await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] })
  t.same(releaseCells(obsByCode, 5).released.map((c) => c.group.code), ['4548-4', '8462-4', '8480-6'])
  t.same(releaseCells(obsByCode, 5).suppressed, 4)
  t.same(releaseCells(obsByCode, 6).released.map((c) => c.group.code), ['8462-4', '8480-6'])
  const hba1c = (await store.aggregate({ resourceType: 'Observation', aggregate: 'mean', field: 'value', groupBy: ['code'] })).filter((c) => c.group.code === '4548-4')
  t.same(releaseCells(hba1c, 6), { released: [], suppressed: 1 }, 'HbA1c of 5 patients at k=6')
  t.same(releaseCells(await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['gender'] }), 9).released, [], 'the provider has 8 patients: nothing at k=9')
})

t.test('k-anonymity: differencing against a coarser grouping cannot isolate fewer than k patients', async (t) => {
  // One suppressed cell alone would be total minus the released cells: the smallest released cell goes with it.
  const byCode = [cell({ code: 'dm' }, 5), cell({ code: 'htn' }, 3), cell({ code: 'asthma' }, 1)]
  t.same(releaseCells(byCode, 3), { released: [cell({ code: 'dm' }, 5)], suppressed: 2 })

  const store = fixtureStore(t)
  const conditions = await store.aggregate({ resourceType: 'Condition', aggregate: 'count', groupBy: ['code'] })
  t.same(releaseCells(conditions, 3).released.map((c) => c.group.code), ['44054006'], 'hypertension (3) hidden with asthma (1)')
  // code × status: the stopped metformin (1 patient) could be read off as (metformin by code) − (metformin active).
  const meds = await store.aggregate({ resourceType: 'MedicationRequest', aggregate: 'count', groupBy: ['code', 'status'] })
  t.same(releaseCells(meds, 3), { released: [], suppressed: 3 }, 'every slice with a small hidden part loses its released cells too')

  // Property: for random tables where each patient is in one cell, in every slice of every coarser
  // grouping the hidden cells cover 0 or >= k patients, so total − released never isolates < k.
  let seed = 42
  const rand = (n: number): number => {
    // mulberry32: a small deterministic PRNG (32-bit integer arithmetic only).
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) % n
  }
  let checked = 0
  for (let round = 0; round < 200; round++) {
    const k = 2 + rand(5)
    const cells: AggregateCell[] = []
    const as = 1 + rand(4)
    const bs = 1 + rand(4)
    for (let a = 0; a < as; a++) for (let b = 0; b < bs; b++) if (rand(5) > 0) cells.push(cell({ a: `a${a}`, b: b }, 1 + rand(3 * k)))
    if (cells.length === 0) continue
    checked++
    const { released, suppressed } = releaseCells(cells, k)
    t.equal(released.length + suppressed, cells.length)
    if (!released.every((c) => c.patients >= k)) t.fail(`round ${round}: a released cell is below k`)
    const hidden = cells.filter((c) => !released.includes(c))
    for (const by of [[], ['a'], ['b']] as string[][]) {
      const slices = new Map<string, number>()
      for (const c of hidden) {
        const key = JSON.stringify(by.map((f) => c.group[f]))
        slices.set(key, (slices.get(key) ?? 0) + c.patients)
      }
      for (const [key, patients] of slices) {
        const coarse = cells.filter((c) => JSON.stringify(by.map((f) => c.group[f])) === key)
        // A fully hidden slice is a coarse cell below k, itself suppressed in the coarser query.
        if (coarse.every((c) => hidden.includes(c))) continue
        if (patients < k) t.fail(`round ${round} k=${k}: slice ${JSON.stringify(by)}=${key} hides only ${patients} patients`)
      }
    }
  }
  t.ok(checked > 150, `${checked} random tables checked`)
})
