export * from './dev.ts'
export * from './errors.ts'
export * from './parse.ts'
export type * from './types.ts'
