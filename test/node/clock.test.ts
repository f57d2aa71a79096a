import t from 'tap'
import { createBlockHeader, type BlockHeader } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { EXTRA_SEAL, EXTRA_VANITY, PoaEngine } from '../../consensus/index.ts'
import { createChainCommon } from '../../evm/index.ts'
import { clockToleranceMs, createClockMonitor, medianTowardZero, OffsetEstimator } from '../../node/clock/index.ts'

/**
 * The clock monitor (issue 19): offsets from real sealed headers' lags, the median with this
 * clock's own vote, warnings about sealers, and the authority's refusal to seal while off.
 */

const engine = new PoaEngine({ period: 1, epoch: 30000n })
const common = createChainCommon({ chainId: 1337n, period: 1, epoch: 30000n })
const keys = ['a', 'b', 'c', 'd', 'outsider'].map((l) => keccak_256(new TextEncoder().encode(`clock-${l}`)))
const addr = (k: Uint8Array): string => new Address(keccak_256(secp256k1.getPublicKey(k, false).subarray(1)).subarray(12)).toString()
const [A, B, C, D, OUT] = keys.map(addr) as [string, string, string, string, string]
const keyOf = new Map<string, Uint8Array>(keys.map((k) => [addr(k), k]))

/** A real header sealed by `signer` stamped `seconds`. */
function sealed(signer: string, seconds: number): BlockHeader {
  const fields = { number: 1n, timestamp: BigInt(seconds), gasLimit: 8_000_000n, baseFeePerGas: 1n, difficulty: 2n, extraData: new Uint8Array(EXTRA_VANITY + EXTRA_SEAL) }
  const unsealed = createBlockHeader(fields, { common, setHardfork: false })
  return createBlockHeader({ ...fields, extraData: engine.seal(unsealed, keyOf.get(signer)!) }, { common, setHardfork: false })
}

function monitor(self: string, now: { t: number }) {
  const authorities = [A, B, C, D]
  return createClockMonitor(
    { algorithm: 'poa', blockTime: 1, now: () => now.t },
    { author: (h) => engine.author(h).toString(), counts: (a) => authorities.includes(a), self: () => self },
  )
}

t.test('median toward zero', async (t) => {
  t.equal(medianTowardZero([0]), 0)
  t.equal(medianTowardZero([0, 10_000]), 0, 'one peer against this clock: no verdict')
  t.equal(medianTowardZero([0, 10_000, 10_000]), 10_000)
  t.equal(medianTowardZero([0, 0, -10_000]), 0)
  t.equal(medianTowardZero([-3, -1, 2, 5]), -1)
})

t.test('estimator: a source is its least delayed recent sample; old samples and surplus ones go', async (t) => {
  const e = new OffsetEstimator({ perSource: 3, windowMs: 10_000 })
  e.add('x', 900, 0)
  e.add('x', 40, 1)
  e.add('x', 1500, 2)
  t.same(e.bySource(5).map((s) => [s.source, s.lagMs, s.samples]), [['x', 40, 3]])
  e.add('x', 700, 3)
  e.add('x', 800, 4)
  t.equal(e.bySource(5)[0]!.lagMs, 700, 'the 40 ms sample fell out of the last 3')
  t.same(e.bySource(20_000), [], 'all older than the window')
  t.equal(e.offsetMs(20_000), undefined)
})

