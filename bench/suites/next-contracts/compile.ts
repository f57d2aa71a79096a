/**
 * Issue 23's prototype contracts (contracts/src/next/) compiled in memory with the project's
 * pinned solc and the live build's settings. Nothing is written: the live artifacts and bindings
 * stay those of contracts/src/*.sol until the lead switches over.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Abi, Hex } from 'viem'
import { EVM_VERSION, loadSolc, SOLC_VERSION } from '../../../contracts/build.ts'

export const NEXT_DIR = 'contracts/src/next'

export interface Compiled {
  abi: Abi
  bytecode: Hex
  deployedBytecode: Hex
}

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
}

/**
 * Every deployable contract of contracts/src/next/ under `root`, by contract name. A compile
 * costs ~20 s of CPU, so the output is kept in `root`/.bench-cache/ (git-ignored) under the hash
 * of the sources it was made from (the next/ files and the live ones they import).
 */
export function compileNext(root: string): Map<string, Compiled> {
  const files = readdirSync(join(root, NEXT_DIR)).filter((f) => f.endsWith('.sol')).sort()
  const sources = Object.fromEntries(files.map((f) => [`${NEXT_DIR}/${f}`, { content: readFileSync(join(root, NEXT_DIR, f), 'utf8') }]))
  const hash = createHash('sha256').update(SOLC_VERSION).update(JSON.stringify(sources)).update(readFileSync(join(root, 'contracts/src/MedRecSystem.sol')))
  const cache = join(root, '.bench-cache', `next-contracts-${hash.digest('hex').slice(0, 16)}.json`)
  if (existsSync(cache)) return new Map(Object.entries(JSON.parse(readFileSync(cache, 'utf8')) as Record<string, Compiled>))
  const solc = loadSolc()
  if (!solc.version().startsWith(`${SOLC_VERSION}+`)) throw new Error(`solc ${solc.version()} is installed, the contracts are pinned to ${SOLC_VERSION}: run npm ci`)
  const settings = {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  }
  const resolve = (path: string) => (existsSync(join(root, path)) ? { contents: readFileSync(join(root, path), 'utf8') } : { error: `${path} not found` })
  const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }), { import: resolve })) as SolcOutput
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  const result = new Map<string, Compiled>()
  for (const [source, contracts] of Object.entries(out.contracts ?? {})) {
    if (!source.startsWith(NEXT_DIR)) continue
    for (const [name, c] of Object.entries(contracts)) {
      if (c.evm.deployedBytecode.object.length === 0 || !c.abi.some((x) => x.type === 'function')) continue // interfaces, abstract contracts, libraries
      result.set(name, { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` })
    }
  }
  mkdirSync(join(root, '.bench-cache'), { recursive: true })
  writeFileSync(cache, JSON.stringify(Object.fromEntries(result)))
  return result
}
