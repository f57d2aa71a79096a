// Public face of node/genesis/: parse and validate genesis files, build new ones, the dev chain.
export * from './build.ts'
export * from './dev.ts'
export * from './errors.ts'
export * from './parse.ts'
export type * from './types.ts'
