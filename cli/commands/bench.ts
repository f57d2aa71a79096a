import { readdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { errorCode, errorMessage } from '../../common/errors.ts'
// Only the harness's light modules here: every `medrec` command (and --help) loads this spec, and
// the harness itself (workloads, contracts, clients) is loaded when a bench command runs.
import type { ConsensusKind } from '../../bench/harness/cluster.ts'
import { BenchErrorCode, isBenchError } from '../../bench/harness/errors.ts'
import { readKeyFile } from '../../bench/harness/external.ts'
import { FAULT_DESCRIPTIONS, FAULT_KINDS, parseFaults } from '../../bench/harness/faults.ts'
import { DEFAULT_CONFIRMATIONS } from '../../bench/harness/timing.ts'
import { WORKLOAD_CATALOG, WORKLOAD_NAMES, workloadInfo } from '../../bench/harness/workloads/catalog.ts'
import { parseInteger } from '../args.ts'
import { CliError, CliErrorCode, usageError } from '../errors.ts'
import { note, out, outJson } from '../io.ts'
import type { CommandSpec, GroupSpec, ParsedFlags } from '../types.ts'
import { JSON_OUT, formatTable, requireFlag } from './shared.ts'

const int = (flags: ParsedFlags, name: string, fallback: number, min: number, max: number): number =>
  flags.has(name) ? Number(parseInteger(flags.string(name)!, name, BigInt(min), BigInt(max))) : fallback

/** Refuses a --out that already holds files: a run takes minutes, and its results should not be overwritten by accident. */
async function checkOut(dir: string): Promise<void> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return
    if (errorCode(err) === 'ENOTDIR') throw usageError(`invalid value for --out: ${dir} is a file, not a directory`)
    throw err
  }
  if (entries.length > 0) throw usageError(`invalid value for --out: ${dir} is not empty; pass a new directory (or delete this one) so an earlier result is not overwritten`)
}

