import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NAMESPACES, bearer, defaultJwtSecretPath, readJwtSecret } from '../../node/rpc/auth.ts'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const NODE = process.execPath
export const MEDREC = join(ROOT, 'bin', 'medrec.js')
/** MEDREC_NODE_PROFILE=DIR: every node process writes a V8 CPU profile to DIR when it ends. */
const PROFILE_DIR = process.env.MEDREC_NODE_PROFILE

export interface NodeProcess {
  proc: ChildProcess
  url: string
  wsUrl: string
  datadir: string
  /** Everything the process wrote so far (stdout + stderr). */
  output(): string
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>
}

export function tempDir(prefix = 'medrec-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/**
 * Starts `medrec start ...` as a real child process on a free port and resolves when its
 * JSON-RPC server is listening (read from the node's own log line).
 */
/**
 * `medrec start` (or `opts.command`, e.g. `mine`) on `opts.datadir`, RPC on any free port; resolves once it serves.
 * Every namespace is enabled (`--rpc.api` ALL_APIS) unless `args` has its own `--rpc.api` or `opts.rpcApi` is false
 * (the node's own default). Calls through rpc()/rpcRaw() to its url carry a token from DIR/jwtsecret.
 */
export function startNodeProcess(args: string[], opts: { datadir: string; timeoutMs?: number; env?: Record<string, string>; command?: 'start' | 'mine'; rpcApi?: false }): Promise<NodeProcess> {
  const profile = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const apis = opts.rpcApi === false || args.includes('--rpc.api') ? [] : ['--rpc.api', ALL_APIS]
  const proc = spawn(NODE, [...profile, MEDREC, opts.command ?? 'start', '--datadir', opts.datadir, '--rpc.port', '0', ...apis, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`node did not start within ${opts.timeoutMs ?? 30000} ms:\n${out}`))
    }, opts.timeoutMs ?? 30000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      // The node's own log line, or the dev banner when logs are quieter than info.
      const m =
        /listening\s.*url=(http:\/\/[\d.]+:\d+)\s+ws=(ws:\/\/[\d.]+:\d+)/.exec(out) ??
        /Listening on (http:\/\/[\d.]+:\d+) \(WebSocket (ws:\/\/[\d.]+:\d+)\)/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        const secretFile = args.includes('--rpc.jwtsecret') ? args[args.indexOf('--rpc.jwtsecret') + 1]! : defaultJwtSecretPath(opts.datadir)
        secretFiles.set(m[1]!, secretFile)
        secretFiles.set(m[2]!, secretFile)
        proc.stdout!.off('data', onData)
        proc.stderr!.off('data', onData)
        proc.stdout!.on('data', (c: Buffer) => (out += c.toString()))
        proc.stderr!.on('data', (c: Buffer) => (out += c.toString()))
        resolve({
          proc,
          url: m[1]!,
          wsUrl: m[2]!,
          datadir: opts.datadir,
          output: () => out,
          stop: async () => {
            proc.kill('SIGTERM')
            return exited
          },
          kill: async () => {
            proc.kill(PROFILE_DIR === undefined ? 'SIGKILL' : 'SIGTERM') // a killed process writes no profile
            await exited
          },
        })
      }
    }
    proc.stdout!.on('data', onData)
    proc.stderr!.on('data', onData)
    proc.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`node exited with ${code} before listening:\n${out}`))
    })
  })
}

/** Every namespace the node has: what startNodeProcess enables unless told otherwise. */
export const ALL_APIS = NAMESPACES.join(',')

/** HTTP and WS URLs of the nodes startNodeProcess started → their JWT secret file. */
const secretFiles = new Map<string, string>()

/** The JWT secret of a node's data dir (DIR/jwtsecret, made by the node at its first start). */
export function jwtSecretOf(datadir: string): Promise<Uint8Array> {
  return readJwtSecret(defaultJwtSecretPath(datadir))
}

/** `Authorization` header value with a fresh token for the node with this data dir. */
export async function authHeader(datadir: string): Promise<string> {
  return bearer(await jwtSecretOf(datadir))
}

/**
 * Headers that authenticate to the node at `url` (HTTP or WS URL of a node from startNodeProcess),
 * e.g. `new WebSocket(node.wsUrl, { headers: await authHeaders(node.wsUrl) })`; {} for other URLs.
 */
export async function authHeaders(url: string): Promise<Record<string, string>> {
  const file = secretFiles.get(url.replace(/\/+$/, ''))
  return file === undefined ? {} : { authorization: await bearer(await readJwtSecret(file)) }
}

export interface RpcCallOptions {
  /**
   * true (default): a fresh token when `url` is a node from startNodeProcess; false: none (to
   * test what an unauthenticated caller gets); a string: this Authorization header as is.
   */
  auth?: boolean | string
  /** Extra headers (e.g. Origin or Host), sent as given. */
  headers?: Record<string, string>
}

let rpcId = 0
/** One JSON-RPC call over HTTP; returns the whole response object. */
export async function rpcRaw(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }> {
  const auth = opts.auth ?? true
  const authorization = typeof auth === 'string' ? { authorization: auth } : auth ? await authHeaders(url) : {}
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...authorization, ...opts.headers }, body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }) })
  return (await res.json()) as { result?: unknown; error?: { code: number; message: string } }
}

/** One JSON-RPC call; throws on an error response. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = [], opts: RpcCallOptions = {}): Promise<T> {
  const r = await rpcRaw(url, method, params, opts)
  if (r.error !== undefined) throw new Error(`${method}: ${r.error.code} ${r.error.message}`)
  return r.result as T
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== null && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
