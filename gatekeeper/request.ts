/**
 * Signed gatekeeper requests: EIP-712 typed data (domain `{ name: 'MedRec Gatekeeper',
 * version: '1', chainId }`, primary type `GatekeeperRequest`), so a wallet shows the requester
 * what it signs. The digest, building and signing (request-digest.ts), strict parsing of the
 * wire form (request-wire.ts), and verification (request-verify.ts).
 */
export {
  DEFAULT_REQUEST_TTL_SECONDS,
  MAX_REQUEST_ITEMS,
  REQUEST_DOMAIN,
  REQUEST_TYPES,
  addressOfPublicKey,
  newRequest,
  requestDigest,
  requestToJson,
  signRequest,
  type NewRequestFields,
} from './request-digest.ts'
export { parseSignedRequest, type ParsedSignedRequest } from './request-wire.ts'
export { createRequestVerifier, type RequestVerifier, type RequestVerifierOptions, type VerifiedRequester } from './request-verify.ts'
