import type { Test } from 'tap'
import { CODE_SYSTEM_URIS, RESOURCE_TYPES, type BountyQuery, type CodeSystem, type RecordQuery, type ResourceType } from '../../contracts/client/index.ts'
import { CODED_ELEMENT } from '../../contracts/client/query-shape.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import type { AggregateCell, FhirResource, RecordSource } from '../../gatekeeper/types.ts'
import { fixtureBundle, fixtureCsv, ids } from '../fixtures/gatekeeper/store.ts'

/**
 * The record-source suite: what every RecordSource the gatekeeper can be given must do, run
 * against the SQLite store (record-source-sqlite.test.ts) and the PostgreSQL source over a real
 * server (record-source-postgres.test.ts). Same fixtures (the db tests' bundle and CSV), imported
 * through each store's own import; expectations are computed from the fixtures, so the two
 * stores are held to the same answers.
 */

/** What the suite needs beyond RecordSource: the imports (sync in SQLite, async in PostgreSQL) and counts. */
export interface SuiteStore extends RecordSource {
  importBundle(bundle: unknown): unknown
  importCsv(resourceType: string, csv: string): unknown
  patientCount(): number | Promise<number>
  resourceCount(resourceType?: ResourceType): number | Promise<number>
  aggregateWithCohorts?(q: BountyQuery): Promise<{ cell: AggregateCell; patientIds: string[] }[]>
}

export interface SuiteOptions {
  /** A new, empty store for one subtest, closed at its teardown. */
  empty(t: Test): Promise<SuiteStore>
  /** Whether the store can hold U+0000 in text (SQLite yes, PostgreSQL no: refused at import). */
  storesNul: boolean
}

const LOINC = 'http://loinc.org'
const SNOMED = 'http://snomed.info/sct'
const ICD10CM = 'http://hl7.org/fhir/sid/icd-10-cm'

const query = (resourceType: ResourceType, codeSystems?: CodeSystem[]): RecordQuery => ({ resourceType, fields: ['status'], ...(codeSystems === undefined ? {} : { codeSystems }) })
const cell = (group: AggregateCell['group'], patients: number, records = patients, value: number | null = records): AggregateCell => ({ group, patients, records, value })

/** Binary order of ids, as both stores sort (SQLite's BINARY, PostgreSQL's COLLATE "C"). */
const byteOrder = (a: string, b: string) => (Buffer.compare(Buffer.from(a), Buffer.from(b)) as number)

/** The fixture resources as the stores hold them: bundle and CSV, with the CSV rows built as the importers build them. */
function fixtureResources(): FhirResource[] {
  const fromBundle = fixtureBundle().entry.map((e) => e.resource)
  const [header, ...lines] = fixtureCsv().trim().split('\n')
  const names = header!.split(',')
  const fromCsv = lines.map((line) => {
    const cells = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '').replace(/""/g, '"'))
    const row = Object.fromEntries(names.map((n, i) => [n, cells[i]]))
    return { resourceType: 'Observation', id: row.id!, subject: { reference: `Patient/${row.patient}` }, code: { coding: [{ system: row.code_system, code: row.code }] } } as FhirResource
  })
  return [...fromBundle, ...fromCsv]
}

const patientOf = (r: FhirResource): string => (r.resourceType === 'Patient' ? r.id : String(((r.subject ?? r.patient) as { reference: string }).reference).slice('Patient/'.length))

/** The codings of a resource's coded element (the element codeSystems filters). */
function codings(r: FhirResource): { system?: string; code?: string }[] {
  const element = CODED_ELEMENT[r.resourceType as ResourceType]
  if (element === undefined) return []
  const v = r[element]
  const concepts = (Array.isArray(v) ? v : v === undefined ? [] : [v]) as { coding?: { system?: string; code?: string }[] }[]
  return concepts.flatMap((c) => c.coding ?? [])
}

function expected(all: readonly FhirResource[], patient: string, type: ResourceType, codeSystems?: readonly string[]): string[] {
  return all
    .filter((r) => r.resourceType === type && patientOf(r) === patient)
    .filter((r) => codeSystems === undefined || codings(r).some((c) => c.system !== undefined && codeSystems.includes(c.system)))
    .map((r) => r.id)
    .sort(byteOrder)
}

async function loaded(opts: SuiteOptions, t: Test): Promise<SuiteStore> {
  const store = await opts.empty(t)
  await store.importBundle(fixtureBundle())
  await store.importCsv('Observation', fixtureCsv())
  return store
}

