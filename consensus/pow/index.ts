export * from './engine.ts'
export * from './difficulty.ts'
export * from './hashcash.ts'
export * from './miner-pool.ts'
