// Public face of node/config/: what `medrec start` resolves before the node starts (the config
// types and their defaults) and the node's own coded errors. Every subsystem of node/ may use it.
export * from './config.ts'
export * from './errors.ts'
