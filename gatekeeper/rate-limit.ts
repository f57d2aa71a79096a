/**
 * Token buckets per key (a verified requester's address, or a remote address for traffic whose
 * signature did not verify): each key holds up to `burst` tokens, refilled at `rate` per second;
 * a request takes one. Keys idle long enough to be full again are forgotten, so memory follows
 * the number of recently active keys, bounded by `maxKeys` (the oldest are dropped first).
 */

export interface RateLimitOptions {
  /** Tokens per second; 0 turns limiting off. */
  rate: number
  /** Bucket size: how many requests may come at once. */
  burst: number
  /** At most this many keys are tracked (default 100,000). */
  maxKeys?: number
  /** Milliseconds (default performance.now). */
  now?: () => number
}

export interface RateDecision {
  ok: boolean
  /** When refused: whole seconds until a token is back (≥ 1), for Retry-After. */
  retryAfter: number
}

export interface RateLimiter {
  /** Takes a token from `key` when one is there. */
  take(key: string): RateDecision
  /** Whether `key` has a token, without taking it (checked before costly work). */
  peek(key: string): RateDecision
  readonly enabled: boolean
}

interface Bucket {
  tokens: number
  at: number
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  const enabled = opts.rate > 0 && opts.burst > 0
  const now = opts.now ?? (() => performance.now())
  const maxKeys = opts.maxKeys ?? 100_000
  const fullAfterMs = enabled ? (opts.burst / opts.rate) * 1000 : 0
  const buckets = new Map<string, Bucket>()
  let sweptAt = 0

  function refill(key: string, t: number): Bucket {
    let b = buckets.get(key)
    if (b === undefined) {
      b = { tokens: opts.burst, at: t }
    } else {
      b.tokens = Math.min(opts.burst, b.tokens + ((t - b.at) / 1000) * opts.rate)
      b.at = t
      buckets.delete(key)
    }
    // Re-inserted: the map's order is least recently used first.
    buckets.set(key, b)
    return b
  }

  function sweep(t: number): void {
    if (t - sweptAt < 1000 && buckets.size <= maxKeys) return
    sweptAt = t
    for (const [k, b] of buckets) {
      if (buckets.size <= maxKeys && t - b.at < fullAfterMs) break
      buckets.delete(k)
    }
  }

  function decide(key: string, take: boolean): RateDecision {
    if (!enabled) return { ok: true, retryAfter: 0 }
    const t = now()
    sweep(t)
    const b = refill(key, t)
    if (b.tokens >= 1) {
      if (take) b.tokens -= 1
      return { ok: true, retryAfter: 0 }
    }
    return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / opts.rate)) }
  }

  return {
    enabled,
    take: (key) => decide(key, true),
    peek: (key) => decide(key, false),
  }
}

/**
 * Rate-limit refusals are audited, but a flood must not grow the log by one row per request:
 * per key, the first refusal of each window is written, carrying how many were refused
 * since the key's previous row without one.
 */
export interface RefusalCoalescer {
  /** undefined: count this refusal only; a number: write a row now, naming that many earlier unwritten refusals. */
  next(key: string): number | undefined
}

export function createRefusalCoalescer(windowMs: number, opts: { maxKeys?: number; now?: () => number } = {}): RefusalCoalescer {
  const now = opts.now ?? (() => performance.now())
  const maxKeys = opts.maxKeys ?? 10_000
  const seen = new Map<string, { at: number; suppressed: number }>()
  return {
    next(key) {
      const t = now()
      const s = seen.get(key)
      if (s !== undefined && t - s.at < windowMs) {
        s.suppressed++
        return undefined
      }
      const suppressed = s?.suppressed ?? 0
      seen.delete(key)
      seen.set(key, { at: t, suppressed: 0 })
      if (seen.size > maxKeys) seen.delete(seen.keys().next().value as string)
      return suppressed
    },
  }
}
