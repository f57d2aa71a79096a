import { escapeIdentifier } from 'pg'
import { CODED_ELEMENT, type CodeSystem, type ResourceType } from '../../contracts/client/index.ts'
import type { AggregateCell, FhirResource } from '../types.ts'
import type { ColumnKind, CheckedResource } from './postgres-catalog.ts'
import type { ElementMapping } from './postgres-mapping.ts'

/**
 * SQL over a provider's mapped tables. The text of every statement is built only from names the
 * catalog check accepted, quoted with escapeIdentifier; every value (patient key, code system,
 * constant) is a bound parameter ($n). Reads are always scoped by the patient key column.
 */

export const q = escapeIdentifier

export const tableSql = (m: CheckedResource): string => `${q(m.schema)}.${q(m.table)}`
/** The column as text, so a patient key or id of any type compares with the string given. */
const asText = (m: CheckedResource, column: string): string => (m.kinds.get(column) === 'text' ? `t.${q(column)}` : `t.${q(column)}::text`)

/** Collects bound parameters, returning each one's placeholder. */
export class Params {
  readonly values: unknown[] = []
  add(v: unknown): string {
    this.values.push(v)
    return `$${this.values.length}`
  }
}

/** The condition that scopes a statement to one patient. */
export function patientScope(m: CheckedResource, params: Params, patientId: string): string {
  return `${asText(m, m.patient)} = ${params.add(patientId)}`
}

/** Groups of mapped elements under `<element>[j].coding[i]` (or `<element>.coding[i]`), in index order. */
function codingGroups(m: CheckedResource, element: string): ElementMapping[][] {
  const groups = new Map<string, { order: number[]; items: ElementMapping[] }>()
  for (const e of m.elements) {
    const [first, second] = e.steps
    if (first?.name !== element || second?.name !== 'coding' || second.index === undefined) continue
    const key = `${first.index ?? -1}/${second.index}`
    const g = groups.get(key) ?? { order: [first.index ?? 0, second.index], items: [] }
    g.items.push(e)
    groups.set(key, g)
  }
  return [...groups.values()].sort((a, b) => a.order[0]! - b.order[0]! || a.order[1]! - b.order[1]!).map((g) => g.items)
}

function leafNamed(items: readonly ElementMapping[], name: string, depth: number): ElementMapping | undefined {
  return items.find((e) => e.steps.length === depth + 1 && e.steps[depth]!.name === name)
}

function valueExpr(e: ElementMapping | undefined, params: Params): string {
  if (e === undefined) return 'NULL'
  return e.source.kind === 'column' ? `t.${q(e.source.column)}` : `${params.add(e.source.value)}::text`
}

/**
 * The `codeSystems` filter: a record matches when one of its codings of the coded element has a
 * system in the list. A coding exists when one of its column-mapped members is not null (as a
 * resource is assembled); its system is a column or a constant, compared as a bound parameter.
 * A type with no coding mapped matches nothing, as in the SQLite store.
 */
export function codeSystemFilter(m: CheckedResource, params: Params, codeSystems: readonly CodeSystem[] | undefined): string | undefined {
  if (codeSystems === undefined || codeSystems.length === 0) return undefined
  const element = CODED_ELEMENT[m.resourceType]
  if (element === undefined) return 'FALSE'
  const systems = params.add([...codeSystems])
  const conditions = codingGroups(m, element).flatMap((items) => {
    const columns = items.filter((e) => e.source.kind === 'column').map((e) => `t.${q((e.source as { column: string }).column)} IS NOT NULL`)
    if (columns.length === 0) return []
    const system = leafNamed(items, 'system', 2)
    if (system === undefined) return []
    return [`(${valueExpr(system, params)}::text = ANY(${systems}::text[]) AND (${columns.join(' OR ')}))`]
  })
  return conditions.length === 0 ? 'FALSE' : `(${conditions.join(' OR ')})`
}

/** The columns a read selects, each as JSON (to_jsonb gives dates, numbers and booleans their JSON form). */
export function selectList(m: CheckedResource): { sql: string; columns: string[] } {
  const columns = [...new Set([m.id, m.patient, ...m.elements.flatMap((e) => (e.source.kind === 'column' ? [e.source.column] : []))])]
  return { sql: columns.map((c, i) => `to_jsonb(t.${q(c)}) AS c${i}`).join(', '), columns }
}

export function orderById(m: CheckedResource): string {
  return `ORDER BY ${asText(m, m.id)} COLLATE "C"`
}

/** A column's JSON value as the FHIR element's: instants in UTC with Z, numbers as numbers. */
function fhirValue(kind: ColumnKind | undefined, v: unknown): unknown {
  if (v === null || v === undefined) return undefined
  if (kind === 'timestamptz' && typeof v === 'string') return v.replace(/\+00:00$/, 'Z')
  // A timestamp without time zone is read as UTC (documented in the mapping's notes).
  if (kind === 'timestamp' && typeof v === 'string') return `${v}Z`
  return v
}

