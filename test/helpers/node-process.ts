import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

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
/** `medrec start` (or `opts.command`, e.g. `mine`) on `opts.datadir`, RPC on any free port; resolves once it serves. */
export function startNodeProcess(args: string[], opts: { datadir: string; timeoutMs?: number; env?: Record<string, string>; command?: 'start' | 'mine' }): Promise<NodeProcess> {
  const profile = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const proc = spawn(NODE, [...profile, MEDREC, opts.command ?? 'start', '--datadir', opts.datadir, '--rpc.port', '0', ...args], {
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

let rpcId = 0
/** One JSON-RPC call over HTTP; returns the whole response object. */
export async function rpcRaw(url: string, method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: { code: number; message: string; data?: unknown } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }) })
  return (await res.json()) as { result?: unknown; error?: { code: number; message: string } }
}

/** One JSON-RPC call; throws on an error response. */
export async function rpc<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const r = await rpcRaw(url, method, params)
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
