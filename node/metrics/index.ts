/**
 * Prometheus metrics (`medrec start --metrics`): a small registry writing the text exposition
 * format by hand, collectors over the running node's modules, and the `/metrics` HTTP server.
 */
export * from './errors.ts'
export * from './registry.ts'
export { createNodeMetrics, type NodeMetrics } from './node-metrics.ts'
export { startMetricsServer, type MetricsServer } from './server.ts'
export { watchP2P, type P2PMetrics } from './p2p.ts'
export { watchGatekeeper } from './gatekeeper.ts'
