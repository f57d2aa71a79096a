/**
 * Compiles the Solidity sources with the pinned solc-js into committed artifacts and typed
 * bindings. `--check` recompiles in memory and exits 1 if anything on disk differs, so CI
 * proves the committed bytecode is what the sources produce. `--root DIR` compiles another
 * tree with the same layout (tests use it so they never touch the real one).
 *
 *   npm run build:contracts [-- --check] [-- --root DIR]
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { errorMessage } from '../common/errors.ts'
import { ContractsError, ContractsErrorCode } from './errors.ts'

export const SOLC_VERSION = '0.8.37'
/** Matches the chain: London headers with the Shanghai EVM (see evm/common.ts). */
export const EVM_VERSION = 'shanghai'

interface Target {
  source: string
  contract: string
  artifact: string
  binding: string
  constName: string
}

export const TARGETS: Target[] = [
  { source: 'contracts/src/AuthoritySet.sol', contract: 'AuthoritySet', artifact: 'contracts/artifacts/AuthoritySet.json', binding: 'contracts/generated/authority-set.ts', constName: 'authoritySet' },
  { source: 'contracts/src/Registrar.sol', contract: 'Registrar', artifact: 'contracts/artifacts/Registrar.json', binding: 'contracts/generated/registrar.ts', constName: 'registrar' },
  { source: 'contracts/src/Relationships.sol', contract: 'Relationships', artifact: 'contracts/artifacts/Relationships.json', binding: 'contracts/generated/relationships.ts', constName: 'relationships' },
  { source: 'contracts/src/Summary.sol', contract: 'Summary', artifact: 'contracts/artifacts/Summary.json', binding: 'contracts/generated/summary.ts', constName: 'summary' },
  {
    source: 'contracts/src/PatientProviderRelationship.sol',
    contract: 'PatientProviderRelationship',
    artifact: 'contracts/artifacts/PatientProviderRelationship.json',
    binding: 'contracts/generated/patient-provider-relationship.ts',
    constName: 'patientProviderRelationship',
  },
  // BlockBench's workloads for `medrec bench run` (bench/harness/workloads/); not predeployed.
  { source: 'contracts/src/bench/CPUHeavy.sol', contract: 'CPUHeavy', artifact: 'contracts/artifacts/bench/CPUHeavy.json', binding: 'contracts/generated/bench/cpu-heavy.ts', constName: 'cpuHeavy' },
  { source: 'contracts/src/bench/IOHeavy.sol', contract: 'IOHeavy', artifact: 'contracts/artifacts/bench/IOHeavy.json', binding: 'contracts/generated/bench/io-heavy.ts', constName: 'ioHeavy' },
  { source: 'contracts/src/bench/KVStore.sol', contract: 'KVStore', artifact: 'contracts/artifacts/bench/KVStore.json', binding: 'contracts/generated/bench/kv-store.ts', constName: 'kvStore' },
  { source: 'contracts/src/bench/SmallBank.sol', contract: 'SmallBank', artifact: 'contracts/artifacts/bench/SmallBank.json', binding: 'contracts/generated/bench/small-bank.ts', constName: 'smallBank' },
  { source: 'test/fixtures/contracts/Store.sol', contract: 'Store', artifact: 'test/fixtures/contracts/Store.json', binding: 'test/fixtures/contracts/store.ts', constName: 'store' },
]

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: EVM_VERSION,
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
}

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
}

/** The part of solc-js the build uses (injectable so tests can fake a wrong compiler). */
export interface SolcLike {
  version(): string
  compile(input: string, callbacks?: { import: (path: string) => { contents: string } | { error: string } }): string
}

export function loadSolc(): SolcLike {
  return createRequire(import.meta.url)('solc') as SolcLike
}

/** Compiles every target under `root`; returns repo-relative file path → exact file contents. */
export function compileAll(root: string, solc: SolcLike = loadSolc()): Map<string, string> {
  const version = solc.version()
  if (!version.startsWith(`${SOLC_VERSION}+`)) {
    throw new ContractsError(ContractsErrorCode.COMPILER_VERSION, `solc ${version} is installed but the contracts are pinned to ${SOLC_VERSION}: run \`npm ci\``, { version })
  }
  const sources = Object.fromEntries(TARGETS.map((t) => [t.source, { content: readFileSync(join(root, t.source), 'utf8') }]))
  // Sources import their siblings (`import "./MedRecSystem.sol"`), read from the same tree.
  const resolveImport = (path: string) => (existsSync(join(root, path)) ? { contents: readFileSync(join(root, path), 'utf8') } : { error: `${path} not found under ${root}` })
  const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings: SETTINGS }), { import: resolveImport })) as SolcOutput
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) {
    throw new ContractsError(ContractsErrorCode.COMPILE_FAILED, `solc failed; fix these in the Solidity sources:\n${errors.map((e) => e.formattedMessage).join('\n')}`, { count: errors.length })
  }
  const files = new Map<string, string>()
  for (const t of TARGETS) {
    const c = out.contracts?.[t.source]?.[t.contract]
    if (c === undefined) throw new ContractsError(ContractsErrorCode.MISSING_OUTPUT, `solc produced no contract ${t.contract} in ${t.source}: check the contract name in the source`, { source: t.source })
    const bytecode = `0x${c.evm.bytecode.object}`
    const deployedBytecode = `0x${c.evm.deployedBytecode.object}`
    const artifact = {
      contractName: t.contract,
      sourceName: t.source,
      abi: c.abi,
      bytecode,
      deployedBytecode,
      compiler: { version, settings: { optimizer: SETTINGS.optimizer, evmVersion: EVM_VERSION, metadata: SETTINGS.metadata } },
    }
    files.set(t.artifact, JSON.stringify(artifact, null, 2) + '\n')
    files.set(
      t.binding,
      [
        `// Generated by contracts/build.ts from ${t.source} (solc ${version}). Do not edit.`,
        `export const ${t.constName}Abi = ${JSON.stringify(c.abi, null, 2)} as const`,
        '',
        `export const ${t.constName}Bytecode = '${bytecode}' as const`,
        '',
        `export const ${t.constName}DeployedBytecode = '${deployedBytecode}' as const`,
        '',
      ].join('\n'),
    )
  }
  return files
}

/** The outputs under `root` that are missing or differ byte for byte from `files` (what `--check` reports). */
export function staleFiles(root: string, files: Map<string, string>): string[] {
  return [...files].filter(([path, text]) => !existsSync(join(root, path)) || readFileSync(join(root, path), 'utf8') !== text).map(([p]) => p)
}

function main(): void {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, root: { type: 'string' } } })
  const root = values.root ?? join(dirname(fileURLToPath(import.meta.url)), '..')
  let files: Map<string, string>
  try {
    files = compileAll(root)
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n`)
    process.exit(1)
  }
  if (values.check) {
    const stale = staleFiles(root, files)
    if (stale.length > 0) {
      process.stderr.write(`contract artifacts differ from the sources: ${stale.join(', ')}\nrun \`npm run build:contracts\` and commit the result\n`)
      process.exit(1)
    }
    process.stdout.write(`contract artifacts match the sources (${files.size} files, solc ${SOLC_VERSION})\n`)
    return
  }
  for (const [path, text] of files) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
    process.stdout.write(`wrote ${relative(process.cwd(), join(root, path))}\n`)
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main()
