import type { CodeSystem, ResourceType } from '../../../contracts/client/index.ts'

/**
 * The add-a-record form, per resource type: the inputs a provider fills in (the record's values,
 * stored off chain in its own database) and the choices that build the pointer's query and bounty
 * (stored on chain): element names and code systems picked from these lists, never typed text,
 * so no value can reach the chain.
 */
export interface FormInput {
  name: string
  label: string
  kind: 'text' | 'number' | 'date' | 'select'
  options?: readonly string[]
  required?: boolean
}

export interface RecordForm {
  type: Exclude<ResourceType, 'Patient'>
  label: string
  /** Code systems the record's code may come from (and the query may filter on). */
  systems: readonly CodeSystem[]
  inputs: readonly FormInput[]
  /** Elements the pointer may expose (a grant's fields); the first ones ticked by default. */
  fields: readonly string[]
  defaultFields: readonly string[]
  /** Bounty choices this database can compute (gatekeeper/db/schema.ts): groupings and numeric fields. */
  groupBy: readonly string[]
  numeric: readonly string[]
  build(v: Record<string, string>, system: CodeSystem): { resourceType: string; [element: string]: unknown }
}

const dateTime = (d: string | undefined) => (d === undefined || d === '' ? undefined : d)
const codeable = (system: string, code: string | undefined, display: string | undefined) =>
  code === undefined || code === '' ? undefined : { coding: [{ system, code, ...(display ? { display } : {}) }], ...(display ? { text: display } : {}) }
const clean = <T extends Record<string, unknown>>(o: T): T => {
  for (const k of Object.keys(o)) if (o[k] === undefined || o[k] === '') delete o[k]
  return o
}
const CODE: FormInput = { name: 'code', label: 'Code', kind: 'text', required: true }
const DISPLAY: FormInput = { name: 'display', label: 'What it is, in words', kind: 'text' }

