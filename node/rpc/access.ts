// node/rpc/'s second, light public face, for JSON-RPC clients (the CLI, the bench harness): who
// may call what, bearer tokens, the secret file, the settings' defaults. It loads no server, no
// method table and no EVM, so a CLI call starts fast; index.ts re-exports all of it for the node.
export * from './auth.ts'
export * from './defaults.ts'
export { JwtSecretError, JwtSecretErrorCode } from './errors.ts'
