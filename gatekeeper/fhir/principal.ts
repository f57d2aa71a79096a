/**
 * Who calls the FHIR API, as its authorisation layer vouches for them. The FHIR API (this folder)
 * consumes it; SMART App Launch (gatekeeper/smart/) produces it from an access token. The token
 * says who signed in and what they asked for; what they may read is decided again from chain
 * state at every request (a revocation ends access at once), never from the token alone.
 */

/** One SMART v2 scope, parsed (`patient/Observation.rs`, `user/*.r`). */
export interface SmartScope {
  context: 'patient' | 'user' | 'system'
  /** A FHIR resource type, or '*'. */
  resourceType: string
  /** SMART v2 permissions this API honours (c, u, d are never granted: the API is read-only). */
  read: boolean
  search: boolean
}

export interface FhirPrincipal {
  /** The chain identity that signed in (lower-case 0x address): the reader `canRead` is asked about. */
  identity: `0x${string}`
  /** The launch context's FHIR Patient id: the provider's local patient id whose records this token reads. */
  patient: string
  /** The relationships (lower-case PPR addresses) of that patient at this gatekeeper that the token was issued for. */
  relationships: string[]
  /** The scopes granted (already narrowed at issue to what the chain let this identity read). */
  scopes: SmartScope[]
  /** The OAuth client the token was issued to. */
  clientId: string
  /** The token's id (`jti`): audit entries name it. */
  tokenId: string
  /** Unix seconds. */
  expiresAt: number
}

/**
 * Turns an `Authorization` header into a principal, or throws a GatekeeperError: UNAUTHORIZED
 * (missing, malformed, forged, expired: HTTP 401 with `WWW-Authenticate: Bearer`) or FORBIDDEN.
 */
export interface FhirAuthenticator {
  authenticate(authorization: string | undefined): Promise<FhirPrincipal>
}
