import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

/**
 * A real PostgreSQL server for one test file: initdb into a temp dir, started on a free
 * loopback port with its unix socket in the same dir, stopped and removed at teardown.
 * Debian's packages (`postgresql`, installed by .ci/run) put the binaries in
 * /usr/lib/postgresql/<major>/bin, not on PATH. PostgreSQL refuses to run as root, so as root
 * (CI) the server runs as the `postgres` system user (the package creates it), else `nobody`.
 */

export interface PostgresServer {
  /** A connection URL for database `db` (default: the server's `postgres` database). */
  url(db?: string): string
  host: string
  port: number
  /** The superuser the tests connect as. */
  user: string
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>
  stop(): void
}

interface TapLike {
  teardown(fn: () => unknown): void
}

/** Where initdb, pg_ctl and postgres are: pg_config's bindir, else the newest Debian major. */
export function postgresBinDir(): string | undefined {
  const hasAll = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)))
  const viaConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' })
  if (viaConfig.status === 0 && hasAll(viaConfig.stdout.trim())) return viaConfig.stdout.trim()
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a))
  return majors.map((m) => join(root, m, 'bin')).find(hasAll)
}

/** Why the PostgreSQL tests cannot run here, or undefined when they can; under CI its absence is a failure, not a skip. */
export function postgresSkipReason(): string | undefined {
  if (postgresBinDir() !== undefined) return undefined
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') return undefined
  return 'PostgreSQL server binaries not found (install Debian package postgresql; .ci/run does)'
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** The uid/gid to run the server as when we are root. */
function unprivileged(): { name: string; uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' })
    if (r.status !== 0) continue
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' })
    return { name, uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) }
  }
  throw new Error('running as root and neither a postgres nor a nobody user exists: PostgreSQL refuses to run as root')
}

export async function startPostgres(t: TapLike): Promise<PostgresServer> {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error('PostgreSQL server binaries not found: apt-get install -y postgresql')
  const as = unprivileged()
  // As root the server's user must reach the dir: /tmp is world-traversable where a TMPDIR under /root is not.
  const dir = mkdtempSync(join(as === undefined ? tmpdir() : '/tmp', 'medrec-pg-'))
  const data = join(dir, 'data')
  if (as !== undefined) chownSync(dir, as.uid, as.gid)
  /** Runs a server binary as the unprivileged user (runuser keeps our environment's PATH out of it). */
  const run = (cmd: string, args: string[]) => {
    const full = join(bin, cmd)
    const [file, argv] = as === undefined ? [full, args] : ['runuser', ['-u', as.name, '--', full, ...args]]
    return execFileSync(file, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
  }
  const user = 'medrec'
  run('initdb', ['-D', data, '-U', user, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
  const port = await freePort()
  const host = '127.0.0.1'
  const options = [`-p ${port}`, `-k ${dir}`, `-c listen_addresses=${host}`, '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=40']
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
    } catch {
      // Already gone: the dir is removed below either way.
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  try {
    run('pg_ctl', ['-D', data, '-o', options.join(' '), '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start'])
  } catch (err) {
    const log = spawnSync('cat', [join(dir, 'server.log')], { encoding: 'utf8' }).stdout
    stop()
    throw new Error(`PostgreSQL did not start: ${String(err)}\n${log}`)
  }
  const url = (db = 'postgres') => `postgres://${user}@${host}:${port}/${db}`
  return {
    url,
    host,
    port,
    user,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`test database name ${name} must be a plain identifier`)
      run('psql', ['-h', host, '-p', String(port), '-U', user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE ${name}`])
      return url(name)
    },
    stop,
  }
}
