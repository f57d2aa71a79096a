import { RESOURCE_TYPES, type ResourceType } from '../../contracts/client/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'
import { isPlainObject } from './fhir.ts'

/**
 * The mapping file of a PostgreSQL record source: which of the provider's existing tables holds
 * each FHIR resource type, and which column (or constant) each FHIR element comes from.
 *
 *   { "resources": { "Observation": {
 *       "schema": "public",                      optional, default "public"
 *       "table": "lab_results",
 *       "id": "result_id",                       the column that is Observation.id
 *       "patient": "mrn",                        the patient key column: subject is "Patient/" + mrn
 *       "elements": {
 *         "status": { "column": "status" },
 *         "code.coding[0].system": { "constant": "http://loinc.org" },
 *         "code.coding[0].code": { "column": "loinc" },
 *         "valueQuantity.value": { "column": "value" } } } } }
 *
 * `Patient` is required (its table says which patients exist; its `id` is the patient key the
 * other tables' `patient` columns hold). Element paths are FHIR element names with array indexes
 * (`category[0].coding[0].code`); an object whose members would all be constants is left out of
 * a resource (a constant system without a code is not a coding). This module checks the file's
 * shape; postgres-catalog.ts checks the names against the live database.
 */

export type ElementSource = { kind: 'column'; column: string } | { kind: 'constant'; value: string | number | boolean }

export interface ElementMapping {
  /** The FHIR path as written in the file. */
  path: string
  /** Parsed: each step's name and, for an array element, its index. */
  steps: { name: string; index?: number }[]
  source: ElementSource
}

export interface ResourceMapping {
  resourceType: ResourceType
  schema: string
  table: string
  id: string
  patient: string
  elements: ElementMapping[]
  /** `resources.<type>` in messages. */
  where: string
}

export interface RecordMapping {
  /** The file it came from, for messages. */
  file: string
  resources: Partial<Record<ResourceType, ResourceMapping>>
}

const STEP_RE = /^([a-z][A-Za-z0-9]*)(?:\[(\d{1,3})\])?$/
/** Elements the source writes itself: the id, the type, and the patient reference. */
const RESERVED_ROOTS = new Set(['id', 'resourceType', 'subject', 'patient', 'meta', 'contained', 'extension', 'modifierExtension'])
/** A PostgreSQL identifier as the catalog lists it: checked against it before use, quoted always. */
const IDENT_MAX = 63

export function mappingError(file: string, where: string, message: string): never {
  throw new GatekeeperError(GatekeeperErrorCode.INTERNAL, `record mapping ${file}: ${where}: ${message}`, { file, where })
}

function identifier(file: string, where: string, v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '' || v.length > IDENT_MAX || v.includes('\u0000')) {
    mappingError(file, where, `${what} must be a table or column name (1 to ${IDENT_MAX} characters), got ${JSON.stringify(v)}`)
  }
  return v
}

export function parseElementPath(path: string): { name: string; index?: number }[] | undefined {
  const steps: { name: string; index?: number }[] = []
  for (const part of path.split('.')) {
    const m = STEP_RE.exec(part)
    if (m === null) return undefined
    steps.push(m[2] === undefined ? { name: m[1]! } : { name: m[1]!, index: Number(m[2]) })
  }
  return steps
}

/** `code.coding[0]` for the first two steps of `code.coding[0].code`. */
export function stepsText(steps: readonly { name: string; index?: number }[]): string {
  return steps.map((s) => (s.index === undefined ? s.name : `${s.name}[${s.index}]`)).join('.')
}

function parseElements(file: string, where: string, raw: unknown): ElementMapping[] {
  if (!isPlainObject(raw)) mappingError(file, where, 'elements must be an object of FHIR path → { "column": … } or { "constant": … }')
  const out: ElementMapping[] = []
  for (const [path, spec] of Object.entries(raw)) {
    const at = `${where}.elements[${JSON.stringify(path)}]`
    const steps = parseElementPath(path)
    if (steps === undefined) mappingError(file, at, 'is not a FHIR element path such as "code.coding[0].code" (names start lower-case; indexes in brackets)')
    if (RESERVED_ROOTS.has(steps[0]!.name)) mappingError(file, at, `${steps[0]!.name} is written by the record source itself (id and the patient reference come from "id" and "patient"); remove the entry`)
    if (!isPlainObject(spec)) mappingError(file, at, 'must be { "column": "<name>" } or { "constant": <string, number or boolean> }')
    const keys = Object.keys(spec)
    if (keys.length !== 1 || (keys[0] !== 'column' && keys[0] !== 'constant')) mappingError(file, at, `must have exactly one of "column" or "constant", got ${JSON.stringify(keys)}`)
    let source: ElementSource
    if (keys[0] === 'column') source = { kind: 'column', column: identifier(file, at, spec.column, 'column') }
    else {
      const v = spec.constant
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') mappingError(file, at, 'a constant is a string, number or boolean')
      source = { kind: 'constant', value: v }
    }
    out.push({ path, steps, source })
  }
  checkShape(file, where, out)
  return out
}

