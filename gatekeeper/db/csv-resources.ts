import type { ResourceType } from '../../contracts/client/index.ts'
import { isGatekeeperError } from '../errors.ts'
import type { FhirResource } from '../types.ts'
import { parseCsv } from './csv.ts'
import { MEDREC_IDENTITY_SYSTEM, invalid } from './fhir.ts'

/**
 * The CSV columns of each resource type and how a row becomes a FHIR R4 resource. The header
 * row names the columns in any order; `required` ones must be present, unknown ones are refused
 * (an ignored column would be data silently lost). An empty cell means "absent".
 * `patient` is the local Patient id (stored as subject/patient reference `Patient/<id>`).
 * Dates are FHIR dates or dateTimes (2024-03-05, 2024-03-05T10:30:00Z).
 */
export const CSV_COLUMNS: Readonly<Record<ResourceType, { readonly required: readonly string[]; readonly optional: readonly string[] }>> = {
  Patient: { required: ['id'], optional: ['identity', 'family', 'given', 'gender', 'birth_date', 'active'] },
  Observation: { required: ['id', 'patient', 'code'], optional: ['code_system', 'display', 'value', 'unit', 'date', 'status', 'category'] },
  Condition: { required: ['id', 'patient', 'code'], optional: ['code_system', 'display', 'clinical_status', 'verification_status', 'onset', 'category'] },
  Encounter: { required: ['id', 'patient'], optional: ['status', 'class', 'type_system', 'type', 'type_display', 'start', 'end'] },
  MedicationRequest: { required: ['id', 'patient', 'code'], optional: ['code_system', 'display', 'status', 'intent', 'authored'] },
  Immunization: { required: ['id', 'patient', 'vaccine_code'], optional: ['vaccine_system', 'display', 'status', 'date'] },
  DocumentReference: { required: ['id', 'patient'], optional: ['type_system', 'type', 'type_display', 'category', 'status', 'date', 'content_type', 'url', 'title'] },
}

const UCUM = 'http://unitsofmeasure.org'
const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category'
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category'
const CONDITION_CLINICAL = 'http://terminology.hl7.org/CodeSystem/condition-clinical'
const CONDITION_VERIFICATION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status'
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode'
const NUMBER_RE = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/** A row as column → value, empty cells left out. */
export type CsvRow = Readonly<Record<string, string>>

/** Drops undefined members so the resource is plain JSON. */
function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]
  return o
}

function coding(system: string | undefined, code: string | undefined, display?: string): Record<string, unknown> | undefined {
  return code === undefined ? undefined : compact({ system, code, display })
}

function concept(system: string | undefined, code: string | undefined, display?: string): Record<string, unknown> | undefined {
  const c = coding(system, code, display)
  return c === undefined ? undefined : { coding: [c] }
}

const subject = (row: CsvRow) => ({ reference: `Patient/${row.patient}` })

