import type { RateLimit } from './options.ts'

/** A token bucket, refilled lazily on each take. */
export class TokenBucket {
  #tokens: number
  #last: number
  readonly #limit: RateLimit
  readonly #now: () => number

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.#limit = limit
    this.#now = now
    this.#tokens = limit.burst
    this.#last = now()
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.#now()
    this.#tokens = Math.min(this.#limit.burst, this.#tokens + ((t - this.#last) / 1000) * this.#limit.perSecond)
    this.#last = t
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
