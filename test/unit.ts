/**
 * `npm run test:unit`: the fast part of the suite, for the edit-test loop. `npm test` (tap) runs everything.
 *
 * Left out here: whatever starts node or CLI processes (e2e, most CLI tests, the gatekeeper against a
 * real node), compiles with solc, or spends seconds of CPU on purpose (geth-strength scrypt, mining
 * statistics, worker-thread pools, benchmark workloads). Every other test file runs, so a new one is in
 * by default.
 *
 * The files run under Node's own runner (`node --test`, which reads the TAP each file prints), one
 * process per file as under tap, but without the module tracer tap loads into every test process for
 * coverage (off in this project): a file that imports ethereumjs, viem or libp2p starts in half the CPU.
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Folders (trailing slash) and files left to `npm test`, each with why. */
const SLOW = [
  'test/e2e/', // real node processes
  'test/docs/commands.test.ts', // runs the README's shell blocks: nodes and CLI processes
  'test/docs/newcomer.test.ts', // a newcomer's walk through the CLI against a node
  'test/docs/no-warnings.test.ts', // starts node and CLI processes
  'test/cli/account.test.ts', // the CLI tests below spawn `medrec` per case (and nodes)
  'test/cli/authority.test.ts',
  'test/cli/gatekeeper-cli.test.ts',
  'test/cli/genesis.test.ts',
  'test/cli/help.test.ts',
  'test/cli/init.test.ts',
  'test/cli/send.test.ts',
  'test/cli/start.test.ts',
  'test/cli/start-metrics.test.ts',
  'test/bench/faults.test.ts', // `medrec bench run` clusters
  'test/bench/harness.test.ts',
  'test/bench/medrec-workload.test.ts',
  'test/bench/blockbench.test.ts', // the BlockBench workloads in a VM: ~25 s of CPU
  'test/bench/propagation.test.ts',
  'test/contracts/build.test.ts', // solc
  'test/contracts/client.test.ts', // a dev node
  'test/gatekeeper/access.test.ts', // a dev node with its gatekeeper
  'test/gatekeeper/audit-anchor.test.ts',
  'test/gatekeeper/bounty-release.test.ts',
  'test/node/metrics.test.ts',
  'test/rpc/miner.test.ts',
  'test/consensus/pow-miner.test.ts', // mining threads, and a node process
  'test/consensus/pow-difficulty.test.ts', // mines hundreds of blocks for the difficulty statistics
  'test/keys/keystore.test.ts', // scrypt at geth's standard strength
  'test/evm/call-pool.test.ts', // worker-thread pool start-ups and timeouts
]

const files = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.test.ts') && !SLOW.some((s) => (s.endsWith('/') ? f.startsWith(s) : f === s)))
  .sort()

// tap's own per-file timeout when a file runs outside tap's runner is 30 s; give them what package.json gives tap.
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=4', ...files], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TAP_TIMEOUT: '120' } })
process.exitCode = run.status ?? 1
