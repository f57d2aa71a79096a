import type { FhirResource } from '../types.ts'

/**
 * A record projected to the fields a reader may read can lack elements FHIR requires
 * (Observation.status, Condition.subject, ...). Each is put back as the data-absent-reason
 * extension with `masked` (R4's code for "information withheld for privacy"): a complex element
 * as `{ extension: [...] }`, a primitive in its `_element` form; and a resource missing anything
 * it held is labelled REDACTED (HL7 v3 ObservationValue) in `meta.security`, so a client knows
 * what it holds is partial.
 */

export const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason'
export const REDACTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' } as const

const masked = () => ({ extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] })

/**
 * Required elements (min ≥ 1 in R4) of the resource types the store holds, and of the backbone
 * elements and data types within them a pointer's field may reach: [parent path ('' for the
 * resource), element, kind, the element written when absent (a choice type's first option)].
 * A choice is present when any of its options is.
 */
type Kind = 'primitive' | 'complex' | 'list'
type Rule = readonly [parent: string, element: string, kind: Kind, options?: readonly string[]]

const NOTE: Rule = ['note', 'text', 'primitive']
const REQUIRED: Readonly<Record<string, readonly Rule[]>> = {
  Patient: [
    ['communication', 'language', 'complex'],
    ['link', 'other', 'complex'],
    ['link', 'type', 'primitive'],
  ],
  Encounter: [
    ['', 'status', 'primitive'],
    ['', 'class', 'complex'],
    ['statusHistory', 'status', 'primitive'],
    ['statusHistory', 'period', 'complex'],
    ['classHistory', 'class', 'complex'],
    ['classHistory', 'period', 'complex'],
    ['diagnosis', 'condition', 'complex'],
    ['location', 'location', 'complex'],
  ],
  Observation: [['', 'status', 'primitive'], ['', 'code', 'complex'], ['component', 'code', 'complex'], NOTE],
  Condition: [['', 'subject', 'complex'], NOTE],
  MedicationRequest: [
    ['', 'status', 'primitive'],
    ['', 'intent', 'primitive'],
    ['', 'medication', 'complex', ['medicationCodeableConcept', 'medicationReference']],
    ['', 'subject', 'complex'],
    ['substitution', 'allowed', 'primitive', ['allowedBoolean', 'allowedCodeableConcept']],
    NOTE,
  ],
  Immunization: [
    ['', 'status', 'primitive'],
    ['', 'vaccineCode', 'complex'],
    ['', 'patient', 'complex'],
    ['', 'occurrence', 'primitive', ['occurrenceDateTime', 'occurrenceString']],
    ['performer', 'actor', 'complex'],
    ['protocolApplied', 'doseNumber', 'primitive', ['doseNumberPositiveInt', 'doseNumberString']],
    NOTE,
  ],
  DocumentReference: [
    ['', 'status', 'primitive'],
    ['', 'content', 'list'],
    ['content', 'attachment', 'complex'],
    ['relatesTo', 'code', 'primitive'],
    ['relatesTo', 'target', 'complex'],
  ],
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** Objects at `path` (each element of an array on the way); the resource itself for ''. */
function parents(resource: Record<string, unknown>, path: string): Record<string, unknown>[] {
  let current: Record<string, unknown>[] = [resource]
  if (path === '') return current
  for (const segment of path.split('.')) {
    const next: Record<string, unknown>[] = []
    for (const o of current) {
      const v = Object.hasOwn(o, segment) ? o[segment] : undefined
      if (Array.isArray(v)) next.push(...v.filter(isObject))
      else if (isObject(v)) next.push(v)
    }
    current = next
  }
  return current
}

function present(o: Record<string, unknown>, name: string): boolean {
  return (Object.hasOwn(o, name) && o[name] !== undefined && o[name] !== null) || Object.hasOwn(o, `_${name}`)
}

/** Puts back every required element the projection dropped, as masked. Returns whether it did. */
function fillRequired(resource: FhirResource): boolean {
  let filled = false
  for (const [parent, element, kind, options] of REQUIRED[resource.resourceType] ?? []) {
    for (const o of parents(resource, parent)) {
      const names = options ?? [element]
      if (names.some((n) => present(o, n))) continue
      const name = names[0]!
      if (kind === 'primitive') o[`_${name}`] = masked()
      else if (kind === 'list') o[name] = [masked()]
      else o[name] = masked()
      filled = true
    }
  }
  return filled
}

/** Whether `projected` (a projection of `original`) lacks anything `original` holds. */
export function lacksAnything(original: unknown, projected: unknown): boolean {
  if (Array.isArray(original)) {
    if (!Array.isArray(projected) || projected.length !== original.length) return true
    return original.some((v, i) => lacksAnything(v, projected[i]))
  }
  if (isObject(original)) {
    if (!isObject(projected)) return true
    for (const k of Object.keys(original)) {
      if (k === 'meta') continue
      if (!Object.hasOwn(projected, k) || lacksAnything(original[k], projected[k])) return true
    }
    return false
  }
  return projected === undefined
}

/**
 * The projected record made valid again: required elements masked, and REDACTED in
 * `meta.security` when anything of the stored record was withheld. Changes `projected` in place.
 */
export function maskWithheld(original: FhirResource, projected: FhirResource): FhirResource {
  const withheld = lacksAnything(original, projected)
  fillRequired(projected)
  if (withheld) {
    const meta = isObject(projected.meta) ? projected.meta : {}
    const security = Array.isArray(meta.security) ? meta.security : []
    if (!security.some((c) => isObject(c) && c.code === REDACTED.code && c.system === REDACTED.system)) security.push({ ...REDACTED })
    projected.meta = { ...meta, security }
  }
  return projected
}
