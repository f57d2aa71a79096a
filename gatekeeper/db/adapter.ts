/**
 * Plugging in a provider's own database.
 *
 * The gatekeeper reads records only through `RecordSource` (gatekeeper/types.ts). The SQLite
 * store (sqlite.ts) is the default; a provider whose records live elsewhere (an EHR's SQL
 * database, a FHIR server) implements the four methods instead. The contract:
 *
 * - `query(patientId, { resourceType, search })`: FHIR R4 resources of that one local patient,
 *   sorted by id. The patient scope is not optional: build it into every statement
 *   (`WHERE patient_id = $1`). Apply every `search` parameter or throw a GatekeeperError
 *   UNSUPPORTED_SEARCH naming it; never ignore one (that would return more than the pointer
 *   describes). `fields` is the gatekeeper's business (it projects them), not yours.
 * - `hasPatient(patientId)`: whether the local patient exists.
 * - `aggregate({ resourceType, aggregate, field?, groupBy?, search? })`: over all patients, one
 *   AggregateCell per group with `patients` = COUNT(DISTINCT patient) and `records` = COUNT(*);
 *   unsupported fields or groupings throw UNSUPPORTED_SEARCH. Return every cell: the gatekeeper
 *   applies k-anonymity itself (releaseCells in k-anonymity.ts).
 * - `close()`.
 * Always use bound parameters; never put a search value, field name or id into SQL text
 * (map names to columns through a constant table, as schema.ts does).
 *
 * Example: a provider with a table `lab_results(mrn, loinc, value, unit, taken_at, status)`:
 *
 *   const COLUMNS = { code: 'loinc', status: 'status' } as const   // FHIR search param → column
 *   async query(patientId, q) {
 *     if (q.resourceType !== 'Observation') return []
 *     const where = ['mrn = $1'], params: unknown[] = [patientId]
 *     for (const [key, value] of Object.entries(q.search ?? {})) {
 *       if (!Object.hasOwn(COLUMNS, key)) throw new GatekeeperError('UNSUPPORTED_SEARCH', `search parameter ${key} is not supported`)
 *       params.push(value.split('|').pop())
 *       where.push(`${COLUMNS[key]} = $${params.length}`)
 *     }
 *     const rows = await pg.query(`SELECT * FROM lab_results WHERE ${where.join(' AND ')} ORDER BY id`, params)
 *     return rows.map((x) => ({
 *       resourceType: 'Observation', id: String(x.id), status: x.status,
 *       code: { coding: [{ system: 'http://loinc.org', code: x.loinc }] },
 *       subject: { reference: `Patient/${x.mrn}` },
 *       effectiveDateTime: x.taken_at.toISOString(),
 *       valueQuantity: { value: x.value, unit: x.unit, system: 'http://unitsofmeasure.org', code: x.unit },
 *     }))
 *   }
 */
export type { AggregateCell, FhirBundle, FhirResource, RecordSource } from '../types.ts'
