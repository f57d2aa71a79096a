// Public face of node/chain/: the chain store, import (import.ts), building (build.ts), block bytes.
export * from './block-bytes.ts'
export type { BuildOptions, PendingBlock, ProduceOptions } from './build.ts'
export * from './chain.ts'
export * from './errors.ts'
export * from './store.ts'
export * from './types.ts'
export { StatePruner, type PruneCycle, type PruneOptions } from './prune.ts'
