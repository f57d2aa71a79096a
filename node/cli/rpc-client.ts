import { errorMessage } from '../../common/errors.ts'
import { CliError, CliErrorCode } from './errors.ts'
import type { FlagSpec, ParsedFlags } from './types.ts'

export const RPC_URL: FlagSpec = { name: 'rpc', kind: 'string', placeholder: 'URL', default: 'http://127.0.0.1:8545', description: 'JSON-RPC endpoint of the node to talk to' }

/** One JSON-RPC call to the node at --rpc; failures say what to check. */
export async function callNode(flags: ParsedFlags, method: string, params: unknown[] = []): Promise<unknown> {
  const url = flags.string('rpc') ?? RPC_URL.default
  let res: Response
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  } catch (err) {
    throw new CliError(CliErrorCode.RPC, `cannot reach a node at ${url} (${errorMessage(err)}): is it running? Pass its endpoint with --rpc URL`)
  }
  let body: { result?: unknown; error?: { code: number; message: string } }
  try {
    body = (await res.json()) as typeof body
  } catch {
    throw new CliError(CliErrorCode.RPC, `${url} answered HTTP ${res.status} without JSON-RPC: is --rpc the node's RPC endpoint?`)
  }
  if (body.error !== undefined) throw new CliError(CliErrorCode.RPC, `${method} failed: ${body.error.message} (code ${body.error.code})`)
  return body.result
}
