import { RESOURCE_TYPES, type ResourceType } from '../../contracts/client/index.ts'
import type { FhirResource } from '../types.ts'
import { csvEntries, type ImportEntry } from './csv-resources.ts'
import { FHIR_ID_RE, checkJson, invalid, isPlainObject, parseFhirDate, patientIdOfReference } from './fhir.ts'
import type { CheckedMapping, CheckedResource, ColumnKind } from './postgres-catalog.ts'
import { stepsText, type ElementMapping } from './postgres-mapping.ts'
import { patientElement } from './postgres-sql.ts'

/**
 * Import into a provider's mapped tables: a FHIR resource becomes the values of its table's
 * mapped columns (the reverse of reading). What the mapping has no column for cannot be stored;
 * it is reported per element path (`unmapped`), never dropped unseen. A value the mapping holds
 * as a constant must equal it, and a value of the wrong JSON type for its column is refused.
 */

export type { ImportEntry }

export interface RowWrite {
  mapping: CheckedResource
  id: string
  patientId: string
  /** Column → value (null: SQL NULL), the id and patient key columns included. */
  values: Map<string, unknown>
}

function getAt(resource: Record<string, unknown>, steps: ElementMapping['steps']): unknown {
  let cur: unknown = resource
  for (const s of steps) {
    if (!isPlainObject(cur)) return undefined
    cur = cur[s.name]
    if (s.index !== undefined) cur = Array.isArray(cur) ? (cur as unknown[])[s.index] : undefined
  }
  return cur
}

/** Every leaf path of a resource (`code.coding[0].display`), for what the mapping does not hold. */
function leafPaths(v: unknown, prefix: string, out: string[]): void {
  if (Array.isArray(v)) v.forEach((x, i) => leafPaths(x, `${prefix}[${i}]`, out))
  else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) leafPaths(x, prefix === '' ? k : `${prefix}.${k}`, out)
  else if (v !== undefined && v !== null) out.push(prefix)
}

function checkValue(kind: ColumnKind, v: unknown, where: string): unknown {
  if (v === undefined || v === null) return null
  const wrong = (want: string) => invalid(`${where} is ${JSON.stringify(v).slice(0, 60)}, but its column holds ${want}`)
  switch (kind) {
    case 'text':
      if (typeof v !== 'string') wrong('text')
      // PostgreSQL text cannot hold NUL; refused here rather than as a driver error.
      if ((v as string).includes('\u0000')) invalid(`${where} contains a NUL character, which PostgreSQL text cannot store`)
      return v
    case 'number':
      if (typeof v !== 'number') wrong('numbers')
      return v
    case 'boolean':
      if (typeof v !== 'boolean') wrong('true or false')
      return v
    default:
      if (typeof v !== 'string' || parseFhirDate(v) === undefined) wrong(kind === 'date' ? 'dates (YYYY-MM-DD)' : 'FHIR dateTimes')
      // A date column takes only a full date; a dateTime into it would lose its time silently.
      if (kind === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(v as string)) invalid(`${where} is ${JSON.stringify(v)}, but its column holds dates (YYYY-MM-DD) only`)
      return v
  }
}

/** The patient a clinical resource names (subject, or patient for Immunization). */
function patientOf(r: FhirResource, type: ResourceType): string {
  const key = patientElement(type)!
  const ref = r[key]
  const reference = isPlainObject(ref) ? ref.reference : undefined
  if (typeof reference !== 'string') invalid(`${type} names no patient: set ${key}.reference to "Patient/<id>"`)
  const id = patientIdOfReference(reference)
  if (id === undefined) invalid(`${type} references ${JSON.stringify(reference.slice(0, 80))}; the patient reference must be "Patient/<id>" with a FHIR id`)
  return id
}

