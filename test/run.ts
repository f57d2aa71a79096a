/**
 * The test runner. `npm test` (`node test/run.ts`) runs every file; `npm run test:unit`
 * (`node test/run.ts --unit`) runs the fast part, for the edit-test loop: everything but the files
 * listed in SLOW below, so a new test file is in by default.
 *
 * Files are written with tap's API and run under Node's own runner (`node --test`, which reads the TAP
 * each process prints). Not under tap's runner: it loads a module tracer and source maps into every
 * test process for coverage, which this project does not collect, and a file that imports
 * ethereumjs, viem or libp2p starts in twice the CPU under it. Each slow file has a process of its
 * own; the fast ones run in three processes that share them as a queue, several files one after
 * another in each (test/helpers/group.ts), because starting a process (type stripping, tap,
 * ethereumjs, libp2p, viem) costs more CPU than most of them take to run. There each file is a
 * subtest named after its path. Some files or folders, as the suite runs them: `npm test -- test/p2p/ test/chain/fork.test.ts`.
 * One file on its own: `node --test test/x.test.ts` (or `npx tap test/x.test.ts`). With
 * `--report-cpu`, a table of CPU seconds per test file (its process and every node and CLI process it
 * started; test/helpers/cpu-report.ts) follows the run, the largest first.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { cpuReportEnv, cpuRows, cpuTable } from './helpers/cpu-report.ts'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/** Folders (trailing slash) and files only `npm test` runs, each with why; they start first there, the longest ahead. */
const SLOW = [
  // Longest first (seconds: their tests' sum in the clean-clone CI run of 2026-12-07 at
  // --test-concurrency=3, less the cuts of 2026-12-08), so that none of them starts late and runs on
  // alone at the end while the other lanes idle.
  'test/sync/state-sync.test.ts', // state sync: node processes against a lying, a silent and a slow libp2p host (~80 s)
  'test/docs/commands.test.ts', // runs the README's shell blocks: nodes and CLI processes (~70 s)
  'test/e2e/network-sync.test.ts', // a 1,100-block sync, a 2|2 partition, a garbage peer: three networks of node processes (~60 s)
  'test/e2e/network.test.ts', // five node processes: four authorities vote a fifth in and out (~55 s)
  'test/rpc/dev-node.test.ts', // fourteen files' tests on three dev nodes, one node after another (~45 s)
  'test/ui/app.test.ts', // three node processes and a headless Chromium (~45 s)
  'test/e2e/state-sync.test.ts', // four node processes, one state-syncing (~40 s)
  'test/bench/harness.test.ts', // `medrec bench run` clusters (~40 s)
  'test/bench/faults.test.ts', // a `medrec bench run` with a node killed and restarted (~40 s)
  'test/bench/blockbench.test.ts', // the BlockBench workloads in a VM: ~25 s of CPU
  'test/e2e/delegates.test.ts', // four node processes with gatekeepers (~35 s)
  'test/e2e/netns.test.ts', // four nodes in network namespaces through two partitions (~35 s)
  'test/bench/medrec-workload.test.ts',
  'test/e2e/gatekeeper.test.ts',
  'test/gatekeeper/records-postgres-node.test.ts', // node processes on a PostgreSQL server the test starts
  'test/e2e/prune.test.ts', // a pruning node process killed three times
  'test/e2e/clock-skew.test.ts', // three authorities, one under libfaketime (~30 s)
  'test/e2e/pow.test.ts',
  'test/e2e/crash-recovery.test.ts',
  'test/e2e/discovery.test.ts',
  'test/e2e/', // real node processes
  'test/contracts/build.test.ts', // solc
  'test/contracts/client.test.ts', // a dev node
  'test/sync/lying-peer.test.ts', // node processes against lying libp2p hosts
  'test/bench/scale.test.ts', // the scale suite at 50 patients, and a node process
  'test/docs/no-warnings.test.ts', // starts node and CLI processes
  'test/clients/', // viem, ethers and cast in turn against one dev node, every operation of issue 20 (~240 s at a load of 25)
  'test/cli/init.test.ts',
  'test/cli/send.test.ts',
  'test/cli/start.test.ts',
  'test/keys/keystore.test.ts', // scrypt at geth's standard strength
  'test/gatekeeper/watch-events.test.ts', // a dev node with a dozen relationships
  'test/p2p/invalid-gossip.test.ts', // floods until a ban, then waits out a short one
  'test/gatekeeper/smart-launch.test.ts', // a node process over HTTPS, and a SMART launch in headless Chromium
  'test/evm/call-pool.test.ts', // worker-thread pool start-ups and timeouts
  'test/gatekeeper/access.test.ts', // a dev node with its gatekeeper
  'test/cli/authority.test.ts',
  'test/cli/account.test.ts', // the CLI tests spawn `medrec` per case (and nodes)
  'test/consensus/pow-difficulty.test.ts', // mines hundreds of blocks for the difficulty statistics
  'test/bench/propagation.test.ts',
  'test/consensus/pow-miner.test.ts', // mining threads, and a node process
  'test/gatekeeper/write-consistency.test.ts', // a node process killed and restarted mid-update
  'test/docs/newcomer.test.ts', // a newcomer's walk through the CLI against a node
  'test/gatekeeper/tls.test.ts', // two node processes, one pinned HTTPS read, a man in the middle
  'test/gatekeeper/fhir-api.test.ts', // a dev node in process with its gatekeeper (~20 s)
  'test/gatekeeper/record-source-postgres.test.ts', // a PostgreSQL server started and stopped (~15 s)
  'test/gatekeeper/tls-files.test.ts', // `medrec start` with bad certificate flags
  'test/gatekeeper/smart-units.test.ts', // the client CLI commands
  'test/ui/attacks.test.ts', // headless Chromium
  'test/bench/readiness.test.ts', // a node process
  'test/gatekeeper/audit-anchor.test.ts',
  'test/gatekeeper/bounty-release.test.ts',
  'test/node/metrics.test.ts',
  'test/cli/gatekeeper-cli.test.ts',
  'test/p2p/unfunded-flood.test.ts', // a sealing node process
  'test/cli/start-metrics.test.ts',
  'test/cli/help.test.ts',
  'test/cli/genesis.test.ts',
  'test/cli/genesis-fork.test.ts', // `medrec genesis new` per case
]

