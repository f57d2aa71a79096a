import { getAddress, isHex, verifyMessage, type Address, type Hex } from 'viem'
import { createSiweMessage, generateSiweNonce, parseSiweMessage } from 'viem/siwe'
import { GatekeeperError, GatekeeperErrorCode } from '../errors.ts'

/**
 * Sign-In with Ethereum (EIP-4361) for the SMART authorization page: the gatekeeper issues the
 * nonce for one authorization request; the message signed must name this gatekeeper's domain,
 * its FHIR base as URI, this chain, that nonce, and an expiry that has not passed. The nonce is
 * what binds the sign-in to the authorization request (and so protects the POST from CSRF): a
 * message signed for another request, site, chain or time is refused.
 */

export const SIWE_STATEMENT = 'Let this SMART app read the MedRec records the chain lets me read at this provider.'
/** A sign-in message is valid at most this long after it was issued. */
export const SIWE_MAX_LIFETIME_S = 600
const ZERO: Address = '0x0000000000000000000000000000000000000000'

export interface SiweExpect {
  domain: string
  uri: string
  chainId: number
  nonce: string
  /** Unix seconds. */
  now: number
}

export function newSiweNonce(): string {
  return generateSiweNonce().slice(0, 32)
}

/** The message the page asks the user to sign, with the zero address where the user's goes (the page puts it in). */
export function siweTemplate(e: Omit<SiweExpect, 'now'> & { issuedAt: number; expiresAt: number; requestId: string }): { message: string; placeholder: Address } {
  const message = createSiweMessage({
    domain: e.domain,
    address: ZERO,
    statement: SIWE_STATEMENT,
    uri: e.uri,
    version: '1',
    chainId: e.chainId,
    nonce: e.nonce,
    issuedAt: new Date(e.issuedAt * 1000),
    expirationTime: new Date(e.expiresAt * 1000),
    requestId: e.requestId,
  })
  return { message, placeholder: ZERO }
}

function refuse(what: string): never {
  throw new GatekeeperError(GatekeeperErrorCode.UNAUTHORIZED, `the sign-in message ${what}`)
}

/** Checks the message's fields and its signature; returns the signer's address (lower case). */
export async function verifySiwe(message: string, signature: string, e: SiweExpect): Promise<`0x${string}`> {
  if (message.length > 4000) refuse('is too long')
  const m = parseSiweMessage(message)
  if (m.address === undefined || !/^0x[0-9a-fA-F]{40}$/.test(m.address)) refuse('names no Ethereum address')
  if (m.domain !== e.domain) refuse(`is for ${String(m.domain)}, not ${e.domain}: sign the message this page shows`)
  if (m.uri !== e.uri) refuse(`names URI ${String(m.uri)}, not this FHIR server ${e.uri}`)
  if (m.version !== '1') refuse('is not EIP-4361 version 1')
  if (m.chainId !== e.chainId) refuse(`is for chain ${String(m.chainId)}, not chain ${e.chainId}`)
  if (m.nonce !== e.nonce) refuse('carries another nonce than this authorization request issued: start again from the app')
  if (m.issuedAt === undefined || m.expirationTime === undefined) refuse('needs an Issued At and an Expiration Time')
  const issued = Math.floor(m.issuedAt.getTime() / 1000)
  const expires = Math.floor(m.expirationTime.getTime() / 1000)
  if (!Number.isFinite(issued) || !Number.isFinite(expires)) refuse('has an unreadable time')
  if (issued > e.now + 60) refuse('is issued in the future')
  if (e.now >= expires) refuse('has expired: start again from the app')
  if (expires - issued > SIWE_MAX_LIFETIME_S) refuse(`lives longer than ${SIWE_MAX_LIFETIME_S} s`)
  if (m.notBefore !== undefined && e.now < Math.floor(m.notBefore.getTime() / 1000)) refuse('is not valid yet')
  if (!isHex(signature) || signature.length !== 132) refuse('signature is not 65 bytes of 0x hex')
  let address: Address
  try {
    address = getAddress(m.address)
  } catch {
    refuse('names an address with a bad checksum')
  }
  const ok = await verifyMessage({ address, message, signature: signature as Hex }).catch(() => false)
  if (!ok) refuse(`is not signed by ${address}`)
  return address.toLowerCase() as `0x${string}`
}