interface Leaf {
  steps: ElementMapping['steps']
  value: unknown
  fromColumn: boolean
}

/** Builds the object of `leaves` (paths relative to it); undefined when no member came from a column. */
function assemble(leaves: readonly Leaf[]): { value: unknown; fromColumn: boolean } | undefined {
  if (leaves.length === 1 && leaves[0]!.steps.length === 0) return { value: leaves[0]!.value, fromColumn: leaves[0]!.fromColumn }
  const byName = new Map<string, Leaf[]>()
  for (const l of leaves) {
    if (l.steps.length === 0) continue
    const name = l.steps[0]!.name
    byName.set(name, [...(byName.get(name) ?? []), l])
  }
  const out: Record<string, unknown> = {}
  let fromColumn = false
  for (const [name, group] of byName) {
    if (group[0]!.steps[0]!.index === undefined) {
      const sub = assemble(group.map((l) => ({ ...l, steps: l.steps.slice(1) })))
      if (sub === undefined) continue
      out[name] = sub.value
      fromColumn ||= sub.fromColumn
      continue
    }
    const byIndex = new Map<number, Leaf[]>()
    for (const l of group) byIndex.set(l.steps[0]!.index!, [...(byIndex.get(l.steps[0]!.index!) ?? []), { ...l, steps: l.steps.slice(1) }])
    const items = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, ls]) => {
      const sub = assemble(ls)
      return sub === undefined ? [] : [sub]
    })
    if (items.length === 0) continue
    out[name] = items.map((i) => i.value)
    fromColumn ||= items.some((i) => i.fromColumn)
  }
  // An object of constants only is left out: a constant system with no code is no coding.
  return fromColumn ? { value: out, fromColumn } : undefined
}

/** The reference element of a clinical resource that names its patient. */
export function patientElement(type: ResourceType): 'subject' | 'patient' | undefined {
  return type === 'Patient' ? undefined : type === 'Immunization' ? 'patient' : 'subject'
}

/** One selected row (columns c0… as `selectList` named them) as the FHIR resource. */
export function resourceOfRow(m: CheckedResource, columns: readonly string[], row: Record<string, unknown>): FhirResource {
  const valueOf = (column: string) => fhirValue(m.kinds.get(column), row[`c${columns.indexOf(column)}`])
  const leaves: Leaf[] = []
  for (const e of m.elements) {
    if (e.source.kind === 'constant') leaves.push({ steps: e.steps, value: e.source.value, fromColumn: false })
    else {
      const v = valueOf(e.source.column)
      if (v !== undefined) leaves.push({ steps: e.steps, value: v, fromColumn: true })
    }
  }
  const body = (assemble(leaves)?.value ?? {}) as Record<string, unknown>
  const id = String(valueOf(m.id))
  const ref = patientElement(m.resourceType)
  return { resourceType: m.resourceType, id, ...body, ...(ref === undefined ? {} : { [ref]: { reference: `Patient/${String(valueOf(m.patient))}` } }) }
}

// ---- aggregates ----

/** How a BountyQuery groupBy or numeric field (the names schema.ts accepts) reads a mapped table. */
type FieldRead = { codes: string } | { path: string; fallback?: string } | { year: string }

const GROUP_READS: Record<ResourceType, Record<string, FieldRead>> = {
  Patient: { gender: { path: 'gender' }, birthYear: { year: 'birthDate' }, active: { path: 'active' } },
  Observation: {
    code: { codes: 'code' },
    status: { path: 'status' },
    category: { codes: 'category' },
    unit: { path: 'valueQuantity.unit', fallback: 'valueQuantity.code' },
    'valueQuantity.unit': { path: 'valueQuantity.unit', fallback: 'valueQuantity.code' },
    'valueQuantity.code': { path: 'valueQuantity.code', fallback: 'valueQuantity.unit' },
  },
  Condition: { code: { codes: 'code' }, clinicalStatus: { codes: 'clinicalStatus' }, verificationStatus: { codes: 'verificationStatus' }, category: { codes: 'category' } },
  Encounter: { status: { path: 'status' }, class: { path: 'class.code' }, type: { codes: 'type' } },
  MedicationRequest: { status: { path: 'status' }, intent: { path: 'intent' }, code: { codes: 'medicationCodeableConcept' }, medicationCodeableConcept: { codes: 'medicationCodeableConcept' } },
  Immunization: { vaccineCode: { codes: 'vaccineCode' }, status: { path: 'status' } },
  DocumentReference: { type: { codes: 'type' }, category: { codes: 'category' }, status: { path: 'status' } },
}

const NUMERIC_READS: Record<ResourceType, Record<string, FieldRead>> = {
  Patient: { birthYear: { year: 'birthDate' } },
  Observation: {
    value: { path: 'valueQuantity.value', fallback: 'valueInteger' },
    valueQuantity: { path: 'valueQuantity.value', fallback: 'valueInteger' },
    'valueQuantity.value': { path: 'valueQuantity.value', fallback: 'valueInteger' },
    valueInteger: { path: 'valueQuantity.value', fallback: 'valueInteger' },
  },
  Condition: {},
  Encounter: {},
  MedicationRequest: {},
  Immunization: {},
  DocumentReference: {},
}

