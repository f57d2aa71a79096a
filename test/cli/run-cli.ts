import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MEDREC, NODE, ROOT } from '../helpers/node-process.ts'

export { tempDir } from '../helpers/node-process.ts'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real `medrec` (bin/medrec.js) as a child process; stdin is not a terminal. */
export function medrec(args: string[], opts: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(NODE, [MEDREC, ...args], { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    proc.on('error', reject)
    proc.on('close', (code) => resolve({ code, stdout, stderr }))
  })
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
