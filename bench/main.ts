/**
 * `npm run bench [-- SUITE...] [--rate N] [--seconds S] [--senders N] [--period S] [--json]`
 * Suites: recovery, build, throughput, rss (default: these four), compare (the throughput
 * workload against medrec and ganache in one run), network (`--nodes N` authority processes,
 * then a fresh node syncing), gas (per MedRec contract operation) and gatekeeper (authorised
 * record reads/s with 1 and 16 clients; `--only fhir|signed` runs one path) and pow (hash rate against raw keccak-256, then a network
 * of 3 miners at a 2 s target), keccak (the node's WebAssembly keccak-256 against @noble/hashes),
 * calls (`--attackers N` clients flooding max-gas loop eth_calls: other requests' p50/p99, blocks
 * sealed, the --rpc.evmtimeout (`--timeout 2s`) firing; `--old` adds the main-thread behaviour),
 * faults (the reliability suite, suites/faults/: SIGKILL loop, disk full, partitions, a lossy
 * link, clock skew, byzantine peers; `--only a,b` picks scenarios, `--quick` shortens them; each
 * prints a verdict, and the process exits 1 when one failed), compare-anvil (calls and a block-building
 * burst against anvil from its npm package, with the ratios; `--only calls|blocks`, `--quick`),
 * prune (chain database size after 2,000 blocks of storage rewrites, --gcmode full vs archive),
 * state-sync (a fresh node's join time, full sync vs --syncmode snap; `--blocks N --accounts N`),
 * scale (MedRec onboarding of `--patients N` with two providers each, in-process; `--join` adds the joins).
 * Prints figures; asserts nothing.
 */
import { parseArgs } from 'node:util'
import { setLogLevel } from '../common/logger.ts'
import { idleRss, runThroughput } from './suites/node-throughput.ts'
import { printTable } from './suites/report.ts'
import { runRecovery } from './suites/recovery.ts'
import { runBuildProfile } from './suites/build-profile.ts'
import { startGanache } from './suites/ganache.ts'
import { runGasTable } from './suites/gas.ts'
import { runNetworkBench } from './suites/network.ts'
import { runGatekeeperBench } from './suites/gatekeeper.ts'
import { runPowHashBench } from './suites/pow-hash.ts'
import { runPowNetworkBench } from './suites/pow-network.ts'
import { runKeccakBench } from './suites/keccak.ts'
import { runTxGossipBench } from './suites/tx-gossip.ts'
import { runCallFlood } from './suites/call-flood.ts'
import { runFaults } from './suites/faults/index.ts'
import { COMPARE_ANVIL_DEFAULTS, runCompareAnvil } from './suites/compare-anvil.ts'
import { runPruneBench } from './suites/prune.ts'
import { runStateSyncBench } from './suites/state-sync.ts'
import { runScaleBench, scaleRows } from './suites/scale.ts'