function elementAt(m: CheckedResource, path: string): ElementMapping | undefined {
  return m.elements.find((e) => e.path === path)
}

/** A field's SQL expression over `t` (text unless `numeric`). */
function fieldExpr(m: CheckedResource, read: FieldRead, params: Params, numeric: boolean): string {
  if ('year' in read) {
    const e = elementAt(m, read.year)
    return e === undefined ? 'NULL::integer' : `CAST(left(${valueExpr(e, params)}::text, 4) AS integer)`
  }
  const cast = numeric ? '::float8' : '::text'
  if ('codes' in read) {
    // The first coding present, as the SQLite store keeps the first coding's code.
    const codes = codingGroups(m, read.codes).map((items) => leafNamed(items, 'code', 2)).filter((e): e is ElementMapping => e !== undefined)
    return codes.length === 0 ? `NULL${cast}` : `COALESCE(${codes.map((e) => `${valueExpr(e, params)}${cast}`).join(', ')})`
  }
  const exprs = [read.path, read.fallback].flatMap((p) => {
    const e = p === undefined ? undefined : elementAt(m, p)
    return e === undefined ? [] : [`${valueExpr(e, params)}${cast}`]
  })
  return exprs.length === 0 ? `NULL${cast}` : exprs.length === 1 ? exprs[0]! : `COALESCE(${exprs.join(', ')})`
}

export function groupRead(type: ResourceType, field: string): FieldRead | undefined {
  return Object.hasOwn(GROUP_READS[type], field) ? GROUP_READS[type][field] : undefined
}

export function numericRead(type: ResourceType, field: string): FieldRead | undefined {
  return Object.hasOwn(NUMERIC_READS[type], field) ? NUMERIC_READS[type][field] : undefined
}

export type GroupKind = 'text' | 'integer' | 'boolean'

export function groupKind(field: string): GroupKind {
  return field === 'birthYear' ? 'integer' : field === 'active' ? 'boolean' : 'text'
}

export interface PgAggregatePlan {
  sql: string
  params: unknown[]
  cell(row: Record<string, unknown>): AggregateCell
  cohort(row: Record<string, unknown>): string[]
}

const SQL_AGGREGATE = { count: 'COUNT', sum: 'SUM', mean: 'AVG', min: 'MIN', max: 'MAX' } as const

/** One statement over all patients of a mapped table: groups, distinct patients, records, the value. */
export function aggregateSql(
  m: CheckedResource,
  q: { aggregate: keyof typeof SQL_AGGREGATE; field?: string; groupBy: readonly string[]; codeSystems?: readonly CodeSystem[] },
  withCohorts: boolean,
): PgAggregatePlan {
  const params = new Params()
  const groups = q.groupBy.map((field, i) => {
    const kind = groupKind(field)
    const expr = fieldExpr(m, groupRead(m.resourceType, field)!, params, false)
    const typed = kind === 'boolean' ? `(${expr})::boolean` : kind === 'integer' ? expr : `(${expr}) COLLATE "C"`
    return { field, kind, sql: `${typed} AS g${i}` }
  })
  const value = q.field === undefined ? 'COUNT(*)' : `${SQL_AGGREGATE[q.aggregate]}(${fieldExpr(m, numericRead(m.resourceType, q.field)!, params, true)})`
  const filter = codeSystemFilter(m, params, q.codeSystems)
  const names = groups.map((_g, i) => `g${i}`)
  const sql = [
    `SELECT ${[...groups.map((g) => g.sql), `COUNT(DISTINCT ${asText(m, m.patient)}) AS patients`, 'COUNT(*) AS records', `${value} AS value`, ...(withCohorts ? [`array_agg(DISTINCT ${asText(m, m.patient)}) AS cohort`] : [])].join(', ')}`,
    `FROM ${tableSql(m)} t`,
    filter === undefined ? '' : `WHERE ${filter}`,
    names.length > 0 ? `GROUP BY ${names.join(', ')} ORDER BY ${names.map((n) => `${n} NULLS FIRST`).join(', ')}` : '',
  ].join(' ')
  return {
    sql,
    params: params.values,
    cell(row) {
      const group: AggregateCell['group'] = {}
      groups.forEach((g, i) => {
        const v = row[`g${i}`]
        group[g.field] = v === null || v === undefined ? null : g.kind === 'integer' ? Number(v) : g.kind === 'boolean' ? Boolean(v) : String(v)
      })
      const v = row.value
      return { group, patients: Number(row.patients), records: Number(row.records), value: v === null || v === undefined ? null : Number(v) }
    },
    cohort(row) {
      return Array.isArray(row.cohort) ? row.cohort.filter((id): id is string => typeof id === 'string') : []
    },
  }
}
