import { GatekeeperErrorCode, type GatekeeperError } from '../errors.ts'
import { fhirError, operationOutcome, statusOf } from './outcome.ts'

/**
 * FHIR's batch interaction (POST to the base with a Bundle of type `batch`), read-only: each
 * entry is a GET of a read, search or `$everything` URL relative to the base, answered as if it
 * were its own request (its own scope check, chain decision, audit entry and status), so one
 * refused entry fails alone. Clients use it to fetch several searches in one round trip. A
 * `transaction` is refused whole: this server writes nothing, so it has nothing to make atomic.
 */

/** Most entries in one batch: each is a full read, so a batch is bounded like a page. */
export const MAX_BATCH_ENTRIES = 50

/** One entry's request: the method and the URL relative to the FHIR base (path and query). */
export interface BatchRequest {
  method: string
  url: string
}

export type BatchResult = { ok: true; resource: unknown } | { ok: false; error: GatekeeperError }

/** The entries of a batch Bundle; a 400 OperationOutcome naming the problem for anything else. */
export function parseBatch(body: unknown): BatchRequest[] {
  const bad = (message: string) => fhirError(GatekeeperErrorCode.BAD_REQUEST, message)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('POST to the FHIR base takes a Bundle of type batch')
  const b = body as Record<string, unknown>
  if (b.resourceType !== 'Bundle') throw bad('POST to the FHIR base takes a Bundle of type batch')
  if (b.type === 'transaction') throw fhirError(GatekeeperErrorCode.BAD_REQUEST, 'this server is read-only and has no transactions: send the reads as a Bundle of type batch', 422)
  if (b.type !== 'batch') throw bad(`a Bundle of type ${String(b.type).slice(0, 40)} is not a batch: set type to "batch"`)
  const entries = b.entry ?? []
  if (!Array.isArray(entries)) throw bad('Bundle.entry must be an array')
  if (entries.length > MAX_BATCH_ENTRIES) throw bad(`a batch holds at most ${MAX_BATCH_ENTRIES} entries (this one has ${entries.length}): split it`)
  return entries.map((e: unknown, i) => {
    const request = typeof e === 'object' && e !== null ? (e as Record<string, unknown>).request : undefined
    const r = typeof request === 'object' && request !== null ? (request as Record<string, unknown>) : undefined
    if (r === undefined || typeof r.method !== 'string' || typeof r.url !== 'string') throw bad(`Bundle.entry[${i}].request needs a method and a url`)
    return { method: r.method, url: r.url }
  })
}

const REASONS: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error' }

/** The batch-response Bundle: one entry per request, in order, each with its status. */
export function batchResponse(results: readonly BatchResult[]): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: results.map((r) => {
      if (r.ok) return { resource: r.resource, response: { status: '200 OK' } }
      const status = statusOf(r.error)
      return { response: { status: `${status} ${REASONS[status] ?? ''}`.trim(), outcome: operationOutcome(r.error, status) } }
    }),
  }
}
