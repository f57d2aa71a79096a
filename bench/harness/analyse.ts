/**
 * From what a run recorded to its figures: the measured window is [warm-up, warm-up + duration)
 * seconds after the load started. Throughput counts the transactions of final-chain blocks that
 * first reached some node's chain inside the window; latency is over the transactions sent in
 * the window. Everything before the window is warm-up, everything after it is draining.
 */
import type { BlockInfo, HeadLog, ResourceSample } from './collect.ts'
import type { RequestRecord, RequestSummary } from './requests.ts'
import { cdf, distribution, gaps, histogram, medianPerSecond, perSecond } from './stats.ts'
import { confirmedAt, propagation, propagationDelays, txIndex } from './timing.ts'
import type { BenchResult, BlockRecord, SeriesPoint, Summary } from './types.ts'

export interface SendRecord {
  hash: string
  /** Node index it was sent to. */
  node: number
  /** performance.now() just before the request. */
  at: number
  ok: boolean
  /** Sent more than 100 ms after its scheduled time. */
  late: boolean
  error?: string
}

export interface RunRecord {
  /** performance.now() when the load started. */
  t0: number
  /** performance.now() when observation ended. */
  end: number
  warmup: number
  duration: number
  /** Open loop: the offered rate; closed loop: null (the rate is what was sent in the window). */
  rate: number | null
  /** K for the latency to K confirmations. */
  confirmations: number
  nodes: number
  sends: SendRecord[]
  /** The final chain since the load started, oldest first. */
  chain: BlockInfo[]
  heads: HeadLog
  resources: ResourceSample[]
  /** The workload's off-chain requests, summarised; absent or null if it has none. */
  requests?: RequestSummary | null
  /** Every off-chain request made, for its per-second series (absent when the workload has none). */
  requestRecords?: RequestRecord[]
}

/** The parts of a result (DIR/result.json) computed from what the run recorded. */
export type Analysis = Pick<BenchResult, 'summary' | 'series' | 'blocks' | 'orphans' | 'latencyCdf' | 'propagation' | 'blockIntervalHistogram'>

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null)
const mean = (xs: number[]): number => (xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length)
const MAX_REJECTION_KINDS = 5

/** When a block first joined any node's chain, in ms since `t0`. */
function firstSeen(heads: HeadLog, hash: string, t0: number): number | undefined {
  let best: number | undefined
  for (const m of heads.blockAt) {
    const at = m.get(hash)
    if (at !== undefined && (best === undefined || at < best)) best = at
  }
  return best === undefined ? undefined : best - t0
}

/**
 * Reorgs as the nodes lived them: a new head that does not descend from the node's previous head
 * is a reorg whose depth is how many blocks of the old branch left that node's chain (geth's
 * "Chain reorg detected … drop=N"). Each one made inside [from, to) ms since t0: when (ms since
 * t0) and how deep.
 */
export function reorgs(heads: HeadLog, t0: number, from: number, to: number): Array<{ atMs: number; depth: number }> {
  const found: Array<{ atMs: number; depth: number }> = []
  const parentOf = (h: string) => heads.blocks.get(h)
  for (const seen of heads.headsSeen ?? []) {
    for (let k = 1; k < seen.length; k++) {
      const at = seen[k]!.at - t0
      if (at < from || at >= to) continue
      // Ancestors of the new head, then walk the old head back until one of them.
      const ancestors = new Set<string>()
      for (let b = parentOf(seen[k]!.hash); b !== undefined; b = parentOf(b.parentHash)) ancestors.add(b.hash)
      const old = parentOf(seen[k - 1]!.hash)
      if (old === undefined || ancestors.has(old.hash)) continue
      let depth = 0
      for (let b: BlockInfo | undefined = old; b !== undefined && !ancestors.has(b.hash); b = parentOf(b.parentHash)) depth++
      found.push({ atMs: at, depth })
    }
  }
  return found
}

