// Public face of node/rpc/: the JSON-RPC transport and who may call what (auth.ts), the method
// tables the composition puts together (eth_*, clique_*, admin_*, miner_*, medrec_*), filters,
// subscriptions, formatting, and the in-process transport the gatekeeper reads the chain through.
export * from './auth.ts'
export * from './defaults.ts'
export * from './errors.ts'
export * from './filters.ts'
export * from './format.ts'
export * from './server.ts'
export * from './subscriptions.ts'
export * from './types.ts'
export * as validate from './validate.ts'
export { createAdminMethods, type AdminModules } from './admin.ts'
export { createCliqueMethods, type CliqueModules } from './clique.ts'
export { createDevAccountMethods, personalDigest, type DevAccountModules, type DevKey } from './dev-accounts.ts'
export { CLIENT_VERSION, MAX_LOG_RANGE, MAX_LOG_RESULTS, SUGGESTED_TIP, createEthMethods, type EthApi, type EthModules } from './eth.ts'
export { createInProcessRpc, createMedrecMethods, notificationEvents } from './medrec.ts'
export { createMinerMethods } from './miner.ts'
export { MAX_TRACE_BYTES, createDebugMethods, type DebugModules } from './debug.ts'
