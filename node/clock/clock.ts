import type { BlockHeader } from '@ethereumjs/block'
import { createLogger } from '../../common/index.ts'
import { OffsetEstimator, type EstimatorOptions } from './estimator.ts'

const log = createLogger('clock')

/** Repeated warnings about the same clock, at most this often. */
const WARN_EVERY_MS = 30_000

/**
 * How far a clock may be off before this node warns, and (PoA) an authority stops sealing: half
 * a period, at least 1 s. Below a period, a clock ahead cannot push the chain's timestamps (its
 * in-turn seal fires when its own clock reaches parent + period and carries exactly that time),
 * and a clock behind loses at most its own slot to the out-of-turn sealers' wiggle; a second is
 * the floor because timestamps are whole seconds and the estimate carries the delays of sealing
 * and propagation (tens to hundreds of milliseconds on a loaded network), which must not stop an
 * honest authority. Proof of work stamps a block when the work starts (re-stamped every few
 * seconds while mining), so its lags carry mining time: 5 s there, and a warning only.
 */
export function clockToleranceMs(algorithm: 'poa' | 'pow', blockTime: number): number {
  return algorithm === 'pow' ? 5000 : Math.max(1000, blockTime * 500)
}

/**
 * A clock found ahead stops sealing only beyond this much too (it warns from the tolerance on).
 * The two directions are not equally certain: a block from the future (this clock behind) cannot
 * be explained by delays, while blocks that all arrive late (this clock ahead) can, by a loaded
 * network or machine; at a 1 s period, seconds of delay to every sealer would otherwise stop
 * every authority at once and halt the chain. An early block does not harm the network meanwhile:
 * beyond the future-block allowance (half a period) the others refuse it until it is due.
 */
export const AHEAD_REFUSAL_FLOOR_MS = 5000

export interface ClockOptions {
  algorithm: 'poa' | 'pow'
  /** Seconds between blocks (the PoA period, the PoW target). */
  blockTime: number
  /** Default clockToleranceMs(algorithm, blockTime). */
  toleranceMs?: number
  estimator?: Partial<EstimatorOptions>
  now?: () => number
}

export interface ClockModules {
  /** A header's sealer (lower-case 0x address); may throw for a bad seal (then no sample). */
  author(header: BlockHeader): string
  /** Whether blocks of this sealer count: an authority at the head (PoA), anyone (PoW). */
  counts(author: string): boolean
  /** This node's own author, if it seals (its own blocks are no evidence). */
  self(): string | undefined
}

/** One sealer whose clock differs from the network's. */
export interface SealerClock {
  sealer: string
  /** The peer that delivered its latest block. */
  peer: string
  /** Its clock minus the network's, seconds (positive: ahead). */
  aheadSeconds: number
}

export interface ClockMonitor {
  readonly toleranceMs: number
  /** A block from a peer: gossiped (`gossip`, any lag counts) or fetched by range sync (only a block from the future is evidence there). */
  observe(header: BlockHeader, from: string, arrivedMs: number, via: 'gossip' | 'sync'): void
  /** This clock minus the network's, seconds; undefined before any authority's block arrived. */
  offsetSeconds(): number | undefined
  /** Every sealer heard from recently, its clock relative to the network's. */
  sealers(): SealerClock[]
  /** Why this authority must not seal now (its clock is off beyond the tolerance), or undefined. PoA only. */
  sealingFault(): string | undefined
}

const secs = (ms: number) => `${ms >= 0 ? '+' : '-'}${(Math.abs(ms) / 1000).toFixed(1)}s`

/**
 * Measures this node's clock against the sealers' from the blocks it receives (geth measures
 * nothing on its p2p links: it relies on NTP and only warns through an NTP query at discovery
 * start-up), warns loudly when this clock or a sealer's is off, and tells the producer to stop
 * sealing while this clock is off (an early block stalls every sealer after it; a late one forks).
 */
