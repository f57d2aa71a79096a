/**
 * Plugging in a provider's own database.
 *
 * The gatekeeper reads records only through `RecordSource` (gatekeeper/types.ts). The SQLite
 * store (sqlite.ts) is the default; a provider whose records live elsewhere (an EHR's SQL
 * database, a FHIR server) implements the four methods instead. The contract:
 *
 * - `query(patientId, { resourceType, fields, codeSystems? })`: FHIR R4 resources of that one
 *   local patient, sorted by id. The patient scope is not optional: build it into every
 *   statement (`WHERE patient_id = $1`). A query carries no values (contracts/client/query.ts
 *   is the grammar: check input with `recordQuery`); `codeSystems` is a closed list of URIs
 *   (CODE_SYSTEMS) and keeps only records whose coded element (CODED_ELEMENT: Observation.code,
 *   Condition.code, ...) has a coding in one of them. Apply it or throw a GatekeeperError
 *   UNSUPPORTED_SEARCH; never ignore it (that would return more than the pointer describes).
 *   `fields` is the gatekeeper's business (it projects them), not yours.
 * - `hasPatient(patientId)`: whether the local patient exists.
 * - `aggregate({ resourceType, aggregate, field?, groupBy?, codeSystems? })`: over all patients,
 *   one AggregateCell per group with `patients` = COUNT(DISTINCT patient) and `records` =
 *   COUNT(*); unsupported fields or groupings throw UNSUPPORTED_SEARCH. Return every cell: the
 *   gatekeeper applies k-anonymity itself (releaseCells in k-anonymity.ts).
 * - `close()`.
 * Always use bound parameters; never put a code system, field name or id into SQL text
 * (map names to columns through a constant table, as schema.ts does).
 *
 * Example: a provider with a table `lab_results(mrn, loinc, value, unit, taken_at, status)`,
 * all coded in LOINC:
 *
 *   async query(patientId, q) {
 *     const checked = recordQuery(q).query          // the one grammar; throws on anything else
 *     if (checked.resourceType !== 'Observation') return []
 *     if (checked.codeSystems !== undefined && !checked.codeSystems.includes('http://loinc.org')) return []
 *     const rows = await pg.query('SELECT * FROM lab_results WHERE mrn = $1 ORDER BY id', [patientId])
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
