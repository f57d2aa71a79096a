/**
 * Real node processes for the e2e tests. Spawning, readiness, stopping and the JWT-authenticated
 * JSON-RPC client are the bench harness's (bench/harness/process.ts and rpc.ts); this adds the
 * tests' conveniences: node processes without tap's module tracer (plain-node.ts), positional
 * arguments, every call signed by default and plain Error messages (`METHOD: CODE MESSAGE`). The
 * poll, waitFor, is the harness's too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startNodeProcess as spawnNode, tempDir, type NodeProcess as HarnessNode } from '../../bench/harness/process.ts'
import { rpcRaw as call, type RpcCallOptions as HarnessCallOptions, type RpcResponse } from '../../bench/harness/rpc.ts'
import { bearer, defaultJwtSecretPath, readJwtSecret } from '../../node/rpc/access.ts'
import { plainNode } from './plain-node.ts'

export { ALL_APIS, MEDREC, ROOT, tempDir } from '../../bench/harness/process.ts'
export { authHeaders, waitFor } from '../../bench/harness/rpc.ts'
export const NODE = process.execPath

export type NodeProcess = HarnessNode

/**
 * `medrec start` (or `opts.command`, e.g. `mine`) on `opts.datadir`, RPC on any free port; resolves once it serves.
 * Every namespace is enabled (`--rpc.api` ALL_APIS) unless `args` has its own `--rpc.api` or `opts.rpcApi` is false
 * (the node's own default). Calls through rpc()/rpcRaw() to its url carry a token from its JWT secret.
 */
export function startNodeProcess(args: string[], opts: { datadir: string; timeoutMs?: number; env?: Record<string, string>; command?: 'start' | 'mine'; rpcApi?: false }): Promise<NodeProcess> {
  return spawnNode({ ...opts, args, launch: plainNode })
}

/** The JWT secret of a node's data dir (DIR/jwtsecret, made by the node at its first start). */
/** A `--dev` node (plus `args`) in a fresh data dir, stopped and its data dir removed when `t` ends. */
export async function startDevNode(t: { teardown(fn: () => unknown): void }, args: string[] = []): Promise<NodeProcess> {
  const dir = tempDir()
  const node = await startNodeProcess(['--dev', ...args], { datadir: dir.path })
  t.teardown(async () => {
    await node.stop()
    dir.remove()
  })
  return node
}

export function jwtSecretOf(datadir: string): Promise<Uint8Array> {
  return readJwtSecret(defaultJwtSecretPath(datadir))
}

/** `Authorization` header value with a fresh token for the node with this data dir. */
export async function authHeader(datadir: string): Promise<string> {
  return bearer(await jwtSecretOf(datadir))
}

export interface RpcCallOptions extends Omit<HarnessCallOptions, 'auth'> {
  /**
   * true (default): a fresh token when `url` is a node from startNodeProcess; false: none (to
   * test what an unauthenticated caller gets); a string: this Authorization header as is.
   */
  auth?: boolean | string
}

/** One JSON-RPC call over HTTP; returns the whole response object. */
export function rpcRaw(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<RpcResponse> {
  return call(url, method, params, { ...opts, auth: opts.auth ?? true })
}

/** One JSON-RPC call; throws on an error response. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<T> {
  const r = await rpcRaw(url, method, params, opts)
  if (r.error !== undefined) throw new Error(`${method}: ${r.error.code} ${r.error.message}`)
  return r.result as T
}

/**
 * When `t` ends failing, each node's output so far (stdout and stderr; `nodes()` is read then,
 * undefined entries skipped) goes to a file in a directory that is kept, and a comment names it:
 * a flake seen once in a whole-suite run can be read afterwards instead of rerun. Register it
 * before the teardown that stops the nodes (teardowns run in order; the output stays readable after
 * a stop either way).
 */
export function keepLogsOnFailure(t: { teardown(fn: () => unknown): void; passing(): boolean; comment(...message: unknown[]): void; readonly fullname: string }, nodes: () => Array<[string, { output(): string } | undefined]>): void {
  t.teardown(() => {
    if (t.passing()) return
    const dir = mkdtempSync(join(tmpdir(), 'medrec-test-logs-'))
    for (const [name, node] of nodes()) if (node !== undefined) writeFileSync(join(dir, `${name.replace(/[^\w.-]+/g, '_')}.log`), node.output())
    t.comment(`${t.fullname} failed: the nodes' logs are kept in ${dir}`)
  })
}
