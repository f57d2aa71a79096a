import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { keccak256, toBytes } from 'viem'
import { compileAll, loadSolc, SOLC_VERSION, staleFiles, TARGETS } from '../../contracts/build.ts'
import { ContractsErrorCode, decodeLog, decodeResult, decodeRevert, encodeCall } from '../../contracts/index.ts'
import { storeAbi, storeBytecode } from '../fixtures/contracts/store.ts'
import { actor, createContractVM } from '../helpers/contract-vm.ts'
import { ROOT } from '../helpers/node-process.ts'
import { plainNode } from '../helpers/plain-node.ts'

const run = promisify(execFile)
const BUILD = join(ROOT, 'contracts/build.ts')
// Every Solidity file (targets import shared ones such as MedRecSystem.sol), and every output.
const SOURCES = [...readdirSync(join(ROOT, 'contracts/src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.sol')).map((f) => `contracts/src/${f}`), 'test/fixtures/contracts/Store.sol']
const OUTPUTS = TARGETS.flatMap((x) => [x.artifact, x.binding])

async function build(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(...plainNode([BUILD, ...args]), { cwd: ROOT })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/**
 * The outputs of the committed sources, compiled once in this process: a solc compile costs seconds of CPU, so
 * the cases that only alter outputs compare against these (what `--check` does), and the command runs where its
 * exit status and messages are the point.
 */
let compiled: Map<string, string> | undefined
const committedOutputs = (): Map<string, string> => (compiled ??= compileAll(ROOT))

/** A private copy of the sources and committed outputs, so no test touches the real tree. */
function sandbox(t: Test): string {
  const dir = t.testdir({})
  for (const f of [...SOURCES, ...OUTPUTS]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    cpSync(join(ROOT, f), join(dir, f))
  }
  return dir
}

t.test('--check passes on the committed artifacts', async (t) => {
  const res = await build('--check')
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, `contract artifacts match the sources (${OUTPUTS.length} files, solc ${SOLC_VERSION})`)
  t.equal(OUTPUTS.length, 20, 'ten contracts (six, and the four BlockBench ones), an artifact and a binding each')
})

t.test('--check fails and names the file when an artifact is altered or missing', async (t) => {
  const dir = sandbox(t)
  t.same(staleFiles(dir, committedOutputs()), [], 'the copy checks clean')

  const artifact = join(dir, 'contracts/artifacts/Registrar.json')
  const original = readFileSync(artifact, 'utf8')
  writeFileSync(artifact, original.replace('"deployedBytecode": "0x60', '"deployedBytecode": "0x61'))
  t.same(staleFiles(dir, committedOutputs()), ['contracts/artifacts/Registrar.json'], 'only the altered file is stale')
  rmSync(join(dir, 'test/fixtures/contracts/store.ts'))
  const res = await build('--check', '--root', dir)
  t.equal(res.code, 1)
  t.match(res.stderr, 'contract artifacts differ from the sources: contracts/artifacts/Registrar.json, test/fixtures/contracts/store.ts\n')
  t.match(res.stderr, 'run `npm run build:contracts`')
  t.notMatch(res.stderr, 'AuthoritySet.json', 'only the altered and the missing file are named')

  // a trailing-newline difference is a difference: outputs must be byte-identical
  writeFileSync(artifact, original)
  writeFileSync(join(dir, 'test/fixtures/contracts/store.ts'), readFileSync(join(ROOT, 'test/fixtures/contracts/store.ts'), 'utf8').trimEnd())
  t.same(staleFiles(dir, committedOutputs()), ['test/fixtures/contracts/store.ts'])
})

t.test('a rebuild writes byte-identical files and then checks clean', async (t) => {
  const dir = sandbox(t)
  for (const f of OUTPUTS) rmSync(join(dir, f))
  const res = await build('--root', dir)
  t.equal(res.code, 0, res.stderr)
  for (const f of OUTPUTS) {
    const text = readFileSync(join(dir, f), 'utf8')
    t.equal(text, readFileSync(join(ROOT, f), 'utf8'), `${f} is byte-identical to the committed one`)
    t.ok(text.endsWith('\n') && !text.endsWith('\n\n'), `${f} ends with one newline`)
  }
  t.same(staleFiles(dir, committedOutputs()), [], 'and checks clean')
})

