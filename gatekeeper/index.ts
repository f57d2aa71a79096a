/**
 * The Gatekeeper: serves a provider's off-chain records to exactly whom the chain allows, and
 * fetches, verifies and caches records for a patient or viewer. Imports only common/ and contracts/.
 */
export * from './api.ts'
export * from './errors.ts'
export * from './options.ts'
export type * from './types.ts'
export { createGatekeeper, type Gatekeeper, type GatekeeperModules, type GatekeeperP2P } from './gatekeeper.ts'
export { GATEKEEPER_PROTOCOL } from './requester.ts'
export type { ServedRequest } from './serve.ts'
