/** The transaction pool and the worker-thread sender recovery that feeds it. */
export * from './errors.ts'
export * from './options.ts'
export type * from './types.ts'
export { createMempool } from './mempool.ts'
export { createSenderRecovery, recoveryId } from './sender-recovery.ts'