/** A resource as the row of its mapped table; `unmapped` collects what no column holds. */
export function rowOfResource(mapping: CheckedMapping, file: string, input: unknown, unmapped: Record<string, number>): RowWrite {
  if (!isPlainObject(input)) invalid('a resource must be a FHIR resource object such as {"resourceType":"Observation","id":"bp-1",...}')
  const type = input.resourceType
  if (typeof type !== 'string' || !(RESOURCE_TYPES as readonly string[]).includes(type)) invalid(`resourceType ${JSON.stringify(type)} is not one MedRec serves; supported: ${RESOURCE_TYPES.join(', ')}`)
  const m = mapping[type as ResourceType]
  if (m === undefined) invalid(`${type} has no table in the record mapping ${file}; add a resources.${type} entry or leave these records out`)
  const id = input.id
  if (typeof id !== 'string' || !FHIR_ID_RE.test(id)) invalid(`${type}.id must be a FHIR id (letters, digits, '-' and '.', 1 to 64 characters), got ${JSON.stringify(typeof id === 'string' ? id.slice(0, 80) : id)}`)
  checkJson(input, type)
  const resource = input as FhirResource
  const patientId = type === 'Patient' ? id : patientOf(resource, type as ResourceType)
  const values = new Map<string, unknown>([[m.id, id]])
  const set = (column: string, v: unknown, where: string) => {
    if (values.has(column) && values.get(column) !== v && !(values.get(column) === null && v === null)) {
      invalid(`${where} and another element are both stored in column ${column} of ${m.table} but differ; make them agree or map them to separate columns`)
    }
    values.set(column, v)
  }
  set(m.patient, patientId, `${type} patient`)
  for (const e of m.elements) {
    const v = getAt(resource, e.steps)
    const where = `${type}.${e.path}`
    if (e.source.kind === 'constant') {
      if (v !== undefined && v !== null && v !== e.source.value) {
        invalid(`${where} is ${JSON.stringify(v).slice(0, 80)}, but the mapping stores ${m.table} with the constant ${JSON.stringify(e.source.value)} there; import it into a table that holds it, or extend the mapping`)
      }
      continue
    }
    set(e.source.column, checkValue(m.kinds.get(e.source.column)!, v, where), where)
  }
  const mapped = new Set(m.elements.map((e) => stepsText(e.steps)))
  const ref = patientElement(type as ResourceType)
  const leaves: string[] = []
  leafPaths(resource, '', leaves)
  for (const path of leaves) {
    if (path === 'resourceType' || path === 'id' || (ref !== undefined && path === `${ref}.reference`) || mapped.has(path)) continue
    const key = `${type}.${path.replace(/\[\d+\]/g, '[]')}`
    unmapped[key] = (unmapped[key] ?? 0) + 1
  }
  return { mapping: m, id, patientId, values }
}

/** The entries of a FHIR Bundle (collection, transaction or searchset), Patients first, urn:uuid patient references resolved. */
export function bundleEntries(bundle: unknown): ImportEntry[] {
  if (!isPlainObject(bundle) || bundle.resourceType !== 'Bundle') invalid('expected a FHIR Bundle: an object with "resourceType": "Bundle"')
  const type = bundle.type
  if (type !== 'collection' && type !== 'transaction' && type !== 'searchset') invalid(`Bundle.type ${JSON.stringify(type)} is not importable; use collection, transaction or searchset (imports are all or nothing)`)
  const raw = bundle.entry ?? []
  if (!Array.isArray(raw)) invalid('Bundle.entry must be an array')
  const byFullUrl = new Map<string, string>()
  const entries: ImportEntry[] = raw.map((entry: unknown, index: number) => {
    const at = `bundle entry ${index}`
    const context = { entry: index }
    if (!isPlainObject(entry) || !isPlainObject(entry.resource)) invalid(`${at} has no resource object; nothing was imported`, context)
    if (type === 'transaction') {
      const method = isPlainObject(entry.request) ? entry.request.method : undefined
      if (method !== 'POST' && method !== 'PUT') invalid(`${at}: transaction entries must be POST or PUT, got ${JSON.stringify(method)}; nothing was imported`, context)
    }
    const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl : undefined
    let resource = entry.resource as FhirResource
    if (resource.id === undefined && fullUrl?.startsWith('urn:uuid:') === true) resource = { ...resource, id: fullUrl.slice('urn:uuid:'.length) }
    const rt = String(resource.resourceType)
    if (fullUrl !== undefined && typeof resource.id === 'string') byFullUrl.set(fullUrl, `${rt}/${resource.id}`)
    return { where: `${at} (${rt}/${typeof resource.id === 'string' ? resource.id.slice(0, 64) : '?'})`, resource, context }
  })
  for (const e of entries) {
    for (const key of ['subject', 'patient']) {
      const ref = e.resource[key]
      if (e.resource.resourceType === 'Patient' || !isPlainObject(ref) || typeof ref.reference !== 'string') continue
      const target = byFullUrl.get(ref.reference)
      if (target === undefined) continue
      if (!target.startsWith('Patient/')) invalid(`${e.where}: ${key} refers to ${target}, not to a Patient; nothing was imported`, e.context)
      e.resource = { ...e.resource, [key]: { ...ref, reference: target } }
    }
  }
  const seen = new Map<string, string>()
  for (const e of entries) {
    const key = `${String(e.resource.resourceType)}/${String(e.resource.id)}`
    const first = seen.get(key)
    if (first !== undefined) invalid(`${e.where} repeats ${key} (already in ${first}); nothing was imported`, e.context)
    seen.set(key, e.where)
  }
  return [...entries.filter((e) => e.resource.resourceType === 'Patient'), ...entries.filter((e) => e.resource.resourceType !== 'Patient')]
}

/** The rows of a CSV import (the SQLite store's columns, csv-resources.ts) as resources. */
export function csvImportEntries(resourceType: string, csvText: string): ImportEntry[] {
  if (!(RESOURCE_TYPES as readonly string[]).includes(resourceType)) invalid(`CSV import: resource type ${JSON.stringify(resourceType)} is not one MedRec serves; supported: ${RESOURCE_TYPES.join(', ')}`)
  return csvEntries(resourceType as ResourceType, csvText)
}
