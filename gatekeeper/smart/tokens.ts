import { hkdfSync, randomBytes } from 'node:crypto'
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * SMART access tokens: JWTs (RFC 9068 `at+jwt`) signed HS256 with a key derived from the
 * gatekeeper's secret (HKDF, its own label), so nothing new is kept on disk and only this
 * gatekeeper can make or check them. The algorithm is pinned: a token naming `none`, RS256 or
 * anything else is refused before its signature is looked at.
 */

export interface AccessClaims {
  /** The chain identity that signed in (lower-case address). */
  sub: `0x${string}`
  /** The launch patient: the provider's local patient id. */
  patient: string
  /** Granted scopes, space-separated. */
  scope: string
  client_id: string
  /** The relationships (lower-case PPR addresses) the token was issued for. */
  rels: string[]
  jti: string
  iat: number
  exp: number
}

const ALG = 'HS256'
const TYP = 'at+jwt'

export function accessTokenKey(secret: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), 'medrec/gatekeeper/smart-access-token/v1', 32))
}

export interface TokenSigner {
  issue(claims: Omit<AccessClaims, 'jti' | 'iat' | 'exp'>, lifetimeSeconds: number): Promise<{ token: string; claims: AccessClaims }>
  /** Throws UNAUTHORIZED for anything but a well-formed, unexpired token of ours for `audience`. */
  verify(token: string): Promise<AccessClaims>
}

export function createTokenSigner(o: { key: Uint8Array; issuer: () => string; audience: () => string; now: () => number }): TokenSigner {
  return {
    async issue(c, lifetime) {
      const iat = o.now()
      const claims: AccessClaims = { ...c, jti: randomBytes(16).toString('base64url'), iat, exp: iat + lifetime }
      const token = await new SignJWT({ patient: claims.patient, scope: claims.scope, client_id: claims.client_id, rels: claims.rels })
        .setProtectedHeader({ alg: ALG, typ: TYP })
        .setIssuer(o.issuer())
        .setAudience(o.audience())
        .setSubject(claims.sub)
        .setJti(claims.jti)
        .setIssuedAt(iat)
        .setExpirationTime(claims.exp)
        .sign(o.key)
      return { token, claims }
    },
    async verify(token) {
      let payload: Record<string, unknown>
      try {
        ;({ payload } = await jwtVerify(token, o.key, { algorithms: [ALG], typ: TYP, issuer: o.issuer(), audience: o.audience(), currentDate: new Date(o.now() * 1000), clockTolerance: 0 }))
      } catch (err) {
        const why = err instanceof joseErrors.JWTExpired ? 'the access token expired: get a new one by launching again' : err instanceof joseErrors.JWTClaimValidationFailed ? `the access token's ${err.claim} claim does not fit this server (${err.reason}): use a token issued by this gatekeeper for this FHIR base URL` : 'the access token is not one this gatekeeper issued (bad signature, algorithm or format)'
        throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, why)
      }
      const { sub, patient, scope, client_id, rels, jti, iat, exp } = payload
      if (typeof sub !== 'string' || !/^0x[0-9a-f]{40}$/.test(sub) || typeof patient !== 'string' || typeof scope !== 'string' || typeof client_id !== 'string' || !Array.isArray(rels) || !rels.every((r) => typeof r === 'string') || typeof jti !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') {
        throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, 'the access token lacks claims this gatekeeper puts in every token')
      }
      return { sub: sub as `0x${string}`, patient, scope, client_id, rels: rels as string[], jti, iat, exp }
    },
  }
}