t.test('a Solidity error fails loudly with solc\'s formatted message', async (t) => {
  const dir = sandbox(t)
  const src = join(dir, 'contracts/src/Registrar.sol')
  writeFileSync(src, readFileSync(src, 'utf8').replace('function providerCount()', 'function providerCount( uint256'))
  const res = await build('--check', '--root', dir)
  t.equal(res.code, 1)
  t.match(res.stderr, 'solc failed; fix these in the Solidity sources:')
  t.match(res.stderr, /ParserError: .*\n.*contracts\/src\/Registrar.sol:\d+:\d+/, 'solc\'s formatted error, with the repo-relative source path')
  t.throws(() => compileAll(dir), { name: 'ContractsError', code: ContractsErrorCode.COMPILE_FAILED })
})

t.test('the compiler is pinned and its output validated', async (t) => {
  const real = loadSolc()
  t.match(real.version(), new RegExp(`^${SOLC_VERSION.replaceAll('.', '\\.')}\\+`))
  t.throws(() => compileAll(ROOT, { version: () => '0.8.36+commit.deadbeef', compile: real.compile }), {
    code: ContractsErrorCode.COMPILER_VERSION,
    message: 'solc 0.8.36+commit.deadbeef is installed but the contracts are pinned to 0.8.37: run `npm ci`',
  })
  t.throws(() => compileAll(ROOT, { version: () => '0.8.370+commit.x', compile: real.compile }), { code: ContractsErrorCode.COMPILER_VERSION }, 'a prefix is not a match')
  t.throws(() => compileAll(ROOT, { version: real.version, compile: () => JSON.stringify({ contracts: {} }) }), {
    code: ContractsErrorCode.MISSING_OUTPUT,
    message: 'solc produced no contract AuthoritySet in contracts/src/AuthoritySet.sol: check the contract name in the source',
  })
})

t.test('artifacts record the exact compiler and settings', async (t) => {
  for (const f of OUTPUTS.filter((f) => f.endsWith('.json'))) {
    const a = JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as Record<string, unknown> & { compiler: { version: string; settings: Record<string, unknown> } }
    t.same(Object.keys(a), ['contractName', 'sourceName', 'abi', 'bytecode', 'deployedBytecode', 'compiler'], `${f} key order`)
    t.match(a.compiler.version, /^0\.8\.37\+commit\./)
    t.same(a.compiler.settings, { optimizer: { enabled: true, runs: 200 }, evmVersion: 'shanghai', metadata: { bytecodeHash: 'none' } })
    t.match(a.deployedBytecode as string, /^0x[0-9a-f]+$/)
  }
})

t.test('the Store fixture deploys and behaves as the other tests expect', async (t) => {
  const alice = actor('store-alice')
  const vm = await createContractVM([], [alice])
  const store = await vm.deploy(alice, storeBytecode)

  const set = await vm.send(alice, store, encodeCall(storeAbi, 'set', [42n]))
  t.equal(set.ok, true)
  const ev = decodeLog(storeAbi, set.logs[0]!.topics, set.logs[0]!.data)
  t.equal(set.logs[0]!.topics[0], keccak256(toBytes('ValueSet(address,uint256)')))
  t.same(ev.eventName === 'ValueSet' ? [ev.args.who.toLowerCase(), ev.args.value] : [], [alice.hex, 42n])
  t.equal(decodeResult(storeAbi, 'get', (await vm.call(alice.address, store, encodeCall(storeAbi, 'get', [alice.hex]))).returnData), 42n)

  const tooLarge = await vm.send(alice, store, encodeCall(storeAbi, 'set', [1001n]))
  t.equal(tooLarge.ok, false)
  const reason = decodeRevert(storeAbi, tooLarge.returnData)
  t.equal(reason.errorName, 'Error', 'a require() reason string')
  t.same(reason.args, ['Store: value too large'])

  const small = await vm.call(alice.address, store, encodeCall(storeAbi, 'checkMin', [3n]))
  const err = decodeRevert(storeAbi, small.returnData)
  t.equal(err.errorName, 'TooSmall')
  t.same(err.args, [3n, 10n])

  for (let i = 1n; i <= 3n; i++) {
    const inc = await vm.send(alice, store, encodeCall(storeAbi, 'increment', []))
    const log = decodeLog(storeAbi, inc.logs[0]!.topics, inc.logs[0]!.data)
    t.same(log.eventName === 'Incremented' ? log.args.counter : undefined, i)
  }
  t.equal(decodeResult(storeAbi, 'counter', (await vm.call(alice.address, store, encodeCall(storeAbi, 'counter', []))).returnData), 3n)
})
