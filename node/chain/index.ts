export * from './chain.ts'
export * from './errors.ts'
export * from './store.ts'
export * from './types.ts'
