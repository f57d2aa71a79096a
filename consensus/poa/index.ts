export * from './engine.ts'
export * from './seal.ts'
export * from './snapshot.ts'
