import { CodedError } from '../common/errors.ts'

/**
 * Gatekeeper error codes. Refusals a requester may see carry an HTTP status (`httpStatus`);
 * their messages say what was wrong and never echo record data.
 */
export const GatekeeperErrorCode = {
  /** Malformed request JSON or a field of the wrong shape. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The signature does not verify or is not the claimed requester's. */
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  /** The request is past its expiry, issued in the future, or lives longer than allowed. */
  EXPIRED: 'EXPIRED',
  /** The nonce was already used by this requester. */
  REPLAYED: 'REPLAYED',
  /** The request names another gatekeeper or another chain. */
  WRONG_GATEKEEPER: 'WRONG_GATEKEEPER',
  /** The chain does not let the requester read what was asked. */
  FORBIDDEN: 'FORBIDDEN',
  /** No such relationship, pointer, bounty or patient here. */
  NOT_FOUND: 'NOT_FOUND',
  /** An aggregate cell covers fewer than k patients. */
  K_ANONYMITY: 'K_ANONYMITY',
  /** A query outside the query grammar, or a filter the database cannot apply (never silently ignored). */
  UNSUPPORTED_SEARCH: 'UNSUPPORTED_SEARCH',
  /** Import input (FHIR bundle, CSV) is invalid. */
  INVALID_IMPORT: 'INVALID_IMPORT',
  /** Decryption failed or the payload is malformed. */
  DECRYPT_FAILED: 'DECRYPT_FAILED',
  /** Records do not match the hash on chain. */
  TAMPERED: 'TAMPERED',
  /** The audit log's hash chain is broken. */
  AUDIT_CORRUPT: 'AUDIT_CORRUPT',
  /** The gatekeeper cannot be reached or answered with something unusable. */
  UNREACHABLE: 'UNREACHABLE',
  /** The requester (or, for unverified traffic, its remote address) sent more than its rate allows. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** Local database or configuration problem. */
  INTERNAL: 'INTERNAL',
} as const
export type GatekeeperErrorCode = (typeof GatekeeperErrorCode)[keyof typeof GatekeeperErrorCode]

const HTTP_STATUS: Partial<Record<GatekeeperErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNSUPPORTED_SEARCH: 400,
  INVALID_IMPORT: 400,
  BAD_SIGNATURE: 401,
  EXPIRED: 401,
  REPLAYED: 401,
  WRONG_GATEKEEPER: 421,
  FORBIDDEN: 403,
  K_ANONYMITY: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
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

export function isGatekeeperError(err: unknown): err is GatekeeperError {
  return err instanceof GatekeeperError
}