t.test('a node 10 s ahead sees every authority late by 10 s: warns, refuses to seal, resumes once fixed', async (t) => {
  const now = { t: 1_800_000_000_000 }
  const m = monitor(C, now)
  const at = (ms: number) => Math.floor(ms / 1000)
  t.equal(m.sealingFault(), undefined, 'no evidence yet')
  // Honest sealers seal on the second; this node's clock reads 10 s (plus 30 ms of propagation) later.
  m.observe(sealed(A, at(now.t)), 'peerA', now.t + 10_030, 'gossip')
  t.equal(m.offsetSeconds(), 0, 'one authority against this clock is no verdict')
  t.equal(m.sealingFault(), undefined)
  m.observe(sealed(B, at(now.t)), 'peerB', now.t + 10_045, 'gossip')
  t.ok(Math.abs(m.offsetSeconds()! - 10.03) < 0.01, `offset ${m.offsetSeconds()}`)
  t.match(m.sealingFault(), /10\.0 s ahead of the network's.*fix the system clock \(NTP\)/)
  // Fixed: the next blocks arrive on time, and their smaller lag wins at once.
  now.t += 3000
  m.observe(sealed(A, at(now.t)), 'peerA', now.t + 20, 'gossip')
  m.observe(sealed(B, at(now.t)), 'peerB', now.t + 25, 'gossip')
  t.ok(Math.abs(m.offsetSeconds()!) < 0.1)
  t.equal(m.sealingFault(), undefined, 'sealing again')
})

t.test('a node 10 s behind sees blocks from its future: refuses to seal', async (t) => {
  const now = { t: 1_800_000_000_000 }
  const m = monitor(C, now)
  for (const [s, p] of [[A, 'pa'], [B, 'pb'], [D, 'pd']] as const) m.observe(sealed(s, Math.floor(now.t / 1000) + 10), p, now.t + 15, 'gossip')
  t.ok(m.offsetSeconds()! < -9.9)
  t.match(m.sealingFault(), /behind the network's/)
})

t.test('blocks that all arrive 3 s late (a loaded network, period 1): a warning, not a halt; 3 s from the future: a refusal', async (t) => {
  const now = { t: 1_800_000_000_000 }
  const late = monitor(C, now)
  const sec = Math.floor(now.t / 1000)
  late.observe(sealed(A, sec), 'pa', now.t + 3000, 'gossip')
  late.observe(sealed(B, sec), 'pb', now.t + 3100, 'gossip')
  t.ok(late.offsetSeconds()! > 2.9, 'measured as 3 s ahead')
  t.equal(late.sealingFault(), undefined, 'delays can explain lateness: every authority stopping would halt the chain')
  const early = monitor(C, now)
  early.observe(sealed(A, sec + 3), 'pa', now.t + 10, 'gossip')
  early.observe(sealed(B, sec + 3), 'pb', now.t + 20, 'gossip')
  t.match(early.sealingFault(), /behind the network's/, 'no delay makes a block arrive before its time')
})

t.test('an honest node names the sealer whose clock is ahead, and keeps sealing', async (t) => {
  const now = { t: 1_800_000_000_000 }
  const m = monitor(A, now)
  const sec = Math.floor(now.t / 1000)
  m.observe(sealed(B, sec), 'peerB', now.t + 20, 'gossip')
  m.observe(sealed(D, sec), 'peerD', now.t + 30, 'gossip')
  // C's clock is 10 s ahead: its block carries a time 10 s in our future (a range sync shows it too).
  m.observe(sealed(C, sec + 10), 'peerC', now.t + 5, 'sync')
  t.ok(Math.abs(m.offsetSeconds()!) < 0.1, 'the majority decides this clock is fine')
  t.equal(m.sealingFault(), undefined)
  const c = m.sealers().find((s) => s.sealer === C)!
  t.equal(c.peer, 'peerC')
  t.ok(Math.abs(c.aheadSeconds - 10) < 0.1, `C ahead by ${c.aheadSeconds}`)
})

t.test('what is no evidence: its own blocks, non-authorities, old blocks by range sync, bad seals', async (t) => {
  const now = { t: 1_800_000_000_000 }
  const m = monitor(C, now)
  const sec = Math.floor(now.t / 1000)
  m.observe(sealed(C, sec - 10), 'x', now.t, 'gossip')
  m.observe(sealed(OUT, sec - 10), 'x', now.t, 'gossip')
  m.observe(sealed(OUT, sec - 10), 'y', now.t, 'gossip')
  m.observe(sealed(A, sec - 3600), 'x', now.t, 'sync')
  m.observe(sealed(B, sec - 3600), 'x', now.t, 'sync')
  const broken = createBlockHeader({ number: 1n, timestamp: BigInt(sec - 10), gasLimit: 8_000_000n, difficulty: 2n, extraData: new Uint8Array(EXTRA_VANITY + EXTRA_SEAL) }, { common, setHardfork: false })
  m.observe(broken, 'x', now.t, 'gossip')
  t.equal(m.offsetSeconds(), undefined)
  t.same(m.sealers(), [])
})

t.test('tolerance: half a period, at least 1 s; PoW 5 s and never a refusal', async (t) => {
  t.equal(clockToleranceMs('poa', 1), 1000)
  t.equal(clockToleranceMs('poa', 5), 2500)
  t.equal(clockToleranceMs('pow', 5), 5000)
  const now = { t: 1_800_000_000_000 }
  const m = createClockMonitor({ algorithm: 'pow', blockTime: 5, now: () => now.t }, { author: (h) => engine.author(h).toString(), counts: () => true, self: () => undefined })
  for (const s of [A, B]) m.observe(sealed(s, Math.floor(now.t / 1000)), 'p', now.t + 30_000, 'gossip')
  t.ok(m.offsetSeconds()! > 29)
  t.equal(m.sealingFault(), undefined)
})