/** Paths must form one tree: no element both a value and an object, no name both an array and not. */
function checkShape(file: string, where: string, elements: readonly ElementMapping[]): void {
  const leaves = new Map<string, string>()
  const arrays = new Map<string, boolean>()
  for (const e of elements) {
    const key = stepsText(e.steps)
    const prefixes = e.steps.map((_s, i) => stepsText(e.steps.slice(0, i + 1)))
    for (const p of prefixes.slice(0, -1)) {
      if (leaves.has(p)) mappingError(file, `${where}.elements`, `"${leaves.get(p)}" is a value, so "${e.path}" cannot be inside it`)
    }
    for (const l of leaves.keys()) if (l.startsWith(`${key}.`) || l.startsWith(`${key}[`)) mappingError(file, `${where}.elements`, `"${e.path}" is a value, so "${leaves.get(l)}" cannot be inside it`)
    e.steps.forEach((s, i) => {
      const at = [...e.steps.slice(0, i).map((x) => stepsText([x])), s.name].join('.')
      const isArray = s.index !== undefined
      const seen = arrays.get(at)
      if (seen !== undefined && seen !== isArray) mappingError(file, `${where}.elements`, `"${at}" is used both with and without an array index (in "${e.path}"); FHIR fixes which elements repeat`)
      arrays.set(at, isArray)
    })
    if (leaves.has(key)) mappingError(file, `${where}.elements`, `"${e.path}" is mapped twice`)
    leaves.set(key, e.path)
  }
}

/** Parses and shape-checks a mapping (the JSON text of `file`). */
export function parseRecordMapping(file: string, text: string): RecordMapping {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    mappingError(file, 'the file', `is not JSON (${err instanceof Error ? err.message : String(err)}); see gatekeeper/db/postgres-example-mapping.json`)
  }
  if (!isPlainObject(json) || !isPlainObject(json.resources)) mappingError(file, 'the file', 'must be an object with "resources": { "<FHIR resource type>": { "table", "id", "patient", "elements" } }')
  for (const k of Object.keys(json)) if (k !== 'resources' && !k.startsWith('$')) mappingError(file, k, 'is not a mapping key; the file has "resources" (and "$comment"-style keys)')
  const resources: Partial<Record<ResourceType, ResourceMapping>> = {}
  for (const [type, raw] of Object.entries(json.resources)) {
    const where = `resources.${type}`
    if (!(RESOURCE_TYPES as readonly string[]).includes(type)) mappingError(file, where, `is not a resource type MedRec serves; use one of ${RESOURCE_TYPES.join(', ')}`)
    if (!isPlainObject(raw)) mappingError(file, where, 'must be an object with "table", "id", "patient" and "elements"')
    for (const k of Object.keys(raw)) {
      if (!['schema', 'table', 'id', 'patient', 'elements'].includes(k) && !k.startsWith('$')) mappingError(file, `${where}.${k}`, 'is not a mapping key; use schema, table, id, patient, elements')
    }
    resources[type as ResourceType] = {
      resourceType: type as ResourceType,
      schema: raw.schema === undefined ? 'public' : identifier(file, `${where}.schema`, raw.schema, 'schema'),
      table: identifier(file, `${where}.table`, raw.table, 'table'),
      id: identifier(file, `${where}.id`, raw.id, 'id (the column holding the resource id)'),
      patient: identifier(file, `${where}.patient`, raw.patient, 'patient (the column holding the patient key)'),
      elements: parseElements(file, where, raw.elements ?? {}),
      where,
    }
  }
  const patient = resources.Patient
  if (patient === undefined) mappingError(file, 'resources.Patient', 'is required: it names the table of patients (the other tables hold its key)')
  if (patient.id !== patient.patient) mappingError(file, 'resources.Patient', `"id" and "patient" must be the same column for Patient (got ${patient.id} and ${patient.patient})`)
  return { file, resources }
}
