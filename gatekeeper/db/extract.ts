import type { ResourceType } from '../../contracts/client/index.ts'
import {
  MEDREC_IDENTITY_SYSTEM,
  codingTokens,
  conceptTokens,
  conceptsTokens,
  invalid,
  optBoolean,
  optDate,
  optNumber,
  optObject,
  optObjects,
  optPeriod,
  optString,
  type DateRange,
  type Token,
} from './fhir.ts'

/**
 * Turns a FHIR resource into the typed column values of its table and its search tokens.
 * The column names here are those of schema.ts; a wrong JSON type in an indexed element is
 * an import error naming the element (a silently empty column would hide the record from searches).
 */

export type ColumnValue = string | number | null

export interface SearchToken extends Token {
  /** The search parameter (`code`, `category`, ...). */
  param: string
}

export interface ExtractedRow {
  columns: Record<string, ColumnValue>
  tokens: SearchToken[]
  /** Patient only: the MedRec identity from identifier[system=urn:medrec:identity]. */
  identity?: string
}

type Extractor = (r: Record<string, unknown>, path: string) => ExtractedRow

function withParam(param: string, tokens: Token[]): SearchToken[] {
  return tokens.map((t) => ({ param, ...t }))
}

function rangeColumns(prefix: string, range: DateRange | undefined): Record<string, ColumnValue> {
  return { [`${prefix}_start`]: range?.start ?? null, [`${prefix}_end`]: range?.end ?? null }
}

/** At most one of the choice elements `[x]` may be present; returns its range. */
function choiceDate(r: Record<string, unknown>, path: string, dates: string[], periods: string[]): DateRange | undefined {
  const present = [...dates, ...periods].filter((k) => r[k] !== undefined && r[k] !== null)
  if (present.length > 1) invalid(`${path} has both ${present.join(' and ')}; a FHIR choice element takes one form`)
  for (const k of dates) if (present[0] === k) return optDate(r, k, path)
  for (const k of periods) if (present[0] === k) return optPeriod(r, k, path)
  return undefined
}

function identityOf(r: Record<string, unknown>, path: string): string | undefined {
  const values = optObjects(r, 'identifier', path)
    .map((id, i) => ({ system: optString(id, 'system', `${path}.identifier[${i}]`), value: optString(id, 'value', `${path}.identifier[${i}]`) }))
    .filter((id) => id.system === MEDREC_IDENTITY_SYSTEM)
  if (values.length === 0) return undefined
  const distinct = new Set(values.map((v) => v.value))
  if (distinct.size > 1) invalid(`${path} has ${distinct.size} different ${MEDREC_IDENTITY_SYSTEM} identifiers; a patient has one MedRec identity`)
  const value = values[0]!.value
  if (value === undefined || value === '') invalid(`${path}.identifier with system ${MEDREC_IDENTITY_SYSTEM} has no value`)
  return value
}

