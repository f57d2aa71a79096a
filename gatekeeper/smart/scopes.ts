import type { SmartScope } from '../fhir/principal.ts'

/**
 * SMART App Launch 2.0 scopes (`patient/Observation.rs`, `user/*.r`; v1's `.read` is taken as
 * `.rs`). The API is read-only: only r and s are ever granted. A scope this server does not
 * grant (writes, granular `?` scopes, openid, offline_access) is dropped, never an error: SMART
 * lets a server grant fewer scopes than asked, and the token response says which it granted.
 */

const CLINICAL = /^(patient|user)\/(\*|[A-Z][A-Za-z]{1,63})\.([cruds]{1,5}|read|write|\*)$/
/** Context scopes this server honours. */
export const LAUNCH_PATIENT = 'launch/patient'

/** Parses one clinical scope; undefined when it is not one this server could grant. */
export function parseScope(text: string): SmartScope | undefined {
  const m = CLINICAL.exec(text)
  if (m === null) return undefined
  const perms = m[3]!
  let read: boolean
  let search: boolean
  if (perms === 'read' || perms === '*') {
    read = search = true
  } else if (perms === 'write') {
    return undefined
  } else {
    // v2 letters come in the order c r u d s, each at most once.
    if (!/^c?r?u?d?s?$/.test(perms)) return undefined
    read = perms.includes('r')
    search = perms.includes('s')
  }
  if (!read && !search) return undefined
  return { context: m[1] as 'patient' | 'user', resourceType: m[2]!, read, search }
}

export function formatScope(s: SmartScope): string {
  return `${s.context}/${s.resourceType}.${s.read ? 'r' : ''}${s.search ? 's' : ''}`
}

/** The scope parameter split on spaces (RFC 6749 3.3); at most 100 scopes of at most 200 characters each. */
export function splitScopes(scope: string): string[] | undefined {
  const parts = scope.split(' ').filter((s) => s !== '')
  if (parts.length === 0 || parts.length > 100 || parts.some((s) => s.length > 200 || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) return undefined
  return parts
}

/**
 * The requested scopes narrowed to what may be read: each clinical scope becomes one scope per
 * readable resource type it covers (`patient/*.rs` → `patient/Observation.rs` when only
 * Observations are readable); `launch/patient` stays when asked. Nothing clinical left: [].
 */
export function narrowScopes(requested: readonly string[], readableTypes: ReadonlySet<string>): { granted: string[]; scopes: SmartScope[] } {
  const scopes = new Map<string, SmartScope>()
  for (const text of requested) {
    const s = parseScope(text)
    if (s === undefined) continue
    const types = s.resourceType === '*' ? [...readableTypes].sort() : readableTypes.has(s.resourceType) ? [s.resourceType] : []
    for (const resourceType of types) {
      const key = `${s.context}/${resourceType}`
      const had = scopes.get(key)
      scopes.set(key, { context: s.context, resourceType, read: s.read || had?.read === true, search: s.search || had?.search === true })
    }
  }
  const clinical = [...scopes.values()]
  if (clinical.length === 0) return { granted: [], scopes: [] }
  const granted = [...(requested.includes(LAUNCH_PATIENT) ? [LAUNCH_PATIENT] : []), ...clinical.map(formatScope)]
  return { granted, scopes: clinical }
}

/** The clinical scopes of a granted scope string (what a token carries). */
export function scopesOf(granted: string): SmartScope[] {
  return granted.split(' ').flatMap((s) => parseScope(s) ?? [])
}