export function createClockMonitor(opts: ClockOptions, modules: ClockModules): ClockMonitor {
  const now = opts.now ?? Date.now
  const toleranceMs = opts.toleranceMs ?? clockToleranceMs(opts.algorithm, opts.blockTime)
  const estimator = new OffsetEstimator(opts.estimator)
  const lastPeer = new Map<string, string>()
  let ownWarnedAt: number | undefined
  const sealerWarnedAt = new Map<string, number>()

  const offsetMs = (): number | undefined => estimator.offsetMs(now())
  /** How far off (ms) this clock may be, in the direction of `offset`, before sealing is refused. */
  const refusalMs = (offset: number): number => (offset > 0 ? Math.max(toleranceMs, AHEAD_REFUSAL_FLOOR_MS) : toleranceMs)

  function sealers(): SealerClock[] {
    const t = now()
    const offset = estimator.offsetMs(t) ?? 0
    return estimator.bySource(t).map((s) => ({ sealer: s.source, peer: lastPeer.get(s.source) ?? '', aheadSeconds: (offset - s.lagMs) / 1000 }))
  }

  function judge(): void {
    const t = now()
    const offset = estimator.offsetMs(t)
    if (offset === undefined) return
    const sources = estimator.bySource(t)
    if (Math.abs(offset) > toleranceMs) {
      if (ownWarnedAt === undefined || t - ownWarnedAt >= WARN_EVERY_MS) {
        ownWarnedAt = t
        log.warn(`This node's clock is ${offset > 0 ? 'ahead of' : 'behind'} the network's: fix the system clock (NTP)`, {
          offset: secs(offset),
          sealers: sources.length,
          tolerance: secs(toleranceMs),
          sealing: opts.algorithm !== 'poa' ? 'unaffected' : Math.abs(offset) > refusalMs(offset) ? 'refused until fixed' : `refused beyond ${secs(refusalMs(offset))}`,
        })
      }
    } else if (ownWarnedAt !== undefined) {
      ownWarnedAt = undefined
      log.info("This node's clock is back within tolerance of the network's", { offset: secs(offset), tolerance: secs(toleranceMs) })
    }
    // With one sealer heard from, its clock and ours disagree but neither is the odd one out.
    if (sources.length < 2) return
    for (const s of sources) {
      const ahead = offset - s.lagMs
      if (Math.abs(ahead) <= toleranceMs) {
        sealerWarnedAt.delete(s.source)
        continue
      }
      const last = sealerWarnedAt.get(s.source)
      if (last !== undefined && t - last < WARN_EVERY_MS) continue
      sealerWarnedAt.set(s.source, t)
      log.warn(`A sealer's clock is ${ahead > 0 ? 'ahead of' : 'behind'} the network's: its blocks arrive ${ahead > 0 ? 'before' : 'after'} their time; its operator must fix the system clock (NTP)`, {
        sealer: s.source,
        peer: lastPeer.get(s.source),
        ahead: secs(ahead),
        tolerance: secs(toleranceMs),
      })
    }
  }

  return {
    toleranceMs,
    observe(header, from, arrivedMs, via) {
      const lagMs = arrivedMs - Number(header.timestamp) * 1000
      // A block fetched by range may be old; only one that arrived before its own time says something then.
      if (via === 'sync' && lagMs >= 0) return
      let author: string
      try {
        author = modules.author(header).toLowerCase()
      } catch {
        return
      }
      // Only authorities' blocks: anyone else could mint headers with any timestamp under fresh keys.
      if (author === modules.self()?.toLowerCase() || !modules.counts(author)) return
      estimator.add(author, lagMs, now())
      lastPeer.set(author, from)
      if (lastPeer.size > 1024) lastPeer.delete(lastPeer.keys().next().value!)
      judge()
    },
    offsetSeconds() {
      const o = offsetMs()
      return o === undefined ? undefined : o / 1000
    },
    sealers,
    sealingFault() {
      if (opts.algorithm !== 'poa') return undefined
      const o = offsetMs()
      if (o === undefined || Math.abs(o) <= refusalMs(o)) return undefined
      return `the system clock is ${(Math.abs(o) / 1000).toFixed(1)} s ${o > 0 ? 'ahead of' : 'behind'} the network's (tolerance ${(toleranceMs / 1000).toFixed(1)} s): not sealing until it is fixed; fix the system clock (NTP)`
    },
  }
}
