import type { FhirResource } from '../api/index.ts'

/**
 * FHIR R4 resources as a person reads them: what it is, its value with unit, when. Only the
 * fields the reader was granted are present (a partial read is a projection), so every part is
 * optional (the pointer says which fields were withheld).
 */
type Json = Record<string, unknown>
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined)
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined)

/** A CodeableConcept's words: its text, else its first coding's display, else system|code. */
export function concept(v: unknown): string | undefined {
  const c = obj(v)
  if (c === undefined) return str(v)
  const text = str(c.text)
  if (text !== undefined) return text
  for (const coding of arr(c.coding)) {
    const d = str(obj(coding)?.display)
    if (d !== undefined) return d
  }
  const first = obj(arr(c.coding)[0])
  return first === undefined ? undefined : [str(first.code), str(first.system)].filter(Boolean).join(' in ')
}

/** A date or dateTime in the reader's words (the day, and the time when there is one). */
export function when(v: unknown): string | undefined {
  const s = str(v)
  if (s === undefined) return undefined
  if (/^\d{4}(-\d{2})?(-\d{2})?$/.test(s)) return s
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

function quantity(v: unknown): string | undefined {
  const q = obj(v)
  if (q === undefined) return undefined
  const value = str(q.value)
  return value === undefined ? undefined : [str(q.comparator), value, str(q.unit) ?? str(q.code)].filter(Boolean).join(' ')
}

/** An Observation's value, whichever value[x] it has. */
function observationValue(r: Json): string | undefined {
  return (
    quantity(r.valueQuantity) ??
    concept(r.valueCodeableConcept) ??
    str(r.valueString) ??
    str(r.valueBoolean) ??
    str(r.valueInteger) ??
    (obj(r.valueRange) === undefined ? undefined : `${quantity(obj(r.valueRange)?.low) ?? '?'} – ${quantity(obj(r.valueRange)?.high) ?? '?'}`) ??
    arr(r.component)
      .map((c) => [concept(obj(c)?.code), quantity(obj(c)?.valueQuantity)].filter(Boolean).join(': '))
      .filter(Boolean)
      .join('; ') ??
    undefined
  )
}

export interface ReadableRecord {
  kind: string
  title: string
  /** [label, value] pairs; undefined value: absent (not recorded, or not shared with this reader). */
  details: [string, string | undefined][]
}

const KIND: Record<string, string> = {
  Condition: 'Condition',
  Observation: 'Observation',
  MedicationRequest: 'Medication',
  Immunization: 'Immunization',
  DocumentReference: 'Document',
  Encounter: 'Visit',
  Patient: 'Patient details',
}

export function readable(res: FhirResource): ReadableRecord {
  const r = res as Json
  const kind = KIND[res.resourceType] ?? res.resourceType
  switch (res.resourceType) {
    case 'Condition':
      return {
        kind,
        title: concept(r.code) ?? 'Condition',
        details: [
          ['Status', concept(r.clinicalStatus)],
          ['Since', when(r.onsetDateTime) ?? str(r.onsetString)],
          ['Recorded', when(r.recordedDate)],
        ],
      }
    case 'Observation':
      return {
        kind,
        title: concept(r.code) ?? 'Observation',
        details: [
          ['Value', observationValue(r) || undefined],
          ['Date', when(r.effectiveDateTime) ?? when(obj(r.effectivePeriod)?.start) ?? when(r.issued)],
          ['Status', str(r.status)],
        ],
      }
    case 'MedicationRequest':
      return {
        kind,
        title: concept(r.medicationCodeableConcept) ?? 'Medication',
        details: [
          ['How to take it', str(obj(arr(r.dosageInstruction)[0])?.text)],
          ['Prescribed', when(r.authoredOn)],
          ['Status', str(r.status)],
        ],
      }
    case 'Immunization':
      return {
        kind,
        title: concept(r.vaccineCode) ?? 'Immunization',
        details: [
          ['Given', when(r.occurrenceDateTime) ?? str(r.occurrenceString)],
          ['Status', str(r.status)],
          ['Dose', quantity(r.doseQuantity)],
        ],
      }
    case 'DocumentReference': {
      const att = obj(obj(arr(r.content)[0])?.attachment)
      return {
        kind,
        title: str(r.description) ?? concept(r.type) ?? str(att?.title) ?? 'Document',
        details: [
          ['Type', concept(r.type)],
          ['Date', when(r.date)],
          ['File', str(att?.title) ?? str(att?.contentType)],
        ],
      }
    }
    case 'Encounter':
      return {
        kind,
        title: concept(arr(r.type)[0]) ?? 'Visit',
        details: [
          ['From', when(obj(r.period)?.start)],
          ['To', when(obj(r.period)?.end)],
          ['Status', str(r.status)],
        ],
      }
    case 'Patient': {
      const name = obj(arr(r.name)[0])
      const full = name === undefined ? undefined : (str(name.text) ?? [...arr(name.given).map(str), str(name.family)].filter(Boolean).join(' '))
      return {
        kind,
        title: full || 'Patient',
        details: [
          ['Born', str(r.birthDate)],
          ['Gender', str(r.gender)],
        ],
      }
    }
    default:
      return { kind, title: res.resourceType, details: Object.keys(r).filter((k) => k !== 'resourceType' && k !== 'id').map((k) => [k, str(r[k]) ?? JSON.stringify(r[k])]) }
  }
}

/** One record as a card: title, then the details it has as a description list. */
export function RecordCard({ resource }: { resource: FhirResource }) {
  const rec = readable(resource)
  const details = rec.details.filter((d): d is [string, string] => d[1] !== undefined)
  return (
    <article class="card" aria-label={`${rec.kind}: ${rec.title}`}>
      <h4>
        <span class="muted">{rec.kind}: </span>
        {rec.title}
      </h4>
      <dl>
        {details.map(([label, value]) => (
          <div key={label} class="row">
            <dt>{label}:</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </article>
  )
}
