/**
 * One `medrec` node process, for everything here that drives real nodes (`medrec bench`, the
 * `npm run bench` suites, the e2e test helpers): spawned with the pinned Node on bin/medrec.js and
 * an IPC channel, ready when it says so over that channel (`{ event: 'ready', rpc, ws, ui? }`, sent by
 * `medrec start` once every part has started: a message, not a log line to parse), its JWT secret
 * then registered so that rpc() calls to its URLs authenticate; stopped with SIGTERM or killed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { errorMessage } from '../../common/errors.ts'
import { NAMESPACES, defaultJwtSecretPath, readJwtSecret } from '../../node/rpc/access.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { useNodeSecret } from './rpc.ts'

/** The repository root (the node processes' working directory). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MEDREC = join(ROOT, 'bin', 'medrec.js')
/** Every namespace the node has: what a node started here enables unless told otherwise. */
export const ALL_APIS = NAMESPACES.join(',')
/** MEDREC_NODE_PROFILE=DIR: every node process writes a V8 CPU profile to DIR when it ends. */
const PROFILE_DIR = process.env.MEDREC_NODE_PROFILE

export interface NodeProcessOptions {
  datadir: string
  /** `start` (default) or `mine`. */
  command?: 'start' | 'mine'
  /** Arguments after `--datadir DIR`; `--rpc.port 0` (any free port) unless they give one. */
  args?: readonly string[]
  /** Every namespace is enabled (ALL_APIS) unless `args` has its own `--rpc.api` or this is false (the node's own default). */
  rpcApi?: false
  env?: Record<string, string>
  /** Default 30 s. */
  timeoutMs?: number
  /** Appends everything the process writes to this file (a restarted node's log follows its first life's). */
  logFile?: string
  /** Keeps everything the process writes in memory for output() (default true; a long run with a logFile turns it off). */
  keepOutput?: boolean
  /** The command and arguments that run Node with `nodeArgs` (default: this Node itself); the tests run it without tap's module tracer. */
  launch?: (nodeArgs: string[]) => [command: string, args: string[]]
}

export interface NodeProcess {
  proc: ChildProcess
  pid: number
  /** HTTP and WebSocket JSON-RPC URLs. */
  url: string
  wsUrl: string
  /** The MedRec app's URL (`--ui`; on by default with --dev), else undefined. */
  uiUrl: string | undefined
  datadir: string
  /** Everything the process wrote so far (stdout + stderr); up to readiness only with keepOutput false. */
  output(): string
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>
  /** Whether the process has not exited. */
  running(): boolean
  /**
   * SIGTERM (after SIGCONT: a paused process would not act on it) and wait for the exit; with
   * `killAfterMs`, SIGKILL if it has not exited by then. Resolves with the exit code.
   */
  stop(opts?: { killAfterMs?: number }): Promise<number | null>
  /** SIGKILL and wait for the exit (SIGTERM under MEDREC_NODE_PROFILE: a killed process writes no profile). */
  kill(): Promise<void>
}

export function tempDir(prefix = 'medrec-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

/** What `medrec start` sends its parent over the IPC channel once it serves (cli/commands/start.ts). */
export interface NodeReady {
  event: 'ready'
  /** HTTP and WebSocket JSON-RPC URLs. */
  rpc: string
  ws: string
  /** The MedRec app's URL, when the node serves it (`--ui`, on by default with --dev). */
  ui?: string
}

export function isNodeReady(m: unknown): m is NodeReady {
  if (typeof m !== 'object' || m === null) return false
  const r = m as Record<string, unknown>
  return r.event === 'ready' && typeof r.rpc === 'string' && typeof r.ws === 'string'
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag)
  if (i >= 0) return args[i + 1]
  return args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1)
}

/** `medrec start` (or `mine`) on `opts.datadir`; resolves once its JSON-RPC serves and its JWT secret is registered. */
export function startNodeProcess(opts: NodeProcessOptions): Promise<NodeProcess> {
  const args = opts.args ?? []
  const profile = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const apis = opts.rpcApi === false || args.includes('--rpc.api') ? [] : ['--rpc.api', ALL_APIS]
  const port = flagValue(args, '--rpc.port') === undefined ? ['--rpc.port', '0'] : []
  const nodeArgs = [...profile, MEDREC, opts.command ?? 'start', '--datadir', opts.datadir, ...port, ...apis, ...args]
  const [command, commandArgs] = opts.launch?.(nodeArgs) ?? [process.execPath, nodeArgs]
  const proc = spawn(command, commandArgs, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    // fd 3: the IPC channel the node announces its readiness on (Node's own, as fork() uses).
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  const logFile = opts.logFile === undefined ? undefined : createWriteStream(opts.logFile, { flags: 'a' })
  const keep = opts.keepOutput !== false
  let out = ''
  let ready = false
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      logFile?.end()
      resolve(code)
    }),
  )
  const onData = (chunk: Buffer) => {
    logFile?.write(chunk)
    if (keep || !ready) out += chunk.toString()
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const running = () => proc.exitCode === null && proc.signalCode === null
  const timeoutMs = opts.timeoutMs ?? 30_000
  const where = opts.logFile === undefined ? '' : `; its log is in ${opts.logFile}`

  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) => {
      clearTimeout(timer)
      proc.kill('SIGKILL')
      reject(new BenchError(BenchErrorCode.NODE_START_FAILED, `node in ${opts.datadir} ${why}${where}:\n${out.slice(-4000)}`, undefined, cause))
    }
    const timer = setTimeout(() => fail(`did not start within ${timeoutMs} ms`), timeoutMs)
    const onEarlyExit = (code: number | null) => fail(`exited with ${code} before it was ready`)
    proc.once('exit', onEarlyExit)
    const onMessage = (m: unknown) => {
      if (!isNodeReady(m) || ready) return
      ready = true
      clearTimeout(timer)
      proc.off('exit', onEarlyExit)
      proc.off('message', onMessage)
      const url = m.rpc
      const wsUrl = m.ws
      // The node made its JWT secret before it listened; calls to it authenticate with it.
      const secretFile = flagValue(args, '--rpc.jwtsecret') ?? defaultJwtSecretPath(opts.datadir)
      readJwtSecret(secretFile).then(
        (secret) => {
          useNodeSecret(url, secret)
          useNodeSecret(wsUrl, secret)
          resolve({
            proc,
            pid: proc.pid!,
            url,
            wsUrl,
            uiUrl: typeof m.ui === 'string' ? m.ui : undefined,
            datadir: opts.datadir,
            output: () => out,
            exited,
            running,
            async stop(o = {}) {
              if (!running()) return exited
              proc.kill('SIGCONT')
              proc.kill('SIGTERM')
              if (o.killAfterMs === undefined) return exited
              const timeout = setTimeout(() => proc.kill('SIGKILL'), o.killAfterMs)
              const code = await exited
              clearTimeout(timeout)
              return code
            },
            async kill() {
              if (running()) proc.kill(PROFILE_DIR === undefined ? 'SIGKILL' : 'SIGTERM')
              await exited
            },
          })
        },
        (err: unknown) => fail(`left no readable JWT secret at ${secretFile}: ${errorMessage(err)}`, err),
      )
    }
    proc.on('message', onMessage)
  })
}
