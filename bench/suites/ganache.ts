/**
 * Runs ganache (installed on demand from the npm registry into .bench-cache/, not a project
 * dependency) with the same chain id, dev mnemonic and block time, for side-by-side figures.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../harness/process.ts'
import { rpc, waitFor } from '../harness/rpc.ts'

export const GANACHE_VERSION = '7.9.2'
const CACHE = join(ROOT, '.bench-cache', `ganache-${GANACHE_VERSION}`)

export interface Ganache {
  url: string
  wsUrl: string
  pid: number
  stop(): Promise<void>
}

export async function startGanache(opts: { port: number; blockTime: number }): Promise<Ganache> {
  const bin = join(CACHE, 'node_modules', 'ganache', 'dist', 'node', 'cli.js')
  if (!existsSync(bin)) {
    process.stderr.write(`  installing ganache@${GANACHE_VERSION} into ${CACHE} (once)...\n`)
    mkdirSync(CACHE, { recursive: true })
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', CACHE, `ganache@${GANACHE_VERSION}`], { stdio: 'ignore' })
  }
  const proc: ChildProcess = spawn(process.execPath, [
    bin, '--port', String(opts.port), '--chain.chainId', '1337', '--wallet.mnemonic', 'test test test test test test test test test test test junk',
    '--miner.blockTime', String(opts.blockTime), '--wallet.defaultBalance', '10000', '--miner.blockGasLimit', '0x11E1A300', '--logging.quiet',
  ], { stdio: 'ignore' })
  const url = `http://127.0.0.1:${opts.port}`
  await waitFor(() => rpc(url, 'eth_chainId').catch(() => undefined), 'ganache to listen', 60_000)
  return {
    url,
    wsUrl: `ws://127.0.0.1:${opts.port}`,
    pid: proc.pid!,
    stop: () => new Promise((resolve) => (proc.once('exit', () => resolve()), proc.kill('SIGTERM'))),
  }
}
