/**
 * The test runner. `npm test` (`node test/run.ts`) runs every file; `npm run test:unit`
 * (`node test/run.ts --unit`) runs the fast part, for the edit-test loop: everything but the files
 * listed in SLOW below, so a new test file is in by default.
 *
 * Files are written with tap's API and run under Node's own runner (`node --test`, which reads the TAP
 * each file prints), one process per file. Not under tap's runner: it loads a module tracer and source
 * maps into every test process for coverage, which this project does not collect, and a file that
 * imports ethereumjs, viem or libp2p starts in twice the CPU under it. One file: `node --test test/x.test.ts`
 * (or `npx tap test/x.test.ts`).
 */
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Folders (trailing slash) and files only `npm test` runs, each with why; they start first there, the longest ahead. */
const SLOW = [
  'test/docs/commands.test.ts', // runs the README's shell blocks: nodes and CLI processes
  'test/e2e/netns.test.ts', // four nodes in network namespaces through two partitions (~100 s)
  'test/e2e/clock-skew.test.ts', // three authorities, one under libfaketime (~80 s)
  'test/e2e/network-sync.test.ts',
  'test/e2e/', // real node processes
  'test/bench/harness.test.ts', // `medrec bench run` clusters
  'test/bench/faults.test.ts',
  'test/bench/medrec-workload.test.ts',
  'test/bench/blockbench.test.ts', // the BlockBench workloads in a VM: ~25 s of CPU
  'test/consensus/pow-miner.test.ts', // mining threads, and a node process
  'test/evm/call-pool.test.ts', // worker-thread pool start-ups and timeouts
  'test/contracts/build.test.ts', // solc
  'test/contracts/client.test.ts', // a dev node
  'test/cli/account.test.ts', // the CLI tests spawn `medrec` per case (and nodes)
  'test/cli/send.test.ts',
  'test/docs/newcomer.test.ts', // a newcomer's walk through the CLI against a node
  'test/gatekeeper/write-consistency.test.ts', // a node process killed and restarted mid-update
  'test/gatekeeper/access.test.ts', // a dev node with its gatekeeper
  'test/rpc/geth-methods.test.ts', // a dev node
  'test/rpc/calls-geth.test.ts',
  'test/rpc/trace.test.ts',
  'test/rpc/get-proof.test.ts',
  'test/rpc/dev-accounts.test.ts',
  'test/rpc/finality.test.ts',
  'test/rpc/pricelimit.test.ts',
  'test/rpc/subscriptions-geth.test.ts',
  'test/cli/init.test.ts',
  'test/keys/keystore.test.ts', // scrypt at geth's standard strength
  'test/cli/authority.test.ts',
  'test/bench/propagation.test.ts',
  'test/bench/readiness.test.ts', // a node process
  'test/cli/start.test.ts',
  'test/gatekeeper/audit-anchor.test.ts',
  'test/docs/no-warnings.test.ts', // starts node and CLI processes
  'test/gatekeeper/bounty-release.test.ts',
  'test/node/metrics.test.ts',
  'test/cli/gatekeeper-cli.test.ts',
  'test/rpc/miner.test.ts',
  'test/p2p/invalid-gossip.test.ts', // floods until a ban, then waits out a short one
  'test/sync/lying-peer.test.ts', // node processes against lying libp2p hosts
  'test/p2p/unfunded-flood.test.ts', // a sealing node process
  'test/consensus/pow-difficulty.test.ts', // mines hundreds of blocks for the difficulty statistics
  'test/cli/start-metrics.test.ts',
  'test/cli/help.test.ts',
  'test/cli/genesis.test.ts',
  'test/cli/genesis-fork.test.ts', // `medrec genesis new` per case
]

const unit = process.argv.includes('--unit')
const slowRank = (f: string) => SLOW.findIndex((s) => (s.endsWith('/') ? f.startsWith(s) : f === s))
const isSlow = (f: string) => slowRank(f) >= 0
const all = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
const files = unit ? all.filter((f) => !isSlow(f)) : [...all.filter(isSlow).sort((a, b) => slowRank(a) - slowRank(b)), ...all.filter((f) => !isSlow(f))]

// Most slow files wait on block periods and child processes, so one more file than cores keeps both busy.
// tap's own per-file timeout when a file runs outside tap's runner is 30 s; give them what they need.
const args = ['--disable-warning=ExperimentalWarning', '--test', `--test-concurrency=${unit ? 4 : 3}`, ...files]
const run = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TAP_TIMEOUT: '240' } })
process.exitCode = run.status ?? 1
