export * from './errors.ts'
export * from './mempool.ts'
export * from './options.ts'
export * from './sender-recovery.ts'
