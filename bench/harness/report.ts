/**
 * A run's output directory: result.json (config, summary, per-second series, the counted
 * blocks), report.md (summary table and the command), throughput.svg (included tx/s per
 * second) and latency-cdf.svg (submit → inclusion latency).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorMessage } from '../../common/errors.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { FAULT_DESCRIPTIONS } from './faults.ts'
import { RECOVERED_SHARE, type FaultReport } from './recovery.ts'
import { barChartSvg, FAULT_FILL, lineChartSvg, type Band } from './svg.ts'
import type { Distribution } from './stats.ts'
import type { BenchResult, Summary } from './types.ts'

export const REPORT_FILES = ['result.json', 'report.md', 'throughput.svg', 'latency-cdf.svg', 'latency-series.svg', 'block-intervals.svg', 'mempool.svg'] as const

const fmt = (n: number | null | undefined, d = 0): string => (n === null || n === undefined || !Number.isFinite(n) ? 'n/a' : n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }))
const ENGINE = { poa: 'PoA', pow: 'PoW', external: 'external endpoints' } as const
const pct = (share: number): string => (Number.isFinite(share) ? `${fmt(100 * share, 1)} %` : 'n/a')

/** The summary as [figure, value] rows, shared by report.md and the command's output. */
export function summaryRows(s: Summary): Array<[string, string]> {
  const l = s.latencyMs
  const b = s.blockIntervalMs
  // Results written before these fields existed read as n/a.
  const dist = (d: Distribution | undefined) => `${fmt(d?.p50)} / ${fmt(d?.p95)} / ${fmt(d?.p99)}`
  const measured = s.nodes.some((n) => n.cpuMean !== null || n.rssMaxMb !== null)
  const rq = s.requests
  return [
    ['offered tx/s', fmt(s.offeredRate, Number.isInteger(s.offeredRate) ? 0 : 1)],
    ['included tx/s', fmt(s.includedTps, 1)],
    ['sent in window / rejected / late (>100 ms)', `${fmt(s.submitted)} / ${fmt(s.rejected)} / ${fmt(s.late)}`],
    ['of those, in the final chain', `${fmt(s.submittedIncluded)} (${pct(s.submittedIncludedShare)})`],
    ['latency submit→inclusion p50 / p95 / p99 / max (ms)', `${dist(l)} / ${fmt(l.max)}`],
    [`latency submit→${s.confirmations ?? 'K'} confirmations p50 / p95 / p99 (ms)`, dist(s.confirmedLatencyMs)],
    ['block propagation to other nodes p50 / p95 / p99 (ms)', dist(s.propagationMs)],
    ['blocks / interval mean / p99 (ms)', `${fmt(s.blocks)} / ${fmt(b.mean)} / ${fmt(b.p99)}`],
    ['fork rate: orphaned of blocks seen', `${fmt(s.forks.orphaned)} of ${fmt(s.forks.seen)} (${pct(s.forks.rate)})`],
    ['reorgs at the nodes / depth max / mean (blocks)', s.reorgs === undefined ? 'n/a' : `${fmt(s.reorgs.count)} / ${fmt(s.reorgs.maxDepth)} / ${s.reorgs.meanDepth.toFixed(1)}`],
    ['node CPU mean (% of a core), per node', measured ? s.nodes.map((n) => fmt(n.cpuMean)).join(' / ') : 'not measured'],
    ['node RSS peak (MB), per node', measured ? s.nodes.map((n) => fmt(n.rssMaxMb)).join(' / ') : 'not measured'],
    ['harness CPU mean (% of a core)', fmt(s.harnessCpuMean)],
    ['whole run: sent / accepted / never included', `${fmt(s.total.sent)} / ${fmt(s.total.accepted)} / ${fmt(s.total.neverIncluded)}`],
    ['off-chain requests: sent / errors / p50 / p95 / p99 (ms)', rq === null || rq === undefined ? 'none' : `${rq.name}: ${fmt(rq.sent)} / ${fmt(rq.errors)} / ${dist(rq.latencyMs)}`],
  ]
}