setLogLevel('warn')
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string', default: '700' },
    seconds: { type: 'string', default: '20' },
    senders: { type: 'string', default: '32' },
    period: { type: 'string', default: '2' },
    nodes: { type: 'string', default: '4' },
    requests: { type: 'string', default: '4000' },
    records: { type: 'string', default: '20' },
    url: { type: 'string' },
    ws: { type: 'string' },
    json: { type: 'boolean', default: false },
    miners: { type: 'string', default: '3' },
    difficulty: { type: 'string', default: '400000' },
    attackers: { type: 'string', default: '4' },
    timeout: { type: 'string', default: '2s' },
    old: { type: 'boolean', default: false },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    blocks: { type: 'string', default: '1000' },
    accounts: { type: 'string', default: '100' },
    patients: { type: 'string', default: '1000' },
    join: { type: 'boolean', default: false },
  },
})
const suites = positionals.length > 0 ? positionals : ['recovery', 'build', 'throughput', 'rss']
const known = new Set(['recovery', 'build', 'throughput', 'rss', 'compare', 'network', 'gas', 'gatekeeper', 'pow', 'keccak', 'calls', 'faults', 'compare-anvil', 'prune', 'state-sync', 'tx-gossip', 'scale'])
for (const s of suites) {
  if (!known.has(s)) {
    process.stderr.write(`unknown bench suite "${s}": choose from ${[...known].join(', ')}\n`)
    process.exit(2)
  }
}
process.stderr.write(`medrec bench on ${process.version}, ${(await import('node:os')).availableParallelism()} cores\n`)
for (const s of suites) {
  process.stderr.write(`running ${s}...\n`)
  if (s === 'recovery') printTable('Sender recovery (4,000 EIP-1559 transactions)', await runRecovery(), values.json)
  if (s === 'tx-gossip') await runTxGossipBench()
  if (s === 'keccak') printTable('keccak-256, WebAssembly (the node) vs JavaScript, main thread', runKeccakBench(), values.json)
  const o = { rate: Number(values.rate), seconds: Number(values.seconds), senders: Number(values.senders), period: Number(values.period) }
  if (s === 'build') printTable('Block building in-process (contract writes, senders already recovered)', await runBuildProfile(), values.json)
  if (s === 'compare') {
    const ours = await runThroughput({ ...o, label: 'medrec' })
    const g = await startGanache({ port: 18545, blockTime: o.period })
    try {
      const theirs = await runThroughput({ ...o, url: g.url, wsUrl: g.wsUrl, pid: g.pid, label: 'ganache 7.9.2' })
      printTable(`medrec vs ganache, same workload (${o.rate}/s offered, ${o.senders} senders, ${o.period}s blocks, ${o.seconds}s)`, [...ours, ...theirs], values.json)
    } finally {
      await g.stop()
    }
  }
  if (s === 'throughput') {
    printTable(
      `Single-node contract writes over JSON-RPC (${o.rate}/s offered, ${o.senders} senders, ${o.period}s blocks, ${o.seconds}s)`,
      await runThroughput({ ...o, url: values.url, wsUrl: values.ws, label: values.url === undefined ? 'medrec' : values.url }),
      values.json,
    )
  }
  if (s === 'rss') printTable('Memory', await idleRss(), values.json)
  if (s === 'gatekeeper') {
    const g = { requests: Number(values.requests), records: Number(values.records), only: values.only }
    printTable(`Gatekeeper: authorised record reads over HTTPS, signed requests and the FHIR API with a SMART token (${g.records} records per answer)`, await runGatekeeperBench(g), values.json)
  }
  if (s === 'prune') printTable('State pruning: --gcmode full (128 blocks) vs archive, 2,000 blocks each rewriting 64 storage slots', await runPruneBench(), values.json)
  if (s === 'state-sync') printTable('Joining a network: full sync vs --syncmode snap, one source node', await runStateSyncBench({ blocks: Number(values.blocks), accounts: Number(values.accounts) }), values.json)
  if (s === 'scale') {
    const r = await runScaleBench({ patients: Number(values.patients), join: values.join, progress: (l) => process.stderr.write(`${l}\n`) })
    printTable(`MedRec at scale: ${values.patients} patients × 2 providers, 4-authority PoA genesis, onboarded in-process (real Chain and LevelDB)`, scaleRows(r), values.json)
  }
  if (s === 'gas') printTable('Gas per MedRec contract operation (embedded EVM, receipt gas)', await runGasTable(), values.json)
  if (s === 'pow') {
    printTable('Proof-of-work hash rate (keccak-256 hashcash), side by side', await runPowHashBench(), values.json)
    // The workload default (700/s) is the single-node throughput one; miners get a modest load.
    const rate = process.argv.includes('--rate') ? o.rate : 50
    const p = { miners: Number(values.miners), rate, seconds: o.seconds, senders: o.senders, targetBlockTime: 2, difficulty: BigInt(values.difficulty) }
    printTable(`PoW network of ${p.miners} mining processes on this machine (${p.rate}/s offered, 2 s target, ${p.seconds}s)`, await runPowNetworkBench(p), values.json)
  }
  if (s === 'calls') {
    const c = { seconds: o.seconds, attackers: Number(values.attackers), period: process.argv.includes('--period') ? o.period : 1, timeout: values.timeout, old: false }
    const title = (old: boolean) => `eth_call flood: ${c.attackers} clients sending 1e9-gas endless loops back to back (--rpc.gascap 1e9, --rpc.evmtimeout ${c.timeout}), ${c.period}s blocks, ${c.seconds}s${old ? ', calls on the main thread (--rpc.callworkers 0, the old behaviour)' : ''}`
    printTable(title(false), await runCallFlood(c), values.json)
    if (values.old) printTable(title(true), await runCallFlood({ ...c, old: true }), values.json)
  }
  if (s === 'faults') {
    const results = await runFaults({ only: values.only, quick: values.quick, json: values.json })
    if (results.some((r) => r.verdict === 'fail')) process.exitCode = 1
  }
  if (s === 'compare-anvil') {
    const phases = new Set((values.only ?? 'calls,blocks').split(',').filter((p): p is 'calls' | 'blocks' => p === 'calls' || p === 'blocks'))
    if (phases.size === 0) {
      process.stderr.write(`compare-anvil: --only takes calls, blocks or both ("calls,blocks"), got "${values.only}"\n`)
      process.exit(2)
    }
    const quick = values.quick ? { calls: 5, bigCalls: 3, total: 1_000 } : {}
    for (const t of await runCompareAnvil({ ...COMPARE_ANVIL_DEFAULTS, ...quick, phases })) printTable(t.title, t.rows, values.json)
  }
  if (s === 'network') {
    const n = { nodes: Number(values.nodes), rate: o.rate, seconds: o.seconds, senders: o.senders, period: o.period }
    printTable(`PoA network of ${n.nodes} authority processes on this machine (${n.rate}/s offered round-robin, ${n.senders} senders, ${n.period}s blocks, ${n.seconds}s)`, await runNetworkBench(n), values.json)
  }
}