export const RECORD_FORMS: readonly RecordForm[] = [
  {
    type: 'Observation',
    label: 'Observation (a measurement or test result)',
    systems: ['http://loinc.org', 'http://snomed.info/sct'],
    inputs: [CODE, DISPLAY, { name: 'value', label: 'Value', kind: 'number' }, { name: 'unit', label: 'Unit', kind: 'text' }, { name: 'date', label: 'Date', kind: 'date' }, { name: 'status', label: 'Status', kind: 'select', options: ['final', 'preliminary', 'amended'] }],
    fields: ['status', 'category', 'code', 'effectiveDateTime', 'valueQuantity', 'interpretation', 'note'],
    defaultFields: ['status', 'category', 'code', 'effectiveDateTime', 'valueQuantity'],
    groupBy: ['code', 'status', 'unit'],
    numeric: ['valueQuantity'],
    build: (v, system) =>
      clean({
        resourceType: 'Observation',
        status: v.status ?? 'final',
        code: codeable(system, v.code, v.display),
        valueQuantity: v.value === undefined || v.value === '' ? undefined : clean({ value: Number(v.value), unit: v.unit, system: v.unit ? 'http://unitsofmeasure.org' : undefined, code: v.unit }),
        effectiveDateTime: dateTime(v.date),
      }),
  },
  {
    type: 'Condition',
    label: 'Condition (a diagnosis or problem)',
    systems: ['http://hl7.org/fhir/sid/icd-10-cm', 'http://hl7.org/fhir/sid/icd-10', 'http://snomed.info/sct'],
    inputs: [CODE, DISPLAY, { name: 'clinicalStatus', label: 'Clinical status', kind: 'select', options: ['active', 'recurrence', 'remission', 'resolved', 'inactive'] }, { name: 'onset', label: 'Since', kind: 'date' }],
    fields: ['clinicalStatus', 'verificationStatus', 'category', 'code', 'onsetDateTime', 'recordedDate', 'note'],
    defaultFields: ['clinicalStatus', 'code', 'onsetDateTime'],
    groupBy: ['code', 'clinicalStatus', 'category'],
    numeric: [],
    build: (v, system) =>
      clean({
        resourceType: 'Condition',
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: v.clinicalStatus ?? 'active' }] },
        code: codeable(system, v.code, v.display),
        onsetDateTime: dateTime(v.onset),
      }),
  },
  {
    type: 'MedicationRequest',
    label: 'Medication (a prescription)',
    systems: ['http://www.nlm.nih.gov/research/umls/rxnorm', 'http://hl7.org/fhir/sid/ndc', 'http://www.whocc.no/atc'],
    inputs: [CODE, DISPLAY, { name: 'dosage', label: 'How to take it', kind: 'text' }, { name: 'authored', label: 'Prescribed on', kind: 'date' }, { name: 'status', label: 'Status', kind: 'select', options: ['active', 'completed', 'stopped', 'on-hold'] }],
    fields: ['status', 'intent', 'medicationCodeableConcept', 'authoredOn', 'dosageInstruction', 'note'],
    defaultFields: ['status', 'medicationCodeableConcept', 'authoredOn', 'dosageInstruction'],
    groupBy: ['code', 'status', 'intent'],
    numeric: [],
    build: (v, system) =>
      clean({
        resourceType: 'MedicationRequest',
        status: v.status ?? 'active',
        intent: 'order',
        medicationCodeableConcept: codeable(system, v.code, v.display),
        authoredOn: dateTime(v.authored),
        dosageInstruction: v.dosage ? [{ text: v.dosage }] : undefined,
      }),
  },
  {
    type: 'Immunization',
    label: 'Immunization (a vaccine given)',
    systems: ['http://hl7.org/fhir/sid/cvx', 'http://snomed.info/sct'],
    inputs: [CODE, DISPLAY, { name: 'date', label: 'Given on', kind: 'date', required: true }, { name: 'status', label: 'Status', kind: 'select', options: ['completed', 'not-done'] }],
    fields: ['status', 'vaccineCode', 'occurrenceDateTime', 'lotNumber', 'note'],
    defaultFields: ['status', 'vaccineCode', 'occurrenceDateTime'],
    groupBy: ['vaccineCode', 'status'],
    numeric: [],
    build: (v, system) => clean({ resourceType: 'Immunization', status: v.status ?? 'completed', vaccineCode: codeable(system, v.code, v.display), occurrenceDateTime: dateTime(v.date) }),
  },
  {
    type: 'DocumentReference',
    label: 'Document (a letter, report or scan)',
    systems: ['http://loinc.org'],
    inputs: [CODE, DISPLAY, { name: 'description', label: 'Description', kind: 'text' }, { name: 'date', label: 'Date', kind: 'date' }],
    fields: ['status', 'type', 'category', 'date', 'description', 'content'],
    defaultFields: ['status', 'type', 'date', 'description'],
    groupBy: ['type', 'category', 'status'],
    numeric: [],
    build: (v, system) =>
      clean({ resourceType: 'DocumentReference', status: 'current', type: codeable(system, v.code, v.display), description: v.description, date: v.date ? `${v.date}T00:00:00Z` : undefined }),
  },
  {
    type: 'Encounter',
    label: 'Visit (an encounter)',
    systems: ['http://snomed.info/sct', 'http://www.ama-assn.org/go/cpt'],
    inputs: [CODE, DISPLAY, { name: 'start', label: 'From', kind: 'date' }, { name: 'end', label: 'To', kind: 'date' }, { name: 'status', label: 'Status', kind: 'select', options: ['finished', 'in-progress', 'planned'] }],
    fields: ['status', 'class', 'type', 'period', 'reasonCode'],
    defaultFields: ['status', 'class', 'type', 'period'],
    groupBy: ['status', 'class', 'type'],
    numeric: [],
    build: (v, system) => {
      const type = codeable(system, v.code, v.display)
      return clean({
        resourceType: 'Encounter',
        status: v.status ?? 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: type === undefined ? undefined : [type],
        period: v.start || v.end ? clean({ start: dateTime(v.start), end: dateTime(v.end) }) : undefined,
      })
    },
  },
]

/** A fresh local resource id: the provider's own id for the record (never on chain). */
export function newResourceId(type: string): string {
  return `${type.toLowerCase()}-${crypto.randomUUID()}`
}
