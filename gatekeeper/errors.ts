import { CodedError, codedErrorGuard } from '../common/errors.ts'

/**
 * Gatekeeper error codes (`GATEKEEPER_<NAME>`, the scheme of common/errors.ts). Refusals a
 * requester may see carry an HTTP status (`httpStatus`); their messages say what was wrong and
 * never echo record data. A reply on the wire (HTTP, libp2p, FHIR OperationOutcome, delegate
 * verification) carries the short name instead, the key here (`FORBIDDEN`): that is the gatekeeper
 * protocol other nodes speak, so it is written with `wireCode` and read back with `fromWireCode`.
 */
export const GatekeeperErrorCode = {
  /** Malformed request JSON or a field of the wrong shape. */
  BAD_REQUEST: 'GATEKEEPER_BAD_REQUEST',
  /** The signature does not verify or is not the claimed requester's. */
  BAD_SIGNATURE: 'GATEKEEPER_BAD_SIGNATURE',
  /** The request is past its expiry, issued in the future, or lives longer than allowed. */
  EXPIRED: 'GATEKEEPER_EXPIRED',
  /** No usable credentials: a missing, malformed, forged or expired access token (HTTP 401 with `WWW-Authenticate: Bearer`). */
  UNAUTHORIZED: 'GATEKEEPER_UNAUTHORIZED',
  /** The nonce was already used by this requester. */
  REPLAYED: 'GATEKEEPER_REPLAYED',
  /** The request names another gatekeeper or another chain. */
  WRONG_GATEKEEPER: 'GATEKEEPER_WRONG_GATEKEEPER',
  /** The chain does not let the requester read what was asked. */
  FORBIDDEN: 'GATEKEEPER_FORBIDDEN',
  /** No such relationship, pointer, bounty or patient here. */
  NOT_FOUND: 'GATEKEEPER_NOT_FOUND',
  /** An aggregate cell covers fewer than k patients. */
  K_ANONYMITY: 'GATEKEEPER_K_ANONYMITY',
  /** A query outside the query grammar, or a filter the database cannot apply (never silently ignored). */
  UNSUPPORTED_SEARCH: 'GATEKEEPER_UNSUPPORTED_SEARCH',
  /** Import input (FHIR bundle, CSV) is invalid. */
  INVALID_IMPORT: 'GATEKEEPER_INVALID_IMPORT',
  /** Decryption failed or the payload is malformed. */
  DECRYPT_FAILED: 'GATEKEEPER_DECRYPT_FAILED',
  /** Records do not match the hash on chain. */
  TAMPERED: 'GATEKEEPER_TAMPERED',
  /** The audit log's hash chain is broken. */
  AUDIT_CORRUPT: 'GATEKEEPER_AUDIT_CORRUPT',
  /** The gatekeeper cannot be reached or answered with something unusable. */
  UNREACHABLE: 'GATEKEEPER_UNREACHABLE',
  /** The requester (or, for unverified traffic, its remote address) sent more than its rate allows. */
  RATE_LIMITED: 'GATEKEEPER_RATE_LIMITED',
  /**
   * The chain did not take a record update (refused, reverted or unreachable): the previous
   * version is still served, the new records are kept aside until the chain names their hash.
   */
  CHAIN_UPDATE_FAILED: 'GATEKEEPER_CHAIN_UPDATE_FAILED',
  /** The HTTP API's TLS certificate or key cannot be used (unreadable, not PEM, not a pair, expired). */
  TLS_CONFIG: 'GATEKEEPER_TLS_CONFIG',
  /** A gatekeeper's HTTPS endpoint presented a certificate other than the one its Registrar entry names. */
  TLS_PIN_MISMATCH: 'GATEKEEPER_TLS_PIN_MISMATCH',
  /** Local database or configuration problem. */
  INTERNAL: 'GATEKEEPER_INTERNAL',
} as const
export type GatekeeperErrorCode = (typeof GatekeeperErrorCode)[keyof typeof GatekeeperErrorCode]

/** A gatekeeper reply code as the protocol spells it on the wire: `FORBIDDEN`, `RATE_LIMITED`, … */
export type GatekeeperWireCode = keyof typeof GatekeeperErrorCode

// Compile-time proof that every code is its wire name behind the prefix, which wireCode relies on.
const PREFIXED: { readonly [K in GatekeeperWireCode]: `GATEKEEPER_${K}` } = GatekeeperErrorCode
const PREFIX = 'GATEKEEPER_'

/** The code a reply carries on the wire: GATEKEEPER_FORBIDDEN → FORBIDDEN. */
export function wireCode(code: GatekeeperErrorCode): GatekeeperWireCode {
  return code.slice(PREFIX.length) as GatekeeperWireCode
}

/** The code of a reply read from the wire (FORBIDDEN → GATEKEEPER_FORBIDDEN); undefined for anything this node does not know. */
export function fromWireCode(code: unknown): GatekeeperErrorCode | undefined {
  return isWireCode(code) ? PREFIXED[code] : undefined
}

function isWireCode(code: unknown): code is GatekeeperWireCode {
  return typeof code === 'string' && Object.hasOwn(PREFIXED, code)
}

const HTTP_STATUS: Partial<Record<GatekeeperErrorCode, number>> = {
  [GatekeeperErrorCode.BAD_REQUEST]: 400,
  [GatekeeperErrorCode.UNSUPPORTED_SEARCH]: 400,
  [GatekeeperErrorCode.INVALID_IMPORT]: 400,
  [GatekeeperErrorCode.BAD_SIGNATURE]: 401,
  [GatekeeperErrorCode.EXPIRED]: 401,
  [GatekeeperErrorCode.REPLAYED]: 401,
  [GatekeeperErrorCode.UNAUTHORIZED]: 401,
  [GatekeeperErrorCode.WRONG_GATEKEEPER]: 421,
  [GatekeeperErrorCode.FORBIDDEN]: 403,
  [GatekeeperErrorCode.K_ANONYMITY]: 403,
  [GatekeeperErrorCode.NOT_FOUND]: 404,
  [GatekeeperErrorCode.RATE_LIMITED]: 429,
  // A relay that cannot reach the delegate's gatekeeper.
  [GatekeeperErrorCode.UNREACHABLE]: 502,
}

export class GatekeeperError extends CodedError<GatekeeperErrorCode> {
  get httpStatus(): number {
    return HTTP_STATUS[this.code] ?? 500
  }

  /** For RATE_LIMITED: whole seconds until the requester may try again (HTTP Retry-After); else undefined. */
  get retryAfter(): number | undefined {
    return this.code === GatekeeperErrorCode.RATE_LIMITED ? Number(this.context?.retryAfter ?? 1) : undefined
  }
}

/** A refusal for going over a rate limit (`what`), retryable after `retryAfter` seconds. */
export function rateLimited(retryAfter: number, what: string): GatekeeperError {
  return new GatekeeperError(GatekeeperErrorCode.RATE_LIMITED, `${what}: try again in ${retryAfter} s`, { retryAfter })
}

/** `isGatekeeperError(err)`, or with a code: `isGatekeeperError(err, GatekeeperErrorCode.FORBIDDEN)`. */
export const isGatekeeperError = codedErrorGuard(GatekeeperError)