export function analyseRun(r: RunRecord): Analysis {
  const from = r.warmup * 1000
  const to = (r.warmup + r.duration) * 1000
  const inWindow = (ms: number | undefined): boolean => ms !== undefined && ms >= from && ms < to

  const canonical = new Set(r.chain.map((b) => b.hash))
  const txBlock = new Map<string, BlockInfo>()
  for (const b of r.chain) for (const tx of b.txs) txBlock.set(tx, b)

  const blocks: BlockRecord[] = r.chain.map((b) => {
    const seen = firstSeen(r.heads, b.hash, r.t0)
    return { number: b.number, hash: b.hash, txs: b.txs.length, seenMs: seen ?? null, counted: inWindow(seen) }
  })
  const counted = blocks.filter((b) => b.counted)
  const included = counted.reduce((s, b) => s + b.txs, 0)

  // Latency at the node each transaction was sent to (any node's first sight if that one never had it).
  const windowSends = r.sends.filter((s) => inWindow(s.at - r.t0))
  const latencies: number[] = []
  const confirmed: number[] = []
  const includedAt: Array<{ atMs: number; value: number }> = []
  const indexOf = txIndex(r.chain)
  let submittedIncluded = 0
  for (const s of windowSends) {
    if (!s.ok || !txBlock.has(s.hash)) continue
    submittedIncluded++
    let at = r.heads.txAt[s.node]?.get(s.hash)
    if (at === undefined) for (const m of r.heads.txAt) at = Math.min(at ?? Infinity, m.get(s.hash) ?? Infinity)
    if (at !== undefined && Number.isFinite(at)) {
      latencies.push(at - s.at)
      includedAt.push({ atMs: at - r.t0, value: at - s.at })
    }
    // K confirmations at the same node (or the first node to get there if that one never did).
    const i = indexOf.get(s.hash)!
    let conf = confirmedAt(r.heads, r.chain, i, r.confirmations, s.node)
    if (conf === undefined) for (const n of r.heads.blockAt.keys()) conf = Math.min(conf ?? Infinity, confirmedAt(r.heads, r.chain, i, r.confirmations, n) ?? Infinity)
    if (conf !== undefined && Number.isFinite(conf)) confirmed.push(conf - s.at)
  }
  const rejections: Record<string, number> = {}
  for (const s of windowSends) {
    if (s.ok || s.error === undefined) continue
    if (rejections[s.error] !== undefined || Object.keys(rejections).length < MAX_REJECTION_KINDS) rejections[s.error] = (rejections[s.error] ?? 0) + 1
  }

  // Forks: every block any node had in its chain, first seen in the window, against the final chain.
  const orphans: Array<{ number: number; hash: string }> = []
  let seenInWindow = 0
  for (const [hash, b] of r.heads.blocks) {
    if (!inWindow(firstSeen(r.heads, hash, r.t0))) continue
    seenInWindow++
    if (!canonical.has(hash)) orphans.push({ number: b.number, hash })
  }
  orphans.sort((a, b) => a.number - b.number)

  const seconds = Math.max(0, Math.ceil((r.end - r.t0) / 1000))
  const submittedPerS = perSecond(r.sends.map((s) => ({ atMs: s.at - r.t0 })), seconds)
  const blocksPerS = perSecond(blocks.filter((b) => b.seenMs !== null).map((b) => ({ atMs: b.seenMs! })), seconds)
  const txsPerS = perSecond(blocks.filter((b) => b.seenMs !== null).map((b) => ({ atMs: b.seenMs!, weight: b.txs })), seconds)
  const latencyPerS = medianPerSecond(includedAt, seconds)
  const orphanedPerS = perSecond(
    [...r.heads.blocks.keys()].filter((h) => !canonical.has(h)).flatMap((h) => {
      const at = firstSeen(r.heads, h, r.t0)
      return at === undefined ? [] : [{ atMs: at }]
    }),
    seconds,
  )
  // Every reorg of the run once: per second for the series, the window's for the summary.
  const allReorgs = reorgs(r.heads, r.t0, 0, seconds * 1000)
  const reorgsPerS = perSecond(allReorgs, seconds)
  const windowReorgs = allReorgs.filter((x) => inWindow(x.atMs)).map((x) => x.depth)
  const answered = (r.requestRecords ?? []).filter((q) => q.ok).map((q) => ({ atMs: q.at + q.ms - r.t0, value: q.ms }))
  const requestsPerS = perSecond((r.requestRecords ?? []).map((q) => ({ atMs: q.at - r.t0 })), seconds)
  const requestLatencyPerS = medianPerSecond(answered, seconds)
  // The sampler starts with the load and reads once a second: the reading near the end of
  // second t (timer jitter either side) describes second t.
  const sampleOf = new Map<number, ResourceSample>()
  for (const s of r.resources) {
    const t = Math.round((s.at - r.t0) / 1000) - 1
    if (t >= 0 && t < seconds && !sampleOf.has(t)) sampleOf.set(t, s)
  }
  const series: SeriesPoint[] = Array.from({ length: seconds }, (_, t) => {
    const s = sampleOf.get(t)
    return {
      t,
      phase: t < r.warmup ? 'warmup' : t < r.warmup + r.duration ? 'measure' : 'drain',
      submitted: submittedPerS[t]!,
      blocks: blocksPerS[t]!,
      txs: txsPerS[t]!,
      cpu: s === undefined ? Array.from({ length: r.nodes }, () => null) : s.cpu.map(finite),
      rssMb: s === undefined ? Array.from({ length: r.nodes }, () => null) : s.rssMb.map(finite),
      harnessCpu: s === undefined ? null : finite(s.harnessCpu),
      latencyP50Ms: latencyPerS[t]!,
      orphaned: orphanedPerS[t]!,
      reorgs: reorgsPerS[t]!,
      ...(r.requestRecords === undefined ? {} : { requests: requestsPerS[t]!, requestP50Ms: requestLatencyPerS[t]! }),
    }
  })

  const measured = series.filter((p) => p.phase === 'measure')
  const prop = propagation(r.heads, r.chain, r.t0)
  const intervals = gaps(counted.map((b) => b.seenMs!))
  const nodes = Array.from({ length: r.nodes }, (_, i) => {
    const cpu = measured.map((p) => p.cpu[i]).filter((x): x is number => x !== null && x !== undefined)
    const rss = measured.map((p) => p.rssMb[i]).filter((x): x is number => x !== null && x !== undefined)
    return { cpuMean: finite(mean(cpu)), rssMaxMb: rss.length === 0 ? null : Math.max(...rss) }
  })
  const accepted = r.sends.filter((s) => s.ok)
  const totalIncluded = accepted.filter((s) => txBlock.has(s.hash)).length
  const summary: Summary = {
    windowSeconds: r.duration,
    offeredRate: r.rate ?? (r.duration > 0 ? windowSends.length / r.duration : NaN),
    submitted: windowSends.length,
    rejected: windowSends.filter((s) => !s.ok).length,
    late: windowSends.filter((s) => s.late).length,
    rejections,
    included,
    includedTps: r.duration > 0 ? included / r.duration : NaN,
    submittedIncluded,
    submittedIncludedShare: windowSends.length === 0 ? NaN : submittedIncluded / windowSends.length,
    latencyMs: distribution(latencies),
    confirmations: r.confirmations,
    confirmedLatencyMs: distribution(confirmed),
    propagationMs: distribution(propagationDelays(prop.filter((p) => inWindow(p.firstMs)))),
    requests: r.requests ?? null,
    blocks: counted.length,
    blockIntervalMs: distribution(intervals),
    forks: { seen: seenInWindow, orphaned: orphans.length, rate: seenInWindow === 0 ? 0 : orphans.length / seenInWindow },
    reorgs: { count: windowReorgs.length, maxDepth: windowReorgs.length === 0 ? 0 : Math.max(...windowReorgs), meanDepth: windowReorgs.length === 0 ? 0 : mean(windowReorgs) },
    total: { sent: r.sends.length, accepted: accepted.length, included: totalIncluded, neverIncluded: accepted.length - totalIncluded },
    nodes,
    harnessCpuMean: finite(mean(measured.map((p) => p.harnessCpu).filter((x): x is number => x !== null))),
  }
  return { summary, series, blocks, orphans, latencyCdf: cdf(latencies), propagation: prop, blockIntervalHistogram: histogram(intervals) }
}
