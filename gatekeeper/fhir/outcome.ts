import type { ServerResponse } from 'node:http'
import { GatekeeperError, GatekeeperErrorCode, wireCode } from '../errors.ts'

/**
 * FHIR's way of saying no: every refusal of the FHIR API is an OperationOutcome with the HTTP
 * status of its GatekeeperError, its `diagnostics` the wire code and the message (which names the
 * problem and the fix and never echoes record data).
 */

export const FHIR_JSON = 'application/fhir+json; charset=utf-8'

/** A refusal with an HTTP status no gatekeeper code carries (405, 406, 415), kept in its context. */
export function fhirError(code: GatekeeperErrorCode, message: string, status?: number, context: Record<string, unknown> = {}): GatekeeperError {
  return new GatekeeperError(code, message, status === undefined ? context : { ...context, httpStatus: status })
}

export function statusOf(e: GatekeeperError): number {
  const s = e.context?.httpStatus
  return typeof s === 'number' ? s : e.httpStatus
}

/** FHIR IssueType per HTTP status (http://hl7.org/fhir/valueset-issue-type.html). */
function issueCode(status: number, e: GatekeeperError): string {
  if (e.code === GatekeeperErrorCode.UNSUPPORTED_SEARCH) return 'not-supported'
  switch (status) {
    case 401:
      return 'login'
    case 403:
      return 'forbidden'
    case 404:
      return 'not-found'
    case 405:
    case 406:
    case 415:
      return 'not-supported'
    case 429:
      return 'throttled'
    default:
      return status >= 500 ? 'exception' : 'invalid'
  }
}

export function operationOutcome(e: GatekeeperError, status = statusOf(e)): Record<string, unknown> {
  return { resourceType: 'OperationOutcome', issue: [{ severity: status >= 500 ? 'fatal' : 'error', code: issueCode(status, e), diagnostics: printable(`${wireCode(e.code)}: ${e.message}`) }] }
}

/** A FHIR string holds no control characters: a message echoing a hostile value (NUL) stays valid. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '\ufffd')
}

/**
 * SMART apps run in browsers on their own origins, so the API answers cross-origin reads. Safe
 * with `*`: the only credential is a bearer token the page must hold and send itself (no cookie,
 * and `*` forbids credentialed requests anyway).
 */
export const CORS = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'www-authenticate, retry-after, allow' } as const

export function sendFhir(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendFhirBytes(res, status, Buffer.from(JSON.stringify(body), 'utf8'), headers)
}

/** A body already serialised (one UTF-8 encoding, then its length: no second pass over the text). */
export function sendFhirBytes(res: ServerResponse, status: number, bytes: Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, ...CORS, 'content-type': FHIR_JSON, 'content-length': String(bytes.byteLength), 'cache-control': 'no-store' })
  res.end(bytes)
}

/** A CORS preflight: the methods and headers a FHIR read or search sends. */
export function sendPreflight(res: ServerResponse): void {
  res.writeHead(204, { ...CORS, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'authorization, content-type, accept', 'access-control-max-age': '600' })
  res.end()
}

/** The refusal as an OperationOutcome, with the headers its status needs (WWW-Authenticate, Retry-After, Allow). */
export function sendRefusal(res: ServerResponse, e: GatekeeperError): void {
  const status = statusOf(e)
  const headers: Record<string, string> = {}
  if (status === 401) headers['www-authenticate'] = 'Bearer realm="fhir"'
  if (e.retryAfter !== undefined) headers['retry-after'] = String(e.retryAfter)
  const allow = e.context?.allow
  if (typeof allow === 'string') headers.allow = allow
  sendFhir(res, status, operationOutcome(e, status), headers)
}