export function reportMarkdown(r: BenchResult): string {
  const c = r.config
  const engine = c.consensus === 'poa' ? `PoA, a block every ${c.period} s` : c.consensus === 'pow' ? `PoW, target block time ${c.period} s, starting difficulty ${c.difficulty}` : `no nodes started: --rpc ${(c.rpc ?? []).join(',')} (chain id ${c.chainId}; CPU and RSS not measured)`
  const load = c.clients !== null && c.clients !== undefined ? `${c.clients} closed-loop clients (one transaction each in flight until included: ${fmt(r.summary.offeredRate, 1)} tx/s resulted)` : `${c.rate} tx/s offered open loop`
  const lines = [
    `# medrec bench: ${c.workload}, ${c.nodes} node${c.nodes === 1 ? '' : 's'}, ${ENGINE[c.consensus]}`,
    '',
    `${engine}; ${load} for ${c.duration} s after a ${c.warmup} s warm-up, from ${c.senders} senders,`,
    `sender i to node i mod ${c.nodes}; nodes connected in a ${c.topology} through node 0. ${c.machine.cpus} CPUs,`,
    `${c.machine.platform}-${c.machine.arch}, Node ${c.machine.node}, started ${c.machine.startedAt}.`,
    '',
    '| figure | value |',
    '|---|---|',
    ...summaryRows(r.summary).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    'Included tx/s counts the transactions of final-chain blocks that first reached a node inside the',
    'measured window; latency runs from the send to the first head containing the transaction at the',
    'node it was sent to; to K confirmations, until that node had K−1 blocks on top of its block.',
    'Propagation: per final-chain block, how long after the first node each other node had it.',
    'Node CPU can exceed 100 % (worker threads).',
  ]
  if (Object.keys(r.summary.rejections).length > 0) {
    lines.push('', 'Rejections:', '', ...Object.entries(r.summary.rejections).map(([m, n]) => `- ${n} × ${m}`))
  }
  if (r.faults !== undefined && r.faults.length > 0) lines.push('', ...faultsMarkdown(r.faults))
  lines.push('', '![included tx/s](throughput.svg)', '', '![latency CDF](latency-cdf.svg)', '', '![latency per second](latency-series.svg)', '', '![block intervals](block-intervals.svg)')
  if (r.metrics !== null && r.metrics !== undefined) lines.push('', '![mempool pending per node](mempool.svg)')
  lines.push('', '## Command', '', '```sh', c.command, '```')
  if (r.dataDirs !== null) {
    lines.push('', 'Data dirs kept (any of them restarts with `medrec start --datadir DIR --p2p.maxpeers 0`):', '', ...r.dataDirs.map((d) => `- ${d}`))
  }
  return lines.join('\n') + '\n'
}

const secs = (ms: number): string => `${fmt(ms / 1000, 1)} s`
const after = (s: number | null): string => (s === null ? 'not seen' : `${fmt(s, 1)} s`)

/** One line of what happened to a fault's node, from its events. */
export function faultTimeline(f: FaultReport): string {
  return f.events.map((e) => `${e.step} ${secs(e.atMs)}${e.step === 'resent' && e.detail !== undefined ? ` (${e.detail})` : ''}`).join(', ')
}

/** The "Faults" section of report.md: what each did and how the network recovered. */
export function faultsMarkdown(faults: readonly FaultReport[]): string[] {
  const share = `${Math.round(RECOVERED_SHARE * 100)} %`
  return [
    '## Faults',
    '',
    '| fault | tx/s before (10 s) | during | dip min | throughput back | head caught up | recovered | sends rejected | node head start → end (network) | peers during |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...faults.map((f) => {
      const h = f.heads
      const heads = `${h.nodeAtStart ?? '–'} → ${h.nodeAtEnd ?? 'down'} (${h.networkAtStart ?? '?'} → ${h.networkAtEnd ?? '?'})`
      const rejected = f.resent > 0 ? `${f.rejected} (${f.resentAccepted} of ${f.resent} resent accepted)` : String(f.rejected)
      return `| ${f.label} | ${fmt(f.beforeTps, 1)} | ${fmt(f.duringTps, 1)} | ${fmt(f.dipMinTps, 1)}${f.dipAtS === null ? '' : ` at ${f.dipAtS} s`} | ${after(f.throughputRecoveryS)} | ${after(f.headRecoveryS)} | ${after(f.recoveryS)} | ${rejected} | ${heads} | ${f.peersMax ?? 'down'} |`
    }),
    '',
    ...faults.map((f) => `- ${f.label} (${FAULT_DESCRIPTIONS[f.spec.kind].replace('LENGTH', String(f.spec.length))}): ${faultTimeline(f)}${f.finalHeadLag === null ? '; the node had none of the final chain' : f.finalHeadLag === 0 ? '; the node had the final head' : `; the node was ${f.finalHeadLag} block${f.finalHeadLag === 1 ? '' : 's'} behind the final head when observation ended`}.`),
    '',
    `Rates are means over ${faults[0]?.windowS ?? 3} s windows. Recovery counts from the fault's end: throughput back when a`,
    `window's included tx/s reaches ${share} of the 10 s before the fault, head caught up when the node's head`,
    'hash equals the network\'s (node 0, polled every 250 ms); "recovered" is the later of the two.',
  ]
}

