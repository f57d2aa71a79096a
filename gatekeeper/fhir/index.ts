/**
 * The FHIR R4 REST API at the gatekeeper (/fhir): read-only, authorised by SMART access tokens
 * (a FhirAuthenticator, gatekeeper/smart/), decided from chain state at every request.
 */
export { createFhirApi, type FhirApi, type FhirApiModules } from './api.ts'
export type { OAuthUris } from './capability.ts'
export { SEARCH_PARAMS } from './search-params.ts'
export type { FhirAuthenticator, FhirPrincipal, SmartScope } from './principal.ts'
