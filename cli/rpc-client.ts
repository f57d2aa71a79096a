import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { errorMessage } from '../common/errors.ts'
import { DEV_DATADIR } from '../node/config/index.ts'
import { accessOf, bearer, defaultJwtSecretPath, JWT_SECRET_FILE, JwtSecretError, readJwtSecret } from '../node/rpc/access.ts'
import { CliError, CliErrorCode, usageError } from './errors.ts'
import type { FlagSpec, ParsedFlags } from './types.ts'

export const RPC_URL: FlagSpec = { name: 'rpc', kind: 'string', placeholder: 'URL', default: 'http://127.0.0.1:8545', description: 'JSON-RPC endpoint of the node to talk to' }
export const RPC_DATADIR: FlagSpec = { name: 'datadir', kind: 'string', placeholder: 'DIR', default: 'none', description: `the node's data dir: authenticate with its ${JWT_SECRET_FILE} (needed for medrec_*, admin_*, clique votes)` }
export const RPC_JWTSECRET: FlagSpec = { name: 'rpc.jwtsecret', kind: 'string', placeholder: 'FILE', default: `DIR/${JWT_SECRET_FILE} with --datadir; without --rpc: ${DEV_DATADIR}/${JWT_SECRET_FILE} if present`, description: 'the node\'s JWT secret file (its --rpc.jwtsecret), instead of --datadir' }
/** The flags of every command that talks to a node: where it is and how to authenticate. */
export const RPC_FLAGS: readonly FlagSpec[] = [RPC_URL, RPC_DATADIR, RPC_JWTSECRET]

const HOW = 'pass --datadir DIR (the node\'s data dir) or --rpc.jwtsecret FILE (the node\'s secret file)'

/**
 * The node's secret from --rpc.jwtsecret or --datadir. With neither and no --rpc, the dev node's
 * (`npm start` writes ./.medrec-dev/jwtsecret) when that file exists: the default endpoint is
 * that node's, and a token is never made for an endpoint the user named without saying whose it is.
 */
async function secretFromFlags(flags: ParsedFlags): Promise<Uint8Array | undefined> {
  const datadir = flags.string('datadir')
  let file = flags.string('rpc.jwtsecret') ?? (datadir === undefined ? undefined : defaultJwtSecretPath(resolve(datadir)))
  if (file === undefined && flags.string('rpc') === undefined) {
    const dev = defaultJwtSecretPath(resolve(DEV_DATADIR))
    if (existsSync(dev)) file = dev
  }
  if (file === undefined) return undefined
  try {
    return await readJwtSecret(file)
  } catch (err) {
    if (err instanceof JwtSecretError) throw new CliError(CliErrorCode.READ_FAILED, `${err.message} (${HOW})`, undefined, err)
    throw err
  }
}

/**
 * `Authorization` for the node at --rpc: a fresh token (tokens live ±60 s) when --datadir or
 * --rpc.jwtsecret is given, else none; `what` (a method or route) that needs one is refused here.
 */
export async function nodeAuthHeaders(flags: ParsedFlags, what: { name: string; protected: boolean }): Promise<Record<string, string>> {
  const secret = await secretFromFlags(flags)
  if (secret === undefined) {
    if (what.protected) throw usageError(`${what.name} needs the node's token: ${HOW}`)
    return {}
  }
  return { authorization: await bearer(secret) }
}

/** One JSON-RPC call to the node at --rpc; failures say what to check. */
export async function callNode(flags: ParsedFlags, method: string, params: unknown[] = []): Promise<unknown> {
  const url = flags.string('rpc') ?? RPC_URL.default
  const auth = await nodeAuthHeaders(flags, { name: method, protected: accessOf(method, params).protected })
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  } catch (err) {
    throw new CliError(CliErrorCode.RPC, `cannot reach a node at ${url} (${errorMessage(err)}): is it running? Pass its endpoint with --rpc URL`)
  }
  let body: { result?: unknown; error?: { code: number; message: string } }
  try {
    body = (await res.json()) as typeof body
  } catch {
    const hint = res.status === 403 ? ': the node refuses this Host name (its --rpc.vhosts)' : ': is --rpc the node\'s RPC endpoint?'
    throw new CliError(CliErrorCode.RPC, `${url} answered HTTP ${res.status} without JSON-RPC${hint}`)
  }
  if (body.error !== undefined) throw new CliError(CliErrorCode.RPC, `${method} failed: ${body.error.message} (code ${body.error.code})`)
  return body.result
}
