export * from './errors.ts'
export * from './logger.ts'
export * from './hex.ts'
export * from './secp256k1.ts'
