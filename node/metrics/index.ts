/**
 * Prometheus metrics (`medrec start --metrics`): a prom-client registry per node, collectors
 * over the running node's modules, and the `/metrics` HTTP server.
 */
export * from './registry.ts'
export { createNodeMetrics, type NodeMetrics } from './node-metrics.ts'
export { startMetricsServer, type MetricsServer } from './server.ts'
export { watchP2P, type P2PMetrics } from './p2p.ts'
export { watchGatekeeper } from './gatekeeper.ts'
export { BLOCK_EVENTS_KEPT, type BlockEvent } from './blocks.ts'