/** A comma list of http(s) or ws(s) URLs for `flag`. */
function urlList(flags: ParsedFlags, flag: string, protocols: readonly string[]): string[] | undefined {
  const raw = flags.string(flag)
  if (raw === undefined) return undefined
  const urls = raw.split(',').map((u) => u.trim()).filter((u) => u !== '')
  if (urls.length === 0 || urls.length > 16) throw usageError(`invalid value for --${flag}: expected 1 to 16 comma-separated URLs, got "${raw}"`)
  for (const u of urls) {
    let p: string
    try {
      p = new URL(u).protocol
    } catch {
      throw usageError(`invalid value for --${flag}: "${u}" is not a URL`)
    }
    if (!protocols.includes(p)) throw usageError(`invalid value for --${flag}: "${u}" must start with ${protocols.map((x) => `${x}//`).join(' or ')}`)
  }
  return urls
}

/** --rpc and its companions; the flags that start nodes make no sense with it. */
function rpcTarget(flags: ParsedFlags, workload: string): { urls: string[]; wsUrls?: string[]; key: Uint8Array } | undefined {
  const urls = urlList(flags, 'rpc', ['http:', 'https:'])
  if (urls === undefined) {
    for (const f of ['rpc.ws', 'rpc.key']) if (flags.has(f)) throw usageError(`--${f} needs --rpc URL,...`)
    return undefined
  }
  for (const f of ['nodes', 'consensus', 'keep']) if (flags.has(f)) throw usageError(`--${f} cannot be used with --rpc: no nodes are started, the endpoints are what runs`)
  if (workloadInfo(workload)?.ownNodes === true) throw usageError(`--workload ${workload} cannot run with --rpc: it starts its nodes with its own arguments; run it without --rpc`)
  const wsUrls = urlList(flags, 'rpc.ws', ['ws:', 'wss:'])
  if (wsUrls !== undefined && wsUrls.length !== urls.length) throw usageError(`invalid value for --rpc.ws: ${wsUrls.length} URLs for ${urls.length} --rpc URLs; give one per endpoint, in the same order`)
  const keyFile = flags.string('rpc.key')
  if (keyFile === undefined) throw usageError('--rpc needs --rpc.key FILE: a file with the hex private key of a funded account, which pays for the senders')
  let key: Uint8Array
  try {
    key = readKeyFile(resolve(keyFile))
  } catch (err) {
    throw usageError(`invalid value for --rpc.key: ${errorMessage(err).replace(/^--rpc\.key /, '')}`)
  }
  return { urls, key, ...(wsUrls === undefined ? {} : { wsUrls }) }
}

async function run(flags: ParsedFlags): Promise<void> {
  // Every flag is checked before a node starts (exit 2).
  const consensus = flags.string('consensus') ?? 'poa'
  if (consensus !== 'poa' && consensus !== 'pow') throw usageError(`invalid value for --consensus: expected poa or pow, got "${consensus}"`)
  const period = int(flags, 'period', 2, 1, 600)
  const workload = flags.string('workload') ?? 'transfer'
  if (workloadInfo(workload) === undefined) throw usageError(`invalid value for --workload: expected one of ${WORKLOAD_NAMES.join(', ')}, got "${workload}"`)
  const rpcTo = rpcTarget(flags, workload)
  const nodes = rpcTo?.urls.length ?? int(flags, 'nodes', 4, 1, 16)
  if (flags.has('rate') && flags.has('clients')) throw usageError('--rate and --clients exclude each other: --rate R sends open loop at R/s, --clients C runs C closed-loop clients; pick one')
  const clients = flags.has('clients') ? int(flags, 'clients', 0, 1, 10_000) : undefined
  const rate = clients === undefined ? int(flags, 'rate', 50, 1, 100_000) : undefined
  const duration = int(flags, 'duration', 20, 1, 86_400)
  const warmup = int(flags, 'warmup', 5, 0, 3_600)
  const confirmations = int(flags, 'confirmations', DEFAULT_CONFIRMATIONS, 1, 64)
  const faultSpec = flags.string('faults')
  if (faultSpec !== undefined && rpcTo !== undefined) throw usageError('--faults cannot be used with --rpc: faults act on the nodes the harness starts')
  let faults: ReturnType<typeof parseFaults> = []
  try {
    if (faultSpec !== undefined) faults = parseFaults(faultSpec, nodes, warmup + duration)
  } catch (err) {
    throw usageError(`invalid value for --faults: ${errorMessage(err)}`)
  }
  const outDir = resolve(requireFlag(flags, 'out', 'DIR'))
  await checkOut(outDir)

  const { defaultSenders, faultRows, REPORT_FILES, runBench, summaryRows } = await import('../../bench/harness/index.ts')
  const ac = new AbortController()
  const onSignal = () => ac.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    const result = await runBench({
      nodes,
      consensus: consensus satisfies ConsensusKind,
      period,
      workload,
      ...(rate === undefined ? {} : { rate }),
      ...(clients === undefined ? {} : { clients }),
      ...(rpcTo === undefined ? {} : { rpc: rpcTo }),
      ...(faults.length === 0 ? {} : { faults }),
      duration,
      warmup,
      confirmations,
      // Closed loop: a sender (or a few) per client, so clients own disjoint senders.
      senders: clients === undefined ? defaultSenders(rate!, nodes) : Math.ceil(clients / nodes) * nodes,
      out: outDir,
      keep: flags.boolean('keep'),
      command: `medrec bench run ${process.argv.slice(4).join(' ')}`.trim(),
      progress: note,
      signal: ac.signal,
    })
    if (flags.boolean('json')) return outJson(result.summary)
    const rows = [...summaryRows(result.summary), ...faultRows(result.faults ?? [])]
    const width = Math.max(...rows.map(([k]) => k.length))
    out(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'))
    note(`results in ${outDir} (${REPORT_FILES.filter((f) => f !== 'mempool.svg' || result.metrics !== null).join(', ')})`)
  } catch (err) {
    if (isBenchError(err, BenchErrorCode.INTERRUPTED)) throw new CliError(CliErrorCode.INTERRUPTED, err.message)
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

export const benchRunCommand: CommandSpec = {
  kind: 'command',
  path: 'bench run',
  summary: 'start a local network, load it, and report throughput and latency',
  usage: 'bench run --out DIR [--nodes N] [--consensus poa|pow] [--period S] [--workload W] [--rate R | --clients C] [--duration D] [--warmup S] [--confirmations K] [--faults SPEC] [--rpc URL,... --rpc.key FILE [--rpc.ws URL,...]] [--keep] [--json]',
  description: [
    'Starts N node processes on 127.0.0.1 (fresh keys and genesis in a temp dir; node 0 is everyone\'s',
    'bootnode), PoA with all N as authorities or PoW with N one-thread miners, funds fresh senders and',
    'signs the whole workload, then sends it open loop at --rate per second, round-robin over the nodes',
    '(sender i always to node i mod N): --warmup seconds not counted, then --duration measured seconds.',
    'It watches every node\'s new heads and each process\'s CPU and RSS, waits for the load to drain,',
    'stops the nodes and writes DIR/result.json, DIR/report.md and charts (throughput, latency CDF, latency',
    'per second, block-interval histogram, mempool pending per node from the nodes\' /metrics scraped once a second).',
    '',
    '--clients C runs a closed loop instead: C clients, each sending its next transaction once the previous',
    'one is in a head at its node; the report gives the rate that resulted. --rpc URL,... runs the workload',
    'against endpoints that already run (another node, geth --dev, anvil) instead of starting nodes; the',
    'account in --rpc.key funds the senders, and CPU/RSS are not measured.',
    '',
    '--faults SPEC plays faults during the load: a comma list of KIND:NODE@START+LENGTH, in seconds since',
    'the load started (warm-up included), nodes numbered from 0. Kinds:',
    ...FAULT_KINDS.map((k) => `  ${k.padEnd(8)}${FAULT_DESCRIPTIONS[k]}`),
    'Node 0 (the bootnode, and where the chain is read) can only be slowed. The report gives, per fault,',
    'included tx/s before, during and at the dip, and the time to recover (throughput back to 90 %, the',
    'node\'s head equal to the network\'s); the throughput chart shades each fault.',
    '',
    'Workloads: transfer (value transfers between the senders), donothing (BlockBench DoNothing: a',
    'call to a contract function that does nothing). Progress goes to stderr, the summary to stdout.',
  ].join('\n'),
  flags: [
    { name: 'nodes', kind: 'string', placeholder: 'N', default: '4', description: 'node processes, 1 to 16' },
    { name: 'consensus', kind: 'string', placeholder: 'poa|pow', default: 'poa', description: 'proof of authority (every node seals) or proof of work (every node mines)' },
    { name: 'period', kind: 'string', placeholder: 'S', default: '2', description: 'seconds between blocks (PoA) or target block time (PoW)' },
    { name: 'workload', kind: 'string', placeholder: 'W', default: 'transfer', description: `what to send: ${WORKLOAD_CATALOG.map((w) => `${w.name} (${w.description})`).join('; ')}` },
    { name: 'rate', kind: 'string', placeholder: 'R', default: '50', description: 'transactions per second offered (open loop)' },
    { name: 'clients', kind: 'string', placeholder: 'C', default: 'off', description: 'closed loop instead of --rate: C clients, each with one transaction in flight until it is included' },
    { name: 'confirmations', kind: 'string', placeholder: 'K', default: String(DEFAULT_CONFIRMATIONS), description: 'also time each transaction until its block has K-1 blocks on top at its node' },
    { name: 'faults', kind: 'string', placeholder: 'SPEC', default: 'none', description: 'faults during the load, e.g. kill:2@10+8,isolate:1@8+6,slow:3@5+10 (KIND:NODE@START+LENGTH, seconds)' },
    { name: 'rpc', kind: 'string', placeholder: 'URL,...', default: 'off', description: 'run against these JSON-RPC endpoints instead of starting nodes' },
    { name: 'rpc.ws', kind: 'string', placeholder: 'URL,...', default: 'same host and port as --rpc, ws://', description: 'with --rpc: their WebSocket endpoints, in the same order' },
    { name: 'rpc.key', kind: 'string', placeholder: 'FILE', default: 'required with --rpc', description: 'with --rpc: a file with the hex private key of a funded account' },
    { name: 'duration', kind: 'string', placeholder: 'D', default: '20', description: 'measured seconds of load, after the warm-up' },
    { name: 'warmup', kind: 'string', placeholder: 'S', default: '5', description: 'seconds of load before measuring' },
    { name: 'out', kind: 'string', placeholder: 'DIR', default: 'required', description: 'new or empty directory for the result files' },
    { name: 'keep', kind: 'boolean', default: 'off', description: 'keep the nodes\' data dirs and logs (the path is printed)' },
    { ...JSON_OUT, description: 'print the summary as JSON' },
  ],
  examples: [
    'medrec bench run --out results/poa4                                  # 4 PoA nodes, transfers, 50/s for 20 s',
    'medrec bench run --nodes 4 --consensus pow --period 2 --rate 20 --out results/pow4',
    'medrec bench run --workload donothing --rate 200 --duration 60 --out results/dn200 --json',
    'medrec bench run --nodes 4 --clients 32 --out results/closed32                   # closed loop',
    'medrec bench run --nodes 3 --period 1 --rate 20 --duration 30 --faults kill:2@10+8 --out results/kill2',
    'medrec bench run --rpc http://127.0.0.1:8545 --rpc.key key.hex --period 1 --out results/anvil',
  ],
  run,
}

export const benchCompareCommand: CommandSpec = {
  kind: 'command',
  path: 'bench compare',
  summary: 'put the results of several runs side by side',
  usage: 'bench compare DIR DIR... [--markdown] [--json]',
  description: [
    'Reads DIR/result.json of each run ("medrec bench run --out DIR") and prints one column per run:',
    'the set-up (consensus, nodes, workload) and every summary figure. --markdown prints a markdown',
    'table followed by the commands that made the runs; --json the runs\' configs and summaries.',
  ].join('\n'),
  positionals: 'DIR...',
  flags: [{ name: 'markdown', kind: 'boolean', default: 'off', description: 'a markdown table and the commands' }, JSON_OUT],
  examples: ['medrec bench compare results/poa4 results/pow4', 'medrec bench compare results/poa1 results/poa4 results/poa8 --markdown >> table.md'],
  async run(flags) {
    const dirs = flags.positionals
    if (dirs.length < 1) throw usageError('missing DIR: pass the --out directories of one or more "medrec bench run" results')
    if (flags.boolean('markdown') && flags.boolean('json')) throw usageError('--markdown and --json exclude each other: pick one')
    const { compareMarkdown, compareRows, readResult } = await import('../../bench/harness/index.ts')
    const results = await Promise.all(dirs.map((d) => readResult(resolve(d))))
    if (flags.boolean('json')) return outJson(results.map((r) => ({ config: r.config, summary: r.summary })))
    if (flags.boolean('markdown')) return out(compareMarkdown(results).trimEnd())
    const { header, rows } = compareRows(results)
    // Column names are run labels: as they are.
    out(formatTable(header, rows, { upperHeader: false }))
  },
}

export const benchGroup: GroupSpec = {
  kind: 'group',
  path: 'bench',
  summary: 'benchmark consensus on a local network (run, compare)',
  description: 'Benchmarks: start a network of local node processes, load it and report what it did; compare runs.',
  commands: [benchRunCommand, benchCompareCommand],
}