const BUILDERS: Record<ResourceType, (row: CsvRow) => Record<string, unknown>> = {
  Patient: (row) => {
    if (row.active !== undefined && row.active !== 'true' && row.active !== 'false') invalid(`active must be true or false, got ${JSON.stringify(row.active)}`)
    const name = row.family === undefined && row.given === undefined ? undefined : [compact({ family: row.family, given: row.given === undefined ? undefined : [row.given] })]
    return compact({
      identifier: row.identity === undefined ? undefined : [{ system: MEDREC_IDENTITY_SYSTEM, value: row.identity }],
      active: row.active === undefined ? undefined : row.active === 'true',
      name,
      gender: row.gender,
      birthDate: row.birth_date,
    })
  },
  Observation: (row) => {
    let value: Record<string, unknown> = {}
    if (row.value !== undefined) {
      value = NUMBER_RE.test(row.value)
        ? { valueQuantity: compact({ value: Number(row.value), unit: row.unit, system: row.unit === undefined ? undefined : UCUM, code: row.unit }) }
        : { valueString: row.value }
    } else if (row.unit !== undefined) invalid('unit is given without a value')
    return compact({
      status: row.status ?? 'final',
      category: row.category === undefined ? undefined : [concept(OBSERVATION_CATEGORY, row.category)],
      code: concept(row.code_system, row.code, row.display),
      subject: subject(row),
      effectiveDateTime: row.date,
      ...value,
    })
  },
  Condition: (row) =>
    compact({
      clinicalStatus: concept(CONDITION_CLINICAL, row.clinical_status),
      verificationStatus: concept(CONDITION_VERIFICATION, row.verification_status),
      category: row.category === undefined ? undefined : [concept(CONDITION_CATEGORY, row.category)],
      code: concept(row.code_system, row.code, row.display),
      subject: subject(row),
      onsetDateTime: row.onset,
    }),
  Encounter: (row) =>
    compact({
      status: row.status ?? 'finished',
      class: coding(ACT_CODE, row.class),
      type: row.type === undefined ? undefined : [concept(row.type_system, row.type, row.type_display)],
      subject: subject(row),
      period: row.start === undefined && row.end === undefined ? undefined : compact({ start: row.start, end: row.end }),
    }),
  MedicationRequest: (row) =>
    compact({
      status: row.status ?? 'active',
      intent: row.intent ?? 'order',
      medicationCodeableConcept: concept(row.code_system, row.code, row.display),
      subject: subject(row),
      authoredOn: row.authored,
    }),
  Immunization: (row) =>
    compact({
      status: row.status ?? 'completed',
      vaccineCode: concept(row.vaccine_system, row.vaccine_code, row.display),
      patient: subject(row),
      occurrenceDateTime: row.date,
    }),
  DocumentReference: (row) => {
    const attachment = compact({ contentType: row.content_type, url: row.url, title: row.title })
    return compact({
      status: row.status ?? 'current',
      type: concept(row.type_system, row.type, row.type_display),
      category: row.category === undefined ? undefined : [concept(undefined, row.category)],
      subject: subject(row),
      date: row.date,
      content: Object.keys(attachment).length === 0 ? undefined : [{ attachment }],
    })
  },
}

/** Checks a header row against the columns of a type; returns it. */
export function checkHeader(resourceType: ResourceType, header: readonly string[]): string[] {
  const { required, optional } = CSV_COLUMNS[resourceType]
  const names = header.map((h) => h.trim())
  const allowed = [...required, ...optional]
  const unknown = names.filter((n) => !allowed.includes(n))
  if (unknown.length > 0) invalid(`CSV header: unknown column(s) ${unknown.map((n) => JSON.stringify(n)).join(', ')} for ${resourceType}; columns: ${allowed.join(',')}`)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup !== undefined) invalid(`CSV header: column ${JSON.stringify(dup)} appears twice`)
  const missing = required.filter((r) => !names.includes(r))
  if (missing.length > 0) invalid(`CSV header: ${resourceType} needs the column(s) ${missing.join(', ')}; columns: ${allowed.join(',')}`)
  return names
}

/** The FHIR resource of one CSV row (not yet validated: upsert does that). */
export function resourceOfRow(resourceType: ResourceType, row: CsvRow): FhirResource {
  for (const r of CSV_COLUMNS[resourceType].required) if (row[r] === undefined) invalid(`the ${r} column is empty; ${resourceType} rows need ${CSV_COLUMNS[resourceType].required.join(', ')}`)
  return { resourceType, id: row.id!, ...BUILDERS[resourceType](row) }
}

/** A resource read from an import, with where it came from (for messages: `CSV line 3 (Observation/bp-1)`). */
export interface ImportEntry {
  where: string
  resource: FhirResource
  context: Record<string, unknown>
}

/** The rows of a CSV import as resources, for both stores; a bad line refuses the whole text (INVALID_IMPORT). */
export function csvEntries(resourceType: ResourceType, csvText: string): ImportEntry[] {
  if (typeof csvText !== 'string') invalid('CSV import needs the CSV text')
  const [header, ...rows] = parseCsv(csvText)
  if (header === undefined) invalid('CSV import: the text is empty; the first row must name the columns')
  const names = checkHeader(resourceType, header.fields)
  return rows.map((rec) => {
    const context = { line: rec.line }
    if (rec.fields.length !== names.length) invalid(`CSV line ${rec.line} has ${rec.fields.length} fields, the header ${names.length}; nothing was imported`, context)
    const row: Record<string, string> = {}
    names.forEach((n, i) => {
      if (rec.fields[i] !== '') row[n] = rec.fields[i]!
    })
    let resource: FhirResource
    try {
      resource = resourceOfRow(resourceType, row)
    } catch (err) {
      if (!isGatekeeperError(err)) throw err
      invalid(`CSV line ${rec.line}: ${err.message}; nothing was imported`, context)
    }
    return { where: `CSV line ${rec.line} (${resourceType}/${row.id ?? '?'})`, resource, context }
  })
}