/** Strings that would change a statement built by concatenation (the db-injection test's list, without NUL). */
const EVIL = [`' " ; -- /* */ % _ \\ ) OR 1=1`, `'); DROP TABLE lab_results; DROP TABLE observation; --`, `x' UNION SELECT mrn FROM patients --`, '%', '_', '$1 ?1 :name @p ?', 'Ünïcödé 🚑 \u202eRTL\u202c 中文', '__proto__']

export function recordSourceSuite(t: Test, opts: SuiteOptions): void {
  const all = fixtureResources()
  const patients = [...new Set(all.filter((r) => r.resourceType === 'Patient').map((r) => r.id))]

  t.test('a FHIR bundle and a CSV import; re-importing the same records changes nothing', async (t) => {
    const store = await opts.empty(t)
    const bundle = (await store.importBundle(fixtureBundle())) as { imported: number; byType: Record<string, number> }
    t.same(bundle.byType, { Patient: 8, Observation: 26, Condition: 9, Encounter: 11, MedicationRequest: 9, Immunization: 7, DocumentReference: 1 })
    const csv = (await store.importCsv('Observation', fixtureCsv())) as { imported: number }
    t.equal(csv.imported, 6)
    t.equal(await store.patientCount(), 8)
    t.equal(await store.resourceCount('Observation'), 32)
    await store.importBundle(fixtureBundle())
    t.equal(await store.resourceCount(), 8 + 32 + 9 + 11 + 9 + 7 + 1, 'an update in place, not a second row')
  })

  t.test('an import is all or nothing: a bad entry names itself and nothing is stored', async (t) => {
    const store = await opts.empty(t)
    const good = fixtureBundle()
    const orphan = { resourceType: 'Observation', id: 'orphan-1', status: 'final', code: { coding: [{ system: LOINC, code: '8867-4' }] }, subject: { reference: 'Patient/nobody' } }
    const bad = { ...good, entry: [...good.entry, { fullUrl: 'urn:uuid:x', resource: orphan }] }
    await t.rejects(async () => store.importBundle(bad), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /bundle entry 71 \(Observation\/orphan-1\).*Patient\/nobody.*nothing was imported/ })
    t.equal(await store.resourceCount(), 0, 'the 71 good entries were rolled back')
    await t.rejects(async () => store.importCsv('Observation', 'id,patient,code\nx-1,nobody,8867-4\n'), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /CSV line 2/ })
    await t.rejects(async () => store.importCsv('Observation', 'id,patient,code,dose\nx-1,pat-alice,1,2\n'), { code: GatekeeperErrorCode.INVALID_IMPORT }, 'an unknown CSV column')
    await t.rejects(async () => store.importBundle({ resourceType: 'Bundle', type: 'history', entry: [] }), { code: GatekeeperErrorCode.INVALID_IMPORT })
    t.equal(await store.resourceCount(), 0)
  })

  t.test('each resource type of each patient: exactly that patient\'s records, sorted by id', async (t) => {
    const store = await loaded(opts, t)
    for (const p of patients) {
      t.equal(await store.hasPatient(p), true, `hasPatient ${p}`)
      for (const type of RESOURCE_TYPES) {
        const got = await store.query(p, query(type))
        t.same(ids(got), expected(all, p, type), `${type} of ${p}`)
        for (const r of got) {
          t.equal(r.resourceType, type)
          t.equal(patientOf(r), p, `${type}/${r.id} names ${p}`)
          const source = all.find((x) => x.resourceType === type && x.id === r.id)!
          t.same(codings(r).map((c) => c.code), codings(source).map((c) => c.code), `${type}/${r.id}: the coded element's codes`)
          if (source.status !== undefined) t.equal(r.status, source.status, `${type}/${r.id}: status`)
        }
      }
    }
  })

  t.test('codeSystems keeps exactly the records with a coding in one of the systems, in every combination tried', async (t) => {
    const store = await loaded(opts, t)
    const lists: CodeSystem[][] = [...CODE_SYSTEM_URIS.map((s) => [s]), [SNOMED, ICD10CM], [LOINC, SNOMED], [...CODE_SYSTEM_URIS]]
    for (const p of ['pat-alice', 'pat-bob', 'pat-dave']) {
      for (const type of RESOURCE_TYPES.filter((x) => x !== 'Patient')) {
        for (const systems of lists) t.same(ids(await store.query(p, query(type, systems))), expected(all, p, type, systems), `${type} of ${p} in ${systems.join(' ')}`)
      }
    }
    t.ok(expected(all, 'pat-alice', 'Condition', [ICD10CM]).length > 0, 'a second coding (ICD-10-CM after SNOMED) is matched')
    t.same(await store.query('pat-alice', query('Observation', [SNOMED])), [], 'LOINC-coded results are not SNOMED')
  })

  t.test('patient scoping: a key that is not a patient\'s reads nothing, however it is written', async (t) => {
    const store = await loaded(opts, t)
    const probes = ["pat-alice' OR '1'='1", "' OR 1=1 --", 'pat-%', '%', '_at-alice', 'PAT-ALICE', ' pat-alice', 'pat-alice ', 'pat-alice\u0000', 'pat-alice;', '*', '$1', 'Patient/pat-alice', '', ...EVIL]
    for (const probe of probes) {
      t.equal(await store.hasPatient(probe), false, `hasPatient ${JSON.stringify(probe)}`)
      for (const type of RESOURCE_TYPES) t.same(await store.query(probe, query(type)), [], `${type} of ${JSON.stringify(probe)}`)
    }
    // Every record read under one patient's key is that patient's: no read crosses over.
    for (const p of patients) for (const type of RESOURCE_TYPES) for (const r of await store.query(p, query(type))) if (patientOf(r) !== p) t.fail(`${type}/${r.id} of ${patientOf(r)} leaked into ${p}'s read`)
  })

  t.test('queries outside the grammar are refused, never ignored', async (t) => {
    const store = await loaded(opts, t)
    const refused: unknown[] = [
      { resourceType: 'Observation', fields: ['code'], code: '4548-4' },
      { resourceType: 'Observation', fields: ['code'], search: { code: '4548-4' } },
      { resourceType: 'Observation', fields: ['code'], codeSystems: [`${LOINC}|4548-4`] },
      { resourceType: 'Observation', fields: ['code'], codeSystems: ["http://loinc.org' OR '1'='1"] },
      { resourceType: "Observation' --", fields: ['code'] },
      { resourceType: 'toString', fields: ['code'] },
      { resourceType: 'Observation', fields: ['code; DROP TABLE x'] },
      'SELECT * FROM observation',
    ]
    for (const q of refused) await t.rejects(store.query('pat-alice', q as RecordQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, JSON.stringify(q))
    for (const s of EVIL) {
      await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: [s] } as unknown as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `groupBy ${JSON.stringify(s)}`)
      await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'sum', field: s } as unknown as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `field ${JSON.stringify(s)}`)
      await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [s] } as unknown as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH }, `code system ${JSON.stringify(s)}`)
    }
    await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'sum', field: 'code' }), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH, message: /numeric fields: value/ })
    await t.rejects(store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['subject'] } as unknown as BountyQuery), { code: GatekeeperErrorCode.UNSUPPORTED_SEARCH, message: /supported: code, status/ })
    t.equal(await store.resourceCount(), 8 + 32 + 9 + 11 + 9 + 7 + 1, 'nothing a query carried changed the records')
  })

  t.test('values with SQL metacharacters are stored and read back as they were, and change nothing else', async (t) => {
    const store = await loaded(opts, t)
    const resources = EVIL.map((s, i) => ({
      resourceType: 'Observation',
      id: `evil-${i}`,
      status: 'final',
      code: { coding: [{ system: LOINC, code: s }], text: s },
      subject: { reference: 'Patient/pat-erin' },
      valueQuantity: { value: i, unit: s, system: 'http://unitsofmeasure.org', code: s },
    }))
    await store.importBundle({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) })
    const got = await store.query('pat-erin', query('Observation'))
    for (const [i, s] of EVIL.entries()) {
      const r = got.find((x) => x.id === `evil-${i}`)
      t.same((r?.code as { coding: { code: string }[] } | undefined)?.coding[0]?.code, s, `code ${JSON.stringify(s)} round-trips`)
      t.same((r?.valueQuantity as { unit?: string } | undefined)?.unit, s, `unit ${JSON.stringify(s)} round-trips`)
    }
    t.equal(await store.patientCount(), 8)
    t.equal(await store.resourceCount('Observation'), 32 + EVIL.length)
    const cells = await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] })
    for (const s of EVIL) t.same(cells.find((c) => c.group.code === s), cell({ code: s }, 1), `group ${JSON.stringify(s)} is one value`)
    const nul = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { ...resources[0]!, id: 'nul-1', code: { coding: [{ system: LOINC, code: 'a\u0000b' }] } } }] }
    if (opts.storesNul) {
      await store.importBundle(nul)
      t.same(((await store.query('pat-erin', query('Observation'))).find((r) => r.id === 'nul-1')!.code as { coding: { code: string }[] }).coding[0]!.code, 'a\u0000b')
    } else await t.rejects(async () => store.importBundle(nul), { code: GatekeeperErrorCode.INVALID_IMPORT, message: /nul-1.*NUL/ }, 'a NUL the store cannot hold is refused by name')
  })

  t.test('aggregates over all patients: COUNT(DISTINCT patient) and COUNT(*), grouped and filtered', async (t) => {
    const store = await loaded(opts, t)
    t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count' }), [cell({}, 8, 32)])
    t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', field: 'value' }), [cell({}, 8, 32, 31)])
    t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] }), [
      cell({ code: '2339-0' }, 1, 1),
      cell({ code: '29463-7' }, 2, 2),
      cell({ code: '4548-4' }, 5, 6),
      cell({ code: '72166-2' }, 1, 1),
      cell({ code: '8462-4' }, 8, 10),
      cell({ code: '8480-6' }, 8, 10),
      cell({ code: '8867-4' }, 2, 2),
    ])
    t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', codeSystems: [SNOMED] }), [cell({}, 0, 0, 0)])
    t.same(await store.aggregate({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'], codeSystems: [SNOMED] }), [])
    t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', codeSystems: [ICD10CM, SNOMED] }), [cell({}, 7, 9)])
    t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', codeSystems: [ICD10CM] }), [cell({}, 7, 9)], 'the second coding counts')
    const stat = async (aggregate: BountyQuery['aggregate'], field: string, code: string) => (await store.aggregate({ resourceType: 'Observation', aggregate, field, groupBy: ['code'] })).find((c) => c.group.code === code)!.value
    t.equal(await stat('sum', 'valueQuantity.value', '8480-6'), 1378)
    t.equal(await stat('mean', 'valueQuantity.value', '8480-6'), 137.8)
    t.equal(await stat('min', 'value', '8462-4'), 71)
    t.equal(await stat('max', 'valueQuantity', '8462-4'), 99)
    t.equal(await stat('mean', 'value', '72166-2'), null, 'null when no record has the field')
    const byUnit = await store.aggregate({ resourceType: 'Observation', aggregate: 'max', field: 'value', groupBy: ['unit'], codeSystems: [LOINC] })
    t.same(byUnit.filter((c) => c.group.unit === '%' || c.group.unit === 'mmHg'), [cell({ unit: '%' }, 5, 6, 9.2), cell({ unit: 'mmHg' }, 8, 20, 165)])
    t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['gender'] }), [cell({ gender: 'female' }, 5), cell({ gender: 'male' }, 3)])
    t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'mean', field: 'birthYear' }), [cell({}, 8, 8, 1969)])
    t.same(await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['active'] }), [cell({ active: true }, 8)])
    t.same((await store.aggregate({ resourceType: 'Patient', aggregate: 'count', groupBy: ['birthYear'] }))[0], cell({ birthYear: 1949 }, 1))
    t.same(await store.aggregate({ resourceType: 'Condition', aggregate: 'count', groupBy: ['clinicalStatus'] }), [cell({ clinicalStatus: 'active' }, 6, 8), cell({ clinicalStatus: 'resolved' }, 1, 1)])
    t.same(await store.aggregate({ resourceType: 'Encounter', aggregate: 'count', groupBy: ['status', 'type'] }), [cell({ status: 'finished', type: '185349003' }, 8, 10), cell({ status: 'finished', type: '32485007' }, 1, 1)])
    t.same(await store.aggregate({ resourceType: 'MedicationRequest', aggregate: 'count', groupBy: ['medicationCodeableConcept', 'status'] }), [
      cell({ medicationCodeableConcept: '314076', status: 'active' }, 3),
      cell({ medicationCodeableConcept: '860975', status: 'active' }, 5),
      cell({ medicationCodeableConcept: '860975', status: 'stopped' }, 1),
    ])
    t.same(await store.aggregate({ resourceType: 'Immunization', aggregate: 'count', groupBy: ['vaccineCode'], codeSystems: ['http://hl7.org/fhir/sid/cvx'] }), [cell({ vaccineCode: '158' }, 6), cell({ vaccineCode: '208' }, 1)])
    t.same(await store.aggregate({ resourceType: 'DocumentReference', aggregate: 'count', groupBy: ['type', 'category', 'status'] }), [cell({ type: '34133-9', category: 'clinical-note', status: 'current' }, 1)])
    if (store.aggregateWithCohorts !== undefined) {
      const cohorts = await store.aggregateWithCohorts({ resourceType: 'Observation', aggregate: 'count', groupBy: ['code'] })
      const hba1c = cohorts.find((c) => c.cell.group.code === '4548-4')!
      t.same([...hba1c.patientIds].sort(), [...new Set(all.filter((r) => r.resourceType === 'Observation' && codings(r)[0]?.code === '4548-4').map(patientOf))].sort(), 'the cohort is the distinct patients of the cell')
    }
  })
}
