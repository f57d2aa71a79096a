/**
 * Proof-of-work hash rate, side by side in one run: raw keccak-256 of a 40-byte input on the main
 * thread, the miners' searchNonce loop on the main thread, then the mining pool with 1 and 2
 * threads at a difficulty no nonce meets.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createMinerPool } from '../../consensus/pow/miner-pool.ts'
import { searchNonce } from '../../consensus/pow/hashcash.ts'
import type { Row } from './report.ts'

const IMPOSSIBLE = 1n << 60n

/** Calls `step(batch)` for ~`ms` and returns items per second (step returns how many it did). */
function rate(ms: number, step: () => number): number {
  step() // warm-up (JIT)
  let n = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < ms) {
    n += step()
    t = performance.now()
  }
  return (n * 1000) / (t - t0)
}

async function poolRate(threads: number, ms: number): Promise<number> {
  const pool = createMinerPool({ threads })
  const ac = new AbortController()
  try {
    const seal = keccak_256(new TextEncoder().encode(`pow-bench-${threads}`))
    const mining = pool.mine(seal, IMPOSSIBLE, ac.signal)
    await new Promise((r) => setTimeout(r, ms))
    const hps = pool.hashrate() // over the last ~2 s: the thread start-up is behind it
    ac.abort()
    await mining
    return hps
  } finally {
    await pool.close()
  }
}

export async function runPowHashBench(): Promise<Row[]> {
  const input = new Uint8Array(40)
  let i = 0
  const raw = rate(2000, () => {
    for (let k = 0; k < 1000; k++) {
      input[39] = i++
      keccak_256(input)
    }
    return 1000
  })
  const seal = keccak_256(input)
  let start = 0n
  const loop = rate(2000, () => {
    const { tried } = searchNonce(seal, IMPOSSIBLE, start, 4000)
    start += BigInt(tried)
    return tried
  })
  const one = await poolRate(1, 3000)
  const two = await poolRate(2, 3000)
  const fmt = (x: number) => x.toFixed(0)
  return [
    { metric: 'keccak-256 of 40 bytes, main thread (hashes/s)', value: fmt(raw) },
    { metric: 'searchNonce, main thread (hashes/s)', value: fmt(loop) },
    { metric: 'miner pool, 1 thread (hashes/s)', value: fmt(one) },
    { metric: 'miner pool, 2 threads (hashes/s)', value: fmt(two) },
    { metric: 'searchNonce / raw keccak-256', value: `${(loop / raw).toFixed(2)}x` },
    { metric: 'pool 1 thread / raw keccak-256', value: `${(one / raw).toFixed(2)}x` },
    { metric: 'pool 2 threads / (2 x raw keccak-256)', value: `${(two / (2 * raw)).toFixed(2)}x` },
  ]
}
