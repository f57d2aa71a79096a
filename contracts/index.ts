// Public face of contracts/: fixed addresses, genesis predeploys, typed ABI bindings.
export * from './addresses.ts'
export * from './bindings.ts'
export * from './errors.ts'
export * from './predeploys.ts'
export type * from './types.ts'
export * from './generated/authority-set.ts'
export * from './generated/registrar.ts'
