import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MEDREC, ROOT } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'

export { tempDir } from '../helpers/node-process.ts'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `node ...args` (without tap's tracer) to its end, stdin not a terminal, collecting its output. */
function runNode(args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(...plainNode(args), { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    proc.on('error', reject)
    proc.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Runs the real `medrec` (bin/medrec.js) as a child process; stdin is not a terminal. */
export function medrec(args: string[], opts: { cwd?: string } = {}): Promise<CliResult> {
  return runNode([MEDREC, ...args], opts.cwd ?? ROOT)
}

const BATCH_DRIVER = join(ROOT, 'test', 'cli', 'batch-driver.ts')

/**
 * Runs each argument list as `medrec ...args` and resolves with their results in order, all in one
 * child process (batch-driver.ts): for cases that end in parsing (help, usage errors), where one
 * process per case would only add start-up time. Cases that start a node or touch files belong in medrec().
 */
export async function medrecBatch(cases: string[][], opts: { cwd?: string } = {}): Promise<CliResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-cli-batch-'))
  try {
    const file = join(dir, 'results.json')
    const r = await runNode([BATCH_DRIVER, file, JSON.stringify(cases)], opts.cwd ?? ROOT)
    if (r.code !== 0 || !existsSync(file)) throw new Error(`the CLI batch driver failed (exit ${r.code}):\n${r.stderr}${r.stdout}`)
    return JSON.parse(readFileSync(file, 'utf8')) as CliResult[]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A password file in `dir`. */
export function passwordFile(dir: string, password: string, name = 'pw.txt'): string {
  const path = join(dir, name)
  writeFileSync(path, password + '\n')
  return path
}

export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
export const DEV0 = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
export const DEV1 = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
