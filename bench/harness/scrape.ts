/**
 * The nodes' Prometheus metrics (`medrec start --metrics`) as time series: each node's /metrics
 * is read once a second while the load runs, and a few figures are kept per reading (mempool
 * pending, peers, chain head, block import time, event-loop lag), read with the strict parser of
 * prometheus.ts (a malformed answer is a failed scrape: a gap, and one warning).
 */
import { createLogger } from '../../common/logger.ts'
import { errorMessage } from '../../common/errors.ts'
import { parseExposition, sampleValue } from './prometheus.ts'

const log = createLogger('bench:scrape')

/** The figures kept from one reading of one node. */
export interface MetricsReading {
  /** performance.now() when the answer arrived. */
  at: number
  pending: number | undefined
  peers: number | undefined
  head: number | undefined
  /** Cumulative block-import histogram sum (seconds) and count. */
  importSum: number | undefined
  importCount: number | undefined
  /** Longest event-loop delay since the previous scrape, seconds. */
  lagMax: number | undefined
}

/** The figures of one /metrics answer (each unlabelled; undefined where the node has no such metric). Throws on a malformed one. */
export function readingOf(text: string, at: number): MetricsReading {
  const m = parseExposition(text)
  return {
    at,
    pending: sampleValue(m, 'medrec_mempool_pending'),
    peers: sampleValue(m, 'medrec_p2p_peers'),
    head: sampleValue(m, 'medrec_chain_head_number'),
    importSum: sampleValue(m, 'medrec_chain_block_import_duration_seconds_sum'),
    importCount: sampleValue(m, 'medrec_chain_block_import_duration_seconds_count'),
    lagMax: sampleValue(m, 'medrec_process_event_loop_lag_max_seconds'),
  }
}

/** One point of a node's metrics series. Null where the node did not answer or has no such metric. */
export interface MetricsPoint {
  /** Seconds since the load started. */
  t: number
  mempoolPending: number | null
  peers: number | null
  head: number | null
  /** Mean time to import a block from a peer over the blocks imported since the previous point (ms); null if none. */
  importMs: number | null
  eventLoopLagMs: number | null
}

export interface NodeMetricsSeries {
  node: number
  url: string
  points: MetricsPoint[]
}

const orNull = (n: number | undefined): number | null => (n === undefined || !Number.isFinite(n) ? null : n)

/** A node's readings as points relative to `t0`, import time from the histogram's deltas. */
export function metricsPoints(readings: readonly MetricsReading[], t0: number): MetricsPoint[] {
  return readings.map((r, i) => {
    const prev = readings[i - 1]
    let importMs: number | null = null
    if (prev?.importSum !== undefined && prev.importCount !== undefined && r.importSum !== undefined && r.importCount !== undefined && r.importCount > prev.importCount) {
      importMs = (1000 * (r.importSum - prev.importSum)) / (r.importCount - prev.importCount)
    }
    return {
      t: Math.round(r.at - t0) / 1000,
      mempoolPending: orNull(r.pending),
      peers: orNull(r.peers),
      head: orNull(r.head),
      importMs,
      eventLoopLagMs: r.lagMax === undefined ? null : orNull(r.lagMax * 1000),
    }
  })
}

export interface MetricsScraper {
  /** Per node, its readings so far. */
  readings: MetricsReading[][]
  /** Stops the timer, waits for scrapes in flight and reads every node once more (so the series ends now); idempotent. */
  stop(): Promise<void>
}

/**
 * Reads every URL once a `everyMs` (a reading that takes longer than that is skipped for the
 * next tick, so a slow node is not asked twice at once). A failed scrape leaves a gap.
 */
export function scrapeMetrics(urls: readonly string[], everyMs = 1000): MetricsScraper {
  const readings: MetricsReading[][] = urls.map(() => [])
  const busy = urls.map(() => false)
  const inflight = new Set<Promise<void>>()
  const warned = new Set<number>()
  const one = async (i: number): Promise<void> => {
    busy[i] = true
    try {
      const res = await fetch(urls[i]!, { signal: AbortSignal.timeout(Math.max(500, everyMs * 2)) })
      const text = await res.text()
      readings[i]!.push(readingOf(text, performance.now()))
    } catch (err) {
      if (!warned.has(i)) log.warn('a metrics scrape failed', { node: i, url: urls[i] }, errorMessage(err))
      warned.add(i)
    } finally {
      busy[i] = false
    }
  }
  const tick = () => {
    for (const i of urls.keys()) {
      if (busy[i]) continue
      const p = one(i)
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
    }
  }
  tick()
  const timer = setInterval(tick, everyMs)
  let stopped: Promise<void> | undefined
  return {
    readings,
    stop: () =>
      (stopped ??= (async () => {
        clearInterval(timer)
        await Promise.all(inflight)
        await Promise.all(urls.map((_, i) => one(i)))
      })()),
  }
}
