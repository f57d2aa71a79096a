/**
 * Deterministic randomness for the workloads: a seeded PRNG (a call's numbers depend only on its
 * seed parts, so `tx(sender, seq)` stays a pure function) and YCSB's Zipfian sampler.
 */

/** murmur3's 32-bit finaliser: a bijective mix, so distinct seed parts give unrelated streams. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/**
 * A stream of uniform numbers in [0, 1) determined by `parts` (non-negative safe integers, e.g.
 * a workload's seed, a sender and a sequence number): mulberry32 started from a hash of the parts.
 */
export function seededRandom(...parts: number[]): () => number {
  let state = 0x9e3779b9
  for (const p of parts) state = mix32(mix32(state ^ (p >>> 0)) ^ Math.floor(p / 2 ** 32))
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** An integer in [lo, hi] from a uniform number in [0, 1). */
export function uniformInt(u: number, lo: number, hi: number): number {
  return lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1)))
}

/** YCSB's default skew. */
export const ZIPF_THETA = 0.99

/**
 * YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic databases",
 * SIGMOD 1994): `sample(u)` maps a uniform u in [0, 1) to a rank in [0, n), rank 0 the most
 * popular, P(rank i) proportional to 1 / (i + 1)^theta. Ranks are used as keys directly (YCSB's
 * scrambling spreads hot keys over a disk's key order, which contract storage does not have).
 */
export function createZipf(n: number, theta = ZIPF_THETA): { n: number; sample(u: number): number } {
  let zetan = 0
  for (let i = 1; i <= n; i++) zetan += 1 / i ** theta
  const zeta2 = 1 + 1 / 2 ** theta
  const alpha = 1 / (1 - theta)
  const eta = (1 - (2 / n) ** (1 - theta)) / (1 - zeta2 / zetan)
  return {
    n,
    sample(u) {
      const uz = u * zetan
      if (uz < 1) return 0
      if (uz < 1 + 0.5 ** theta) return Math.min(1, n - 1)
      return Math.min(n - 1, Math.floor(n * (eta * u - eta + 1) ** alpha))
    },
  }
}
