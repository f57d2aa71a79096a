/**
 * SMART App Launch 2.0 for the gatekeeper's FHIR API: discovery, authorization code + PKCE for
 * registered public clients, sign-in with Ethereum (EIP-4361), access tokens scoped to what the
 * chain lets the identity read, and the FHIR API's authenticator.
 */
export { createSmartAuth, CODE_LIFETIME_S, DEFAULT_TOKEN_LIFETIME_S, type SmartAuth, type SmartModules } from './smart.ts'
export { createSmartClients, checkRedirectUri, type SmartClient, type SmartClients } from './clients.ts'
