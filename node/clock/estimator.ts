/**
 * The clock-offset estimate from blocks: each sample is a block's lag, the local time it arrived
 * minus its header timestamp. A lag is this clock minus the sealer's clock plus every delay on
 * the way (the wait for the slot, building, propagation, our own busy event loop): delays only
 * add, so a source's offset is the smallest lag it showed recently (as NTP keeps the sample with
 * the least delay). The node's own offset is the median over sources with its own clock as one
 * more vote at 0: one skewed or lying authority cannot move it, and with a single peer (who is
 * right?) it stays 0.
 */

export interface EstimatorOptions {
  /** Samples kept per source (the newest). */
  perSource: number
  /** Samples older than this are dropped. */
  windowMs: number
  /** At most this many sources are kept (the least recently heard from goes first). */
  maxSources: number
}

export const DEFAULT_ESTIMATOR_OPTIONS: EstimatorOptions = { perSource: 8, windowMs: 60_000, maxSources: 256 }

/** One source's view: its clock relative to ours, from its least delayed recent block. */
export interface SourceOffset {
  source: string
  /** This clock minus the source's (ms): positive when the source is behind us, negative when ahead. */
  lagMs: number
  samples: number
  /** When the newest sample arrived (local ms). */
  lastAt: number
}

interface Sample {
  lagMs: number
  at: number
}

export class OffsetEstimator {
  private readonly opts: EstimatorOptions
  private readonly sources = new Map<string, Sample[]>()

  constructor(opts: Partial<EstimatorOptions> = {}) {
    this.opts = { ...DEFAULT_ESTIMATOR_OPTIONS, ...opts }
  }

  add(source: string, lagMs: number, at: number): void {
    const kept = this.sources.get(source) ?? []
    kept.push({ lagMs, at })
    if (kept.length > this.opts.perSource) kept.splice(0, kept.length - this.opts.perSource)
    // Re-inserted last: the map's order is the order sources were last heard from.
    this.sources.delete(source)
    this.sources.set(source, kept)
    while (this.sources.size > this.opts.maxSources) this.sources.delete(this.sources.keys().next().value!)
  }

  /** Every source with a sample inside the window, its offset the minimum lag. */
  bySource(now: number): SourceOffset[] {
    const out: SourceOffset[] = []
    for (const [source, samples] of this.sources) {
      const live = samples.filter((s) => now - s.at <= this.opts.windowMs)
      if (live.length === 0) {
        this.sources.delete(source)
        continue
      }
      if (live.length !== samples.length) this.sources.set(source, live)
      out.push({ source, lagMs: Math.min(...live.map((s) => s.lagMs)), samples: live.length, lastAt: live[live.length - 1]!.at })
    }
    return out
  }

  /**
   * This clock minus the network's (ms), or undefined with no source. The median of the
   * sources' offsets and 0 (this clock's own vote); of two middle values, the one nearer 0.
   */
  offsetMs(now: number): number | undefined {
    const sources = this.bySource(now)
    if (sources.length === 0) return undefined
    return medianTowardZero([0, ...sources.map((s) => s.lagMs)])
  }
}

/** The median; for an even count, whichever middle value is nearer 0 (the cautious one). */
export function medianTowardZero(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b)
  const mid = v.length >> 1
  if (v.length % 2 === 1) return v[mid]!
  const a = v[mid - 1]!
  const b = v[mid]!
  return Math.abs(a) <= Math.abs(b) ? a : b
}
