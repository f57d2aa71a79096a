/**
 * Per fault, how the network took it: included tx/s in the 10 s before, during it, the dip's
 * minimum, and the time to recover from the fault's end: until included tx/s is back to 90 % of
 * before (held for a window), and until the faulted node's head is the network's again.
 * Rates are averaged over a window of max(3 s, two block periods): per-second buckets of a
 * chain with a block every 2 s alternate between 0 and twice the rate, so a single second says
 * nothing about the rate.
 */
import type { FaultEvent, FaultLog } from './fault-runner.ts'
import { formatFault, type FaultSpec } from './faults.ts'

/** How much of the throughput before counts as recovered. */
export const RECOVERED_SHARE = 0.9
/** Seconds before the fault that make "before" (fewer if the fault starts earlier). */
export const BEFORE_SECONDS = 10

export interface FaultReport {
  spec: FaultSpec
  /** As written: kill:2@10+8. */
  label: string
  /** This fault's steps in order, ms since the load started. */
  events: FaultEvent[]
  /** Mean included tx/s over the (up to) 10 s before the fault; null if it starts at 0. */
  beforeTps: number | null
  /** Mean included tx/s over the seconds the fault lasts. */
  duringTps: number | null
  /** Lowest windowed included tx/s from the fault's start until recovered (or the load ended), and when (s). */
  dipMinTps: number | null
  dipAtS: number | null
  /** Seconds the rate is averaged over for the dip and recovery. */
  windowS: number
  /** From the fault's end until the windowed tx/s is ≥ 90 % of before; null if not before the load ended. */
  throughputRecoveryS: number | null
  /** From the fault's end until the node's head was the network's (polled every 250 ms); null if never seen. */
  headRecoveryS: number | null
  /** The later of the two: the network is back. */
  recoveryS: number | null
  /** Sends to the node that failed from the fault's start until it was back (kill) or the fault ended. */
  rejected: number
  /** Kill: refused transactions sent again once the node was back, and how many it accepted. */
  resent: number
  resentAccepted: number
  /** Highest peer count the node reported during the fault (0 for a real isolation); null if down. */
  peersMax: number | null
  /** Head numbers of the node and of the network (node 0, or 1) at the fault's start and end. */
  heads: { nodeAtStart: number | null; nodeAtEnd: number | null; networkAtStart: number | null; networkAtEnd: number | null }
  /**
   * How many blocks the node was behind the final chain's head when observation ended (0: it
   * had the head; 1 is usual for any node, as the head is read at node 0 the moment it has it).
   * Null if it had none of the final chain's blocks since the load started.
   */
  finalHeadLag: number | null
}

export interface RecoveryInput {
  faults: readonly FaultSpec[]
  log: FaultLog
  /** Included transactions per second since the load started. */
  series: ReadonlyArray<{ t: number; txs: number }>
  sends: ReadonlyArray<{ node: number; at: number; ok: boolean }>
  /** performance.now() when the load started. */
  t0: number
  /** Warm-up + duration: recovery counts only while load is offered. */
  loadSeconds: number
  /** Block period (PoA) or target block time (PoW), seconds. */
  period: number
  /** The final chain since the load started and, per node, when each block joined its chain. */
  finalChain: ReadonlyArray<{ hash: string; number: number }>
  blockAt: ReadonlyArray<ReadonlyMap<string, number>>
}

/** Blocks between the final head and the newest final-chain block `had` holds. */
function headLag(chain: RecoveryInput['finalChain'], had: ReadonlyMap<string, number> | undefined): number | null {
  for (let i = chain.length - 1; i >= 0; i--) if (had?.has(chain[i]!.hash) === true) return chain.length - 1 - i
  return null
}

const mean = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((s, x) => s + x, 0) / xs.length)

export function analyseFaults(r: RecoveryInput): FaultReport[] {
  const txs = r.series.map((p) => p.txs)
  const window = Math.max(3, Math.ceil(2 * r.period))
  // The rate over [t, t + window), defined while the window lies inside the load.
  const windowed = (t: number): number | null => (t < 0 || t + window > Math.min(r.loadSeconds, txs.length) ? null : mean(txs.slice(t, t + window)))

  return r.faults.map((f, k) => {
    const events = r.log.events.filter((e) => e.fault === k)
    const obs = r.log.observations[k]
    const start = f.start
    const end = f.start + f.length
    const at = (step: FaultEvent['step']): number | undefined => events.find((e) => e.step === step)?.atMs

    const beforeTps = mean(txs.slice(Math.max(0, Math.floor(start) - BEFORE_SECONDS), Math.floor(start)))
    const duringTps = mean(txs.slice(Math.floor(start), Math.ceil(end)))

    let throughputRecoveryS: number | null = null
    let recoveredAt: number | undefined
    if (beforeTps !== null) {
      for (let t = Math.ceil(end); windowed(t) !== null; t++) {
        if (windowed(t)! >= RECOVERED_SHARE * beforeTps) {
          recoveredAt = t
          throughputRecoveryS = t - end
          break
        }
      }
    }
    let dipMinTps: number | null = null
    let dipAtS: number | null = null
    for (let t = Math.floor(start); windowed(t) !== null && (recoveredAt === undefined || t <= recoveredAt); t++) {
      const v = windowed(t)!
      if (dipMinTps === null || v < dipMinTps) [dipMinTps, dipAtS] = [v, t]
    }

    const caughtUp = at('caught-up')
    const headRecoveryS = caughtUp === undefined ? null : Math.max(0, caughtUp / 1000 - end)
    const recoveryS = throughputRecoveryS === null || headRecoveryS === null ? null : Math.max(throughputRecoveryS, headRecoveryS)

    // A killed node is back at 'up'; before that every send to it fails.
    const backMs = f.kind === 'kill' ? (at('up') ?? Infinity) : end * 1000
    const rejected = r.sends.filter((s) => s.node === f.node && !s.ok && s.at - r.t0 >= start * 1000 && s.at - r.t0 < backMs).length

    return {
      spec: f,
      label: formatFault(f),
      events,
      beforeTps,
      duringTps,
      dipMinTps,
      dipAtS,
      windowS: window,
      throughputRecoveryS,
      headRecoveryS,
      recoveryS,
      rejected,
      resent: obs?.resent ?? 0,
      resentAccepted: obs?.resentAccepted ?? 0,
      peersMax: obs?.peersMax ?? null,
      heads: { nodeAtStart: obs?.headAtStart ?? null, nodeAtEnd: obs?.headAtEnd ?? null, networkAtStart: obs?.networkHeadAtStart ?? null, networkAtEnd: obs?.networkHeadAtEnd ?? null },
      finalHeadLag: headLag(r.finalChain, r.blockAt[f.node]),
    }
  })
}