const EXTRACTORS: Record<ResourceType, Extractor> = {
  Patient(r, path) {
    const birth = optDate(r, 'birthDate', path)
    const active = optBoolean(r, 'active', path)
    const identity = identityOf(r, path)
    const columns = {
      gender: optString(r, 'gender', path) ?? null,
      birth_year: birth === undefined ? null : new Date(birth.start).getUTCFullYear(),
      active: active === undefined ? null : active ? 1 : 0,
    }
    return identity === undefined ? { columns, tokens: [] } : { columns, tokens: [], identity }
  },
  Observation(r, path) {
    const code = conceptTokens(optObject(r, 'code', path), `${path}.code`)
    const category = conceptsTokens(r, 'category', path)
    const quantity = optObject(r, 'valueQuantity', path)
    const qPath = `${path}.valueQuantity`
    const valueInteger = optNumber(r, 'valueInteger', path)
    if (quantity !== undefined && valueInteger !== undefined) invalid(`${path} has both valueQuantity and valueInteger; a FHIR choice element takes one form`)
    return {
      columns: {
        status: optString(r, 'status', path) ?? null,
        category: category[0]?.code ?? null,
        code_system: code[0]?.system ?? null,
        code: code[0]?.code ?? null,
        ...rangeColumns('effective', choiceDate(r, path, ['effectiveDateTime', 'effectiveInstant'], ['effectivePeriod'])),
        value_number: (quantity === undefined ? valueInteger : optNumber(quantity, 'value', qPath)) ?? null,
        unit: quantity === undefined ? null : (optString(quantity, 'unit', qPath) ?? optString(quantity, 'code', qPath) ?? null),
        unit_system: quantity === undefined ? null : (optString(quantity, 'system', qPath) ?? null),
        unit_code: quantity === undefined ? null : (optString(quantity, 'code', qPath) ?? optString(quantity, 'unit', qPath) ?? null),
      },
      tokens: [...withParam('code', code), ...withParam('category', category)],
    }
  },
  Condition(r, path) {
    const code = conceptTokens(optObject(r, 'code', path), `${path}.code`)
    const clinical = conceptTokens(optObject(r, 'clinicalStatus', path), `${path}.clinicalStatus`)
    const verification = conceptTokens(optObject(r, 'verificationStatus', path), `${path}.verificationStatus`)
    const category = conceptsTokens(r, 'category', path)
    return {
      columns: {
        clinical_status: clinical[0]?.code ?? null,
        verification_status: verification[0]?.code ?? null,
        category: category[0]?.code ?? null,
        code_system: code[0]?.system ?? null,
        code: code[0]?.code ?? null,
        ...rangeColumns('onset', choiceDate(r, path, ['onsetDateTime'], ['onsetPeriod'])),
      },
      tokens: [...withParam('code', code), ...withParam('clinical-status', clinical), ...withParam('verification-status', verification), ...withParam('category', category)],
    }
  },
  Encounter(r, path) {
    const cls = codingTokens(optObject(r, 'class', path), `${path}.class`)
    const type = conceptsTokens(r, 'type', path)
    return {
      columns: {
        status: optString(r, 'status', path) ?? null,
        class: cls[0]?.code ?? null,
        type: type[0]?.code ?? null,
        ...rangeColumns('period', optPeriod(r, 'period', path)),
      },
      tokens: [...withParam('class', cls), ...withParam('type', type)],
    }
  },
  MedicationRequest(r, path) {
    const code = conceptTokens(optObject(r, 'medicationCodeableConcept', path), `${path}.medicationCodeableConcept`)
    return {
      columns: {
        status: optString(r, 'status', path) ?? null,
        intent: optString(r, 'intent', path) ?? null,
        code_system: code[0]?.system ?? null,
        code: code[0]?.code ?? null,
        ...rangeColumns('authored', optDate(r, 'authoredOn', path)),
      },
      tokens: withParam('code', code),
    }
  },
  Immunization(r, path) {
    const vaccine = conceptTokens(optObject(r, 'vaccineCode', path), `${path}.vaccineCode`)
    return {
      columns: {
        status: optString(r, 'status', path) ?? null,
        vaccine_code_system: vaccine[0]?.system ?? null,
        vaccine_code: vaccine[0]?.code ?? null,
        ...rangeColumns('occurrence', choiceDate(r, path, ['occurrenceDateTime'], [])),
      },
      tokens: withParam('vaccine-code', vaccine),
    }
  },
  DocumentReference(r, path) {
    const type = conceptTokens(optObject(r, 'type', path), `${path}.type`)
    const category = conceptsTokens(r, 'category', path)
    return {
      columns: {
        status: optString(r, 'status', path) ?? null,
        category: category[0]?.code ?? null,
        type_system: type[0]?.system ?? null,
        type: type[0]?.code ?? null,
        ...rangeColumns('date', optDate(r, 'date', path)),
      },
      tokens: [...withParam('type', type), ...withParam('category', category)],
    }
  },
}

/** The column values and search tokens of a resource whose type has been checked. Tokens are deduplicated. */
export function extractRow(resourceType: ResourceType, resource: Record<string, unknown>, path: string): ExtractedRow {
  const row = EXTRACTORS[resourceType](resource, path)
  const seen = new Set<string>()
  row.tokens = row.tokens.filter((t) => {
    const key = JSON.stringify([t.param, t.system, t.code])
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  return row
}
