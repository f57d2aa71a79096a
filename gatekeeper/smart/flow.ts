import { createHash, randomBytes } from 'node:crypto'

/**
 * The short-lived state of the authorization code flow, in memory (a restart ends every launch
 * in progress, which costs a user one more sign-in, never access): authorization requests
 * waiting for a sign-in, sign-ins waiting for a patient to be chosen, codes waiting to be
 * redeemed, and the token ids revoked because their code was redeemed twice. Each map is
 * bounded; expired entries go first, then the oldest.
 */

export interface PendingAuthorization {
  clientId: string
  clientName: string
  redirectUri: string
  state: string
  /** The scopes asked for, split. */
  scopes: string[]
  codeChallenge: string
  /** The SIWE nonce issued for this request. */
  nonce: string
  issuedAt: number
  expiresAt: number
  /** Failed sign-ins so far (five end the request). */
  attempts: number
}

export interface CodeGrant {
  clientId: string
  redirectUri: string
  codeChallenge: string
  identity: `0x${string}`
  patientId: string
  relationships: { relationship: string; provider: string; patient: string }[]
  /** Granted scopes, space-separated. */
  scope: string
  expiresAt: number
  used: boolean
  /** The token issued from it, revoked if the code comes back. */
  tokenId?: string
  tokenExpiresAt?: number
}

export interface PatientChoice {
  pending: PendingAuthorization
  identity: `0x${string}`
  patients: { patientId: string; scope: string; relationships: CodeGrant['relationships'] }[]
  expiresAt: number
}

const MAX_ENTRIES = 10_000

/** A map whose entries carry `expiresAt` (unix seconds), bounded to MAX_ENTRIES. */
export class ExpiringMap<V> {
  private readonly m = new Map<string, { v: V; until: number }>()
  private readonly now: () => number
  constructor(now: () => number) {
    this.now = now
  }

  set(key: string, v: V, until: number): void {
    if (this.m.size >= MAX_ENTRIES) {
      const t = this.now()
      for (const [k, e] of this.m) if (e.until <= t) this.m.delete(k)
      while (this.m.size >= MAX_ENTRIES) this.m.delete(this.m.keys().next().value as string)
    }
    this.m.set(key, { v, until })
  }

  /** The live entry, or undefined (an expired one is dropped). */
  get(key: string): V | undefined {
    const e = this.m.get(key)
    if (e === undefined) return undefined
    if (this.now() >= e.until) {
      this.m.delete(key)
      return undefined
    }
    return e.v
  }

  delete(key: string): void {
    this.m.delete(key)
  }
}

export function randomId(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** RFC 7636: a verifier of 43-128 unreserved characters whose SHA-256, base64url, is the challenge. */
export function pkceMatches(verifier: string, challenge: string): boolean {
  if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return false
  return createHash('sha256').update(verifier, 'ascii').digest('base64url') === challenge
}

/** An S256 challenge is the base64url of 32 bytes: 43 characters. */
export const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
