/**
 * A run's output directory: result.json (config, summary, per-second series, the counted
 * blocks), report.md (summary table and the command), throughput.svg (included tx/s per
 * second) and latency-cdf.svg (submit → inclusion latency).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { lineChartSvg } from './svg.ts'
import type { BenchResult, Summary } from './types.ts'

export const REPORT_FILES = ['result.json', 'report.md', 'throughput.svg', 'latency-cdf.svg'] as const

const fmt = (n: number | null | undefined, d = 0): string => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))
const ENGINE = { poa: 'PoA', pow: 'PoW' } as const
const pct = (share: number): string => (Number.isFinite(share) ? `${fmt(100 * share, 1)} %` : 'n/a')

/** The summary as [figure, value] rows, shared by report.md and the command's output. */
export function summaryRows(s: Summary): Array<[string, string]> {
  const l = s.latencyMs
  const b = s.blockIntervalMs
  return [
    ['offered tx/s', fmt(s.offeredRate)],
    ['included tx/s', fmt(s.includedTps, 1)],
    ['sent in window / rejected / late (>100 ms)', `${fmt(s.submitted)} / ${fmt(s.rejected)} / ${fmt(s.late)}`],
    ['of those, in the final chain', `${fmt(s.submittedIncluded)} (${pct(s.submittedIncludedShare)})`],
    ['latency submit→inclusion p50 / p90 / p99 / max (ms)', `${fmt(l.p50)} / ${fmt(l.p90)} / ${fmt(l.p99)} / ${fmt(l.max)}`],
    ['blocks / interval mean / p99 (ms)', `${fmt(s.blocks)} / ${fmt(b.mean)} / ${fmt(b.p99)}`],
    ['fork rate: orphaned of blocks seen', `${fmt(s.forks.orphaned)} of ${fmt(s.forks.seen)} (${pct(s.forks.rate)})`],
    ['node CPU mean (% of a core), per node', s.nodes.map((n) => fmt(n.cpuMean)).join(' / ')],
    ['node RSS peak (MB), per node', s.nodes.map((n) => fmt(n.rssMaxMb)).join(' / ')],
    ['harness CPU mean (% of a core)', fmt(s.harnessCpuMean)],
    ['whole run: sent / accepted / never included', `${fmt(s.total.sent)} / ${fmt(s.total.accepted)} / ${fmt(s.total.neverIncluded)}`],
  ]
}

export function reportMarkdown(r: BenchResult): string {
  const c = r.config
  const engine = c.consensus === 'poa' ? `PoA, a block every ${c.period} s` : `PoW, target block time ${c.period} s, starting difficulty ${c.difficulty}`
  const lines = [
    `# medrec bench: ${c.workload}, ${c.nodes} node${c.nodes === 1 ? '' : 's'}, ${ENGINE[c.consensus]}`,
    '',
    `${engine}; ${c.rate} tx/s offered open loop for ${c.duration} s after a ${c.warmup} s warm-up, from ${c.senders} senders,`,
    `sender i to node i mod ${c.nodes}; nodes connected in a ${c.topology} through node 0. ${c.machine.cpus} CPUs,`,
    `${c.machine.platform}-${c.machine.arch}, Node ${c.machine.node}, started ${c.machine.startedAt}.`,
    '',
    '| figure | value |',
    '|---|---|',
    ...summaryRows(r.summary).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    'Included tx/s counts the transactions of final-chain blocks that first reached a node inside the',
    'measured window; latency runs from the send to the first head containing the transaction at the',
    'node it was sent to. Node CPU can exceed 100 % (worker threads).',
  ]
  if (Object.keys(r.summary.rejections).length > 0) {
    lines.push('', 'Rejections:', '', ...Object.entries(r.summary.rejections).map(([m, n]) => `- ${n} × ${m}`))
  }
  lines.push('', '![included tx/s](throughput.svg)', '', '![latency CDF](latency-cdf.svg)', '', '## Command', '', '```sh', c.command, '```')
  if (r.dataDirs !== null) {
    lines.push('', 'Data dirs kept (any of them restarts with `medrec start --datadir DIR --nodiscover`):', '', ...r.dataDirs.map((d) => `- ${d}`))
  }
  return lines.join('\n') + '\n'
}

export function throughputSvg(r: BenchResult): string {
  return lineChartSvg({
    title: `Included transactions per second (${r.config.workload}, ${r.config.nodes} × ${ENGINE[r.config.consensus]})`,
    xLabel: 'seconds since the load started',
    yLabel: 'included tx/s',
    // Each bucket drawn at its middle.
    points: r.series.map((p) => [p.t + 0.5, p.txs] as const),
    reference: { y: r.config.rate, label: `offered ${r.config.rate}/s` },
    bands: [
      { from: 0, to: r.config.warmup, label: 'warm-up' },
      { from: r.config.warmup + r.config.duration, to: r.series.length, label: 'drain' },
    ],
  })
}

export function latencyCdfSvg(r: BenchResult): string {
  return lineChartSvg({
    title: `Submit → inclusion latency (${r.summary.latencyMs.count} transactions)`,
    xLabel: 'latency (ms)',
    yLabel: 'fraction of transactions',
    points: r.latencyCdf,
    yMax: 1,
  })
}

/** Writes the four files into `dir` (created if missing). */
export async function writeReport(dir: string, r: BenchResult): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'result.json'), JSON.stringify(r, null, 2) + '\n')
    await writeFile(join(dir, 'report.md'), reportMarkdown(r))
    await writeFile(join(dir, 'throughput.svg'), throughputSvg(r))
    await writeFile(join(dir, 'latency-cdf.svg'), latencyCdfSvg(r))
  } catch (err) {
    throw new BenchError(BenchErrorCode.WRITE_FAILED, `cannot write the results to ${dir}: ${errorMessage(err)}; pass another --out DIR`, undefined, err)
  }
}
