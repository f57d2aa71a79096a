/**
 * GET /api/metrics: the node's key figures every 2 s over the last 10 minutes, from in-memory
 * state only (no Prometheus needed): what the composition reads at each tick (head, peers, pool)
 * and what it reports as it happens (blocks, import times, gatekeeper requests), summed per interval.
 */

/** Levels read at each tick. */
export interface MetricsLevels {
  head: number
  peers: number
  pending: number
  queued: number
}

export interface MetricsSample extends MetricsLevels {
  /** End of the interval, ms since the epoch. */
  t: number
  /** New head blocks in the interval, their transactions and gas. */
  blocks: number
  blockTxs: number
  blockGas: number
  /** Blocks this node sealed in the interval. */
  sealed: number
  /** Blocks imported from peers in the interval and their mean and longest import time (ms; 0 when none). */
  imported: number
  importMs: number
  importMaxMs: number
  /** Gatekeeper requests answered with records and refused in the interval. */
  served: number
  refused: number
}

export interface MetricsSampler {
  /** A new head block with `txs` transactions using `gas`. */
  block(txs: number, gas: bigint): void
  sealed(): void
  /** A block imported from a peer in `seconds`. */
  imported(seconds: number): void
  /** A gatekeeper request ended: 'ok' or a refusal. */
  served(ok: boolean): void
  snapshot(): { interval: number; samples: MetricsSample[] }
  close(): void
}

export const METRICS_INTERVAL_MS = 2000
export const METRICS_WINDOW_MS = 10 * 60 * 1000

export function createMetricsSampler(read: () => MetricsLevels, opts: { intervalMs?: number; windowMs?: number } = {}): MetricsSampler {
  const intervalMs = opts.intervalMs ?? METRICS_INTERVAL_MS
  const keep = Math.max(1, Math.round((opts.windowMs ?? METRICS_WINDOW_MS) / intervalMs))
  const samples: MetricsSample[] = []
  const zero = () => ({ blocks: 0, blockTxs: 0, blockGas: 0n, sealed: 0, imported: 0, importSum: 0, importMax: 0, served: 0, refused: 0 })
  let acc = zero()

  const tick = (): void => {
    let levels: MetricsLevels
    try {
      levels = read()
    } catch {
      // A part closing under us: skip this tick rather than stop sampling.
      return
    }
    const a = acc
    acc = zero()
    samples.push({
      t: Date.now(),
      ...levels,
      blocks: a.blocks,
      blockTxs: a.blockTxs,
      // Gas per 2 s stays far below 2^53.
      blockGas: Number(a.blockGas),
      sealed: a.sealed,
      imported: a.imported,
      importMs: a.imported === 0 ? 0 : Math.round((a.importSum / a.imported) * 1000),
      importMaxMs: Math.round(a.importMax * 1000),
      served: a.served,
      refused: a.refused,
    })
    if (samples.length > keep) samples.splice(0, samples.length - keep)
  }
  const timer = setInterval(tick, intervalMs)
  timer.unref()

  return {
    block(txs, gas) {
      acc.blocks++
      acc.blockTxs += txs
      acc.blockGas += gas
    },
    sealed() {
      acc.sealed++
    },
    imported(seconds) {
      acc.imported++
      acc.importSum += seconds
      acc.importMax = Math.max(acc.importMax, seconds)
    },
    served(ok) {
      if (ok) acc.served++
      else acc.refused++
    },
    snapshot: () => ({ interval: intervalMs, samples: samples.slice() }),
    close: () => clearInterval(timer),
  }
}
