import { readdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import { BenchError, BenchErrorCode, compareMarkdown, compareRows, defaultSenders, findWorkload, readResult, runBench, summaryRows, WORKLOAD_NAMES, WORKLOADS, type ConsensusKind } from '../../bench/index.ts'
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
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw usageError(`invalid value for --out: ${dir} is a file, not a directory`)
    throw err
  }
  if (entries.length > 0) throw usageError(`invalid value for --out: ${dir} is not empty; pass a new directory (or delete this one) so an earlier result is not overwritten`)
}

async function run(flags: ParsedFlags): Promise<void> {
  // Every flag is checked before a node starts (exit 2).
  const nodes = int(flags, 'nodes', 4, 1, 16)
  const consensus = flags.string('consensus') ?? 'poa'
  if (consensus !== 'poa' && consensus !== 'pow') throw usageError(`invalid value for --consensus: expected poa or pow, got "${consensus}"`)
  const period = int(flags, 'period', 2, 1, 600)
  const workload = flags.string('workload') ?? 'transfer'
  if (findWorkload(workload) === undefined) throw usageError(`invalid value for --workload: expected one of ${WORKLOAD_NAMES.join(', ')}, got "${workload}"`)
  const rate = int(flags, 'rate', 50, 1, 100_000)
  const duration = int(flags, 'duration', 20, 1, 86_400)
  const warmup = int(flags, 'warmup', 5, 0, 3_600)
  const outDir = resolve(requireFlag(flags, 'out', 'DIR'))
  await checkOut(outDir)

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
      rate,
      duration,
      warmup,
      senders: defaultSenders(rate, nodes),
      out: outDir,
      keep: flags.boolean('keep'),
      command: `medrec bench run ${process.argv.slice(4).join(' ')}`.trim(),
      progress: note,
      signal: ac.signal,
    })
    if (flags.boolean('json')) return outJson(result.summary)
    const rows = summaryRows(result.summary)
    const width = Math.max(...rows.map(([k]) => k.length))
    out(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'))
    note(`results in ${outDir} (result.json, report.md, throughput.svg, latency-cdf.svg)`)
  } catch (err) {
    if (err instanceof BenchError && err.code === BenchErrorCode.INTERRUPTED) throw new CliError(CliErrorCode.INTERRUPTED, err.message)
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
  usage: 'bench run --out DIR [--nodes N] [--consensus poa|pow] [--period S] [--workload W] [--rate R] [--duration D] [--warmup S] [--keep] [--json]',
  description: [
    'Starts N node processes on 127.0.0.1 (fresh keys and genesis in a temp dir; node 0 is everyone\'s',
    'bootnode), PoA with all N as authorities or PoW with N one-thread miners, funds fresh senders and',
    'signs the whole workload, then sends it open loop at --rate per second, round-robin over the nodes',
    '(sender i always to node i mod N): --warmup seconds not counted, then --duration measured seconds.',
    'It watches every node\'s new heads and each process\'s CPU and RSS, waits for the load to drain,',
    'stops the nodes and writes DIR/result.json, DIR/report.md, DIR/throughput.svg, DIR/latency-cdf.svg.',
    '',
    'Workloads: transfer (value transfers between the senders), donothing (BlockBench DoNothing: a',
    'call to a contract function that does nothing). Progress goes to stderr, the summary to stdout.',
  ].join('\n'),
  flags: [
    { name: 'nodes', kind: 'string', placeholder: 'N', default: '4', description: 'node processes, 1 to 16' },
    { name: 'consensus', kind: 'string', placeholder: 'poa|pow', default: 'poa', description: 'proof of authority (every node seals) or proof of work (every node mines)' },
    { name: 'period', kind: 'string', placeholder: 'S', default: '2', description: 'seconds between blocks (PoA) or target block time (PoW)' },
    { name: 'workload', kind: 'string', placeholder: 'W', default: 'transfer', description: `what to send: ${WORKLOADS.map((w) => `${w.name} (${w.description})`).join('; ')}` },
    { name: 'rate', kind: 'string', placeholder: 'R', default: '50', description: 'transactions per second offered (open loop)' },
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
