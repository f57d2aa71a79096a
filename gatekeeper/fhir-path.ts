import type { FhirResource } from './types.ts'

/**
 * Dotted FHIR element paths (`status`, `code.coding`, `valueQuantity.value`), the only kind a
 * pointer's query names. A deliberately small subset of FHIRPath: no functions, no filters, no
 * indexes. Only own properties of plain JSON objects are followed, never the prototype chain.
 *
 * Arrays are walked the way FHIRPath collects: a segment applied to an array applies to each
 * element and the results are concatenated (one level, since FHIR JSON never nests arrays).
 * So `code.coding` of `{ code: { coding: [a, b] } }` is `[a, b]`, and `category.coding` of
 * `{ category: [{ coding: [a] }, { coding: [b, c] }] }` is `[a, b, c]`.
 */

type Json = unknown

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function child(v: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(v, key) ? v[key] : undefined
}

/**
 * The value at `path`: the element itself when no array was crossed on the way, else the
 * collected array. `undefined` when absent (missing, null, or an empty collection).
 */
export function valueAt(resource: unknown, path: string): unknown {
  let current: Json = resource
  let collected = false
  for (const segment of path.split('.')) {
    if (current === undefined || current === null) return undefined
    if (Array.isArray(current)) {
      const out: Json[] = []
      for (const el of current) {
        if (!isObject(el)) continue
        const v = child(el, segment)
        if (v === undefined || v === null) continue
        if (Array.isArray(v)) out.push(...v)
        else out.push(v)
      }
      current = out
      collected = true
    } else if (isObject(current)) {
      current = child(current, segment)
    } else {
      return undefined
    }
  }
  if (current === null || current === undefined) return undefined
  if (collected && Array.isArray(current) && current.length === 0) return undefined
  return current
}

/** Requested paths as a tree; `whole` marks a path asked for entirely (its subtree is not needed). */
interface PathTree {
  whole: boolean
  children: Map<string, PathTree>
}

function treeOf(paths: readonly string[]): PathTree {
  const root: PathTree = { whole: false, children: new Map() }
  for (const path of paths) {
    let node = root
    for (const segment of path.split('.')) {
      if (node.whole) break
      let next = node.children.get(segment)
      if (next === undefined) {
        next = { whole: false, children: new Map() }
        node.children.set(segment, next)
      }
      node = next
    }
    node.whole = true
    node.children.clear()
  }
  return root
}

/**
 * A deep copy of a JSON value: plain objects and arrays rebuilt, primitives as they are; anything
 * else (a Date from a driver) through structuredClone. On every served field: structuredClone
 * costs 10-20x as much for the small values records hold.
 */
function cloneJson(v: Json): Json {
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) return v.map(cloneJson)
  if (Object.getPrototypeOf(v) !== Object.prototype) return structuredClone(v)
  const out: Record<string, Json> = {}
  for (const k of Object.keys(v)) {
    const c = cloneJson((v as Record<string, Json>)[k])
    // A key "__proto__" (JSON.parse makes it an own property) stays one: assigned, it would set the prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: c, enumerable: true, writable: true, configurable: true })
    else out[k] = c
  }
  return out
}

function projectValue(value: Json, tree: PathTree): Json {
  if (value === undefined || value === null) return undefined
  if (tree.whole) return cloneJson(value)
  if (Array.isArray(value)) {
    // Elements that keep nothing are dropped: the collected values (valueAt) stay the same.
    const out = value.map((el) => projectValue(el, tree)).filter((el) => el !== undefined)
    return out.length === 0 ? undefined : out
  }
  if (!isObject(value)) return undefined
  const out: Record<string, Json> = {}
  for (const [key, sub] of tree.children) {
    const v = projectValue(child(value, key), sub)
    if (v !== undefined) out[key] = v
  }
  return Object.keys(out).length === 0 ? undefined : out
}

/**
 * The resource reduced to `resourceType`, `id` and the given paths, nested objects rebuilt.
 * Nothing outside those paths is copied (not even sibling elements of an object on the way), and
 * the result shares no object with the input. For every path p asked,
 * `valueAt(project(r, paths), p)` equals `valueAt(r, p)`.
 */
export function project(resource: FhirResource, paths: readonly string[]): FhirResource {
  const out: FhirResource = { resourceType: resource.resourceType, id: resource.id }
  const tree = treeOf(paths)
  for (const [key, sub] of tree.children) {
    if (key === 'resourceType' || key === 'id') continue
    const v = projectValue(child(resource, key), sub)
    if (v !== undefined) out[key] = v
  }
  return out
}