/** Fast files that need a process of their own, each with why (they change process-wide state and do not put it back). */
const ALONE: string[] = []

/**
 * The fast files run in this many processes that share them as a queue (test/helpers/group.ts
 * runQueue): each takes the next file not yet taken, so they end together. Fixed groups of 11
 * neighbouring files (8 to 10 processes) spent 6 to 20 CPU-s each, and the last to start ran on alone.
 */
const WORKERS = 3

const unit = process.argv.includes('--unit')
const reportCpu = process.argv.includes('--report-cpu')
/** `npm test -- test/p2p/ test/chain/fork.test.ts`: only these files and folders, run as they would be in the whole suite. */
const only = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const slowRank = (f: string) => SLOW.findIndex((s) => (s.endsWith('/') ? f.startsWith(s) : f === s))
const isSlow = (f: string) => slowRank(f) >= 0
const all = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
  .map((f) => `test/${f.split('\\').join('/')}`)
  .filter((f) => f.endsWith('.test.ts') && (only.length === 0 || only.some((o) => (o.endsWith('/') ? f.startsWith(o) : f === o))))
  .sort()
const slow = unit ? [] : all.filter(isSlow).sort((a, b) => slowRank(a) - slowRank(b))
const alone = all.filter((f) => ALONE.includes(f))
const fast = all.filter((f) => !isSlow(f) && !ALONE.includes(f))

// `node --test` takes files, so each queue process gets a small entry file in a temporary
// directory, next to the queue (the fast files in folder order: neighbours share most imports).
const entries = mkdtempSync(join(tmpdir(), 'medrec-test-groups-'))
const queue = join(entries, 'queue.json')
writeFileSync(queue, JSON.stringify(fast))
const groups: string[] = []
for (let i = 0; i < Math.min(WORKERS, fast.length); i++) {
  const entry = join(entries, `queue-${i + 1}.mjs`)
  const helper = pathToFileURL(join(ROOT, 'test/helpers/group.ts')).href
  writeFileSync(entry, `import { runQueue } from ${JSON.stringify(helper)}\nawait runQueue(${JSON.stringify(ROOT)}, ${JSON.stringify(queue)})\n`)
  groups.push(entry)
}

// Most slow files wait on block periods and child processes, and the queue's p2p files on sockets, so
// one more process than cores keeps both busy; more only crowds the files that wait on real time.
// tap's own per-file timeout when a file runs outside tap's runner is 30 s; give them what they need.
const args = ['--disable-warning=ExperimentalWarning', '--test', '--test-concurrency=3', ...slow, ...alone, ...groups]
// Every test process and every node and CLI process they start loads the same modules: Node's compile
// cache keeps V8's compiled code between them (checked against the source, so an edit just misses):
// ~10% of a `medrec --help`'s CPU, ~5% of a dev node's start.
const compileCache = process.env['NODE_COMPILE_CACHE'] ?? join(tmpdir(), 'medrec-test-compile-cache')
const cpuOut = join(entries, 'cpu.tsv')
const run = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, TAP_TIMEOUT: '240', NODE_COMPILE_CACHE: compileCache, ...(reportCpu ? cpuReportEnv(ROOT, cpuOut) : {}) } })
if (reportCpu) console.log(`\n${cpuTable(cpuRows(ROOT, existsSync(cpuOut) ? readFileSync(cpuOut, 'utf8') : ''))}`)
// A queue process that died (or one that never started) leaves files not run, which no TAP line names.
const notRun = fast.filter((_, i) => !existsSync(join(`${queue}.claims`, String(i), 'done')))
if (notRun.length > 0) console.log(`\nnot run: ${notRun.length} fast files, their queue process ended first (see its output above): ${notRun.join(' ')}`)
rmSync(entries, { recursive: true, force: true })
process.exitCode = notRun.length > 0 ? 1 : (run.status ?? 1)