/** Per fault, one [figure, value] row for the command's output. */
export function faultRows(faults: readonly FaultReport[]): Array<[string, string]> {
  return faults.map((f) => [
    `fault ${f.label}: tx/s before / dip; recovered after (throughput, head)`,
    `${fmt(f.beforeTps, 1)} / ${fmt(f.dipMinTps, 1)}; ${after(f.recoveryS)} (${after(f.throughputRecoveryS)}, ${after(f.headRecoveryS)})`,
  ])
}

/** The bands of the time charts: warm-up, drain, and each fault in red. */
function timeBands(r: BenchResult): Band[] {
  return [
    { from: 0, to: r.config.warmup, label: 'warm-up' },
    { from: r.config.warmup + r.config.duration, to: r.series.length, label: 'drain' },
    ...(r.faults ?? []).map((f) => ({ from: f.spec.start, to: f.spec.start + f.spec.length, label: `${f.spec.kind} ${f.spec.node}`, fill: FAULT_FILL, row: 1 })),
  ]
}

export function throughputSvg(r: BenchResult): string {
  return lineChartSvg({
    title: `Included transactions per second (${r.config.workload}, ${r.config.nodes} × ${ENGINE[r.config.consensus]})`,
    xLabel: 'seconds since the load started',
    yLabel: 'included tx/s',
    // Each bucket drawn at its middle.
    points: r.series.map((p) => [p.t + 0.5, p.txs] as const),
    // Closed loop: the rate that resulted.
    reference: r.config.rate === null ? { y: r.summary.offeredRate, label: `offered ${fmt(r.summary.offeredRate, 1)}/s (closed loop)` } : { y: r.config.rate, label: `offered ${r.config.rate}/s` },
    bands: timeBands(r),
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

/** Median latency of the transactions included in each second. */
export function latencySeriesSvg(r: BenchResult): string {
  return lineChartSvg({
    title: 'Submit → inclusion latency, median of the transactions included each second',
    xLabel: 'seconds since the load started',
    yLabel: 'latency p50 (ms)',
    points: r.series.filter((p) => p.latencyP50Ms !== null && p.latencyP50Ms !== undefined).map((p) => [p.t + 0.5, p.latencyP50Ms!] as const),
    bands: timeBands(r),
  })
}

export function blockIntervalsSvg(r: BenchResult): string {
  return barChartSvg({
    title: `Block intervals in the window (${r.summary.blockIntervalMs.count} intervals)`,
    xLabel: 'interval between consecutive final-chain blocks (ms)',
    yLabel: 'intervals',
    bars: r.blockIntervalHistogram ?? [],
  })
}

/** Mempool pending per node from the scraped metrics (one line per node). */
export function mempoolSvg(r: BenchResult): string {
  const series = (r.metrics ?? []).map((m) => ({ label: `node ${m.node}`, points: m.points.filter((p) => p.mempoolPending !== null).map((p) => [p.t, p.mempoolPending!] as const) }))
  return lineChartSvg({
    title: 'Pending transactions in each node\'s pool (medrec_mempool_pending)',
    xLabel: 'seconds since the load started',
    yLabel: 'pending transactions',
    points: series[0]?.points ?? [],
    label: series[0]?.label ?? 'node 0',
    more: series.slice(1),
  })
}

/** Writes result.json, report.md and the charts into `dir` (created if missing); mempool.svg only with scraped metrics. */
export async function writeReport(dir: string, r: BenchResult): Promise<void> {
  try {
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'result.json'), JSON.stringify(r, null, 2) + '\n')
    await writeFile(join(dir, 'report.md'), reportMarkdown(r))
    await writeFile(join(dir, 'throughput.svg'), throughputSvg(r))
    await writeFile(join(dir, 'latency-cdf.svg'), latencyCdfSvg(r))
    await writeFile(join(dir, 'latency-series.svg'), latencySeriesSvg(r))
    await writeFile(join(dir, 'block-intervals.svg'), blockIntervalsSvg(r))
    if (r.metrics !== null) await writeFile(join(dir, 'mempool.svg'), mempoolSvg(r))
  } catch (err) {
    throw new BenchError(BenchErrorCode.WRITE_FAILED, `cannot write the results to ${dir}: ${errorMessage(err)}; pass another --out DIR`, undefined, err)
  }
}
