import type { PeerIdStr, PenaltyReason } from './types.ts'

export interface ScoringOptions {
  disconnectScore: number
  banMs: number
  scoreRecoveryPerSecond: number
  penalties: Record<PenaltyReason, number>
}

interface Entry {
  score: number
  /** When `score` was last brought up to date. */
  at: number
}

export interface PenaltyOutcome {
  score: number
  /** The penalty took the peer to the disconnect threshold: it is now banned. */
  banned: boolean
}

/**
 * Our own per-peer score: penalties lower it, it recovers linearly towards 0, and at
 * `disconnectScore` the peer is banned for `banMs`. Scores outlive connections, so a peer
 * cannot wash its record by reconnecting.
 */
export class PeerScores {
  readonly #opts: ScoringOptions
  readonly #now: () => number
  readonly #entries = new Map<PeerIdStr, Entry>()
  readonly #bans = new Map<PeerIdStr, { until: number; reason: string }>()

  constructor(opts: ScoringOptions, now: () => number = Date.now) {
    this.#opts = opts
    this.#now = now
  }

  score(peer: PeerIdStr): number {
    const e = this.#entries.get(peer)
    if (!e) return 0
    const t = this.#now()
    e.score = Math.min(0, e.score + ((t - e.at) / 1000) * this.#opts.scoreRecoveryPerSecond)
    e.at = t
    if (e.score === 0) this.#entries.delete(peer)
    return e.score
  }

  /** Applies `reason`'s weight `times` times (one call for a batch holding several offences). */
  penalize(peer: PeerIdStr, reason: PenaltyReason, times = 1): PenaltyOutcome {
    const score = this.score(peer) + this.#opts.penalties[reason] * times
    if (score < 0) this.#entries.set(peer, { score, at: this.#now() })
    const banned = score <= this.#opts.disconnectScore && !this.isBanned(peer)
    if (banned) this.ban(peer, this.#opts.banMs, `score ${score.toFixed(1)} after ${reason}`)
    return { score, banned }
  }

  ban(peer: PeerIdStr, ms: number, reason: string): void {
    const until = this.#now() + ms
    const prev = this.#bans.get(peer)
    if (!prev || prev.until < until) this.#bans.set(peer, { until, reason })
  }

  isBanned(peer: PeerIdStr): boolean {
    const b = this.#bans.get(peer)
    if (!b) return false
    if (b.until > this.#now()) return true
    this.#bans.delete(peer)
    return false
  }

  banReason(peer: PeerIdStr): string | undefined {
    return this.isBanned(peer) ? this.#bans.get(peer)?.reason : undefined
  }

  /** Forgets recovered scores and expired bans (bounded memory). */
  prune(): void {
    for (const peer of [...this.#entries.keys()]) this.score(peer)
    for (const peer of [...this.#bans.keys()]) this.isBanned(peer)
  }
}
