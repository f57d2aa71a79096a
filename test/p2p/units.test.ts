import t from 'tap'
import { defaultPenalties, resolveP2POptions } from '../../p2p/index.ts'
import { TokenBucket } from '../../p2p/rate-limit.ts'
import { lengthDecoder } from '../../p2p/reqresp.ts'
import { PeerScores } from '../../p2p/scoring.ts'
import {
  bytesToUint,
  decodeItemsResponse,
  decodeRangeRequest,
  decodeStatusRequest,
  decodeStatusResponse,
  encodeErrorResponse,
  encodeItemsResponse,
  encodeRangeRequest,
  encodeStatusRequest,
  encodeStatusResponse,
  pack,
  uintToBytes,
} from '../../p2p/wire.ts'
import type { Status } from '../../p2p/index.ts'
import { GENESIS } from './helpers.ts'

const status: Status = {
  chainId: 1337n,
  genesisHash: Uint8Array.from(GENESIS),
  head: { number: 2n ** 40n, hash: new Uint8Array(32).fill(7) },
  totalDifficulty: 2n ** 200n + 5n,
}

t.test('status and range envelopes round-trip; big integers survive', async (t) => {
  t.same(decodeStatusRequest(encodeStatusRequest(status)), status)
  t.same(decodeStatusResponse(encodeStatusResponse(status)), { ok: true, value: status })
  t.same(decodeRangeRequest(encodeRangeRequest({ from: 0n, count: 3 })), { from: 0n, count: 3 })
  const items = [Uint8Array.of(1), Uint8Array.of(2, 3)]
  const back = decodeItemsResponse(encodeItemsResponse(items), 2, 10)
  t.ok(back.ok)
  t.same(back.ok && back.value.map((b) => [...b]), [[1], [2, 3]])
  t.same(decodeItemsResponse(encodeErrorResponse('RATE_LIMITED', 'slow down'), 1, 1), { ok: false, code: 'RATE_LIMITED', message: 'slow down' })
  for (const v of [0n, 1n, 255n, 256n, 2n ** 64n, 2n ** 256n - 1n]) t.equal(bytesToUint(uintToBytes(v), 'v'), v)
})

t.test('malformed envelopes are coded errors', async (t) => {
  const bad = (what: string, fn: () => unknown) => t.throws(fn, { code: 'P2P_INVALID_RESPONSE' }, what)
  bad('garbage', () => decodeStatusRequest(Uint8Array.of(0xc1)))
  bad('trailing bytes', () => decodeStatusRequest(Uint8Array.from([...encodeStatusRequest(status), 0])))
  bad('empty', () => decodeStatusRequest(new Uint8Array(0)))
  bad('not a map', () => decodeStatusRequest(pack([1, 2])))
  bad('short hash', () => decodeStatusRequest(pack({ ...wire(status), headHash: new Uint8Array(31) })))
  bad('leading zero', () => decodeStatusRequest(pack({ ...wire(status), chainId: Uint8Array.of(0, 1) })))
  bad('number too long', () => decodeStatusRequest(pack({ ...wire(status), headNumber: new Uint8Array(9).fill(1) })))
  bad('string number', () => decodeStatusRequest(pack({ ...wire(status), totalDifficulty: '5' })))
  bad('count 0', () => decodeRangeRequest(pack({ from: new Uint8Array(0), count: 0 })))
  bad('count float', () => decodeRangeRequest(pack({ from: new Uint8Array(0), count: 1.5 })))
  bad('no ok', () => decodeItemsResponse(pack({ items: [] }), 1, 1))
  bad('too many', () => decodeItemsResponse(encodeItemsResponse([Uint8Array.of(1), Uint8Array.of(2)]), 1, 10))
  bad('item too big', () => decodeItemsResponse(encodeItemsResponse([new Uint8Array(11)]), 1, 10))
  bad('empty item', () => decodeItemsResponse(encodeItemsResponse([new Uint8Array(0)]), 1, 10))
  bad('item not bytes', () => decodeItemsResponse(pack({ ok: true, items: ['x'] }), 1, 10))
  bad('error without code', () => decodeItemsResponse(pack({ ok: false }), 1, 10))
})

function wire(s: Status): Record<string, unknown> {
  return { chainId: uintToBytes(s.chainId), genesisHash: s.genesisHash, headNumber: uintToBytes(s.head.number), headHash: s.head.hash, totalDifficulty: uintToBytes(s.totalDifficulty) }
}

/** The part of a Uint8ArrayList the decoder reads. */
const list = (...bytes: number[]) => ({ byteLength: bytes.length, get: (i: number) => bytes[i]! }) as never

t.test('the length decoder stops at a prefix longer than the limit needs', async (t) => {
  const dec = lengthDecoder(1024) // at most 2 varint bytes
  t.equal(dec(list(5)), 5)
  t.equal(dec(list(0x80, 0x08)), 1024)
  t.throws(() => dec(list(0x80)), RangeError, 'incomplete: read on')
  t.throws(() => dec(list(0xff, 0xff)), { code: 'P2P_OVERSIZED' })
  t.equal(lengthDecoder(16 << 20)(list(0x80, 0x80, 0x80, 0x08)), 16 << 20)
})

t.test('our peer score: penalties, recovery, ban at the threshold', async (t) => {
  let now = 1_000_000
  const scores = new PeerScores({ disconnectScore: -100, banMs: 60_000, scoreRecoveryPerSecond: 1, penalties: { ...defaultPenalties } }, () => now)
  t.same(scores.penalize('p', 'invalid-frame'), { score: -25, banned: false })
  now += 10_000
  t.equal(scores.score('p'), -15, 'recovers 1 point a second')
  now += 60_000
  t.equal(scores.score('p'), 0, 'never above 0')
  for (let i = 0; i < 3; i++) scores.penalize('p', 'invalid-block')
  t.ok(scores.isBanned('p'), 'banned at -100')
  t.match(scores.banReason('p'), /after invalid-block/)
  t.equal(scores.penalize('p', 'timeout').banned, false, 'a ban is reported once')
  now += 60_001
  t.notOk(scores.isBanned('p'), 'the ban expires')
  scores.ban('q', 1000, 'another chain')
  t.ok(scores.isBanned('q'))
  now += 1001
  scores.prune()
  t.notOk(scores.isBanned('q'))
})

t.test('token bucket', async (t) => {
  let now = 0
  const b = new TokenBucket({ perSecond: 2, burst: 3 }, () => now)
  t.same([b.take(), b.take(), b.take(), b.take()], [true, true, true, false])
  now += 500
  t.same([b.take(), b.take()], [true, false], 'one token per 500 ms')
})

t.test('options: defaults and checks', async (t) => {
  const o = resolveP2POptions({ chainId: 1n, genesisHash: new Uint8Array(32), privateKey: new Uint8Array(32).fill(1), maxPeers: undefined, penalties: { timeout: -1 } })
  t.equal(o.listen.port, 30303)
  t.equal(o.maxPeers, 25, 'undefined does not override a default')
  t.equal(o.penalties.timeout, -1)
  t.equal(o.penalties['gossip-reject'], -10)
  t.equal(o.maxTxBytes, 128 * 1024)
  t.equal(o.maxBlockBytes, 10 * 1024 * 1024)
  t.throws(() => resolveP2POptions({ ...o, maxPeers: 0 }), { code: 'P2P_INVALID_OPTIONS' })
  t.throws(() => resolveP2POptions({ ...o, penalties: { timeout: 5 } }), { code: 'P2P_INVALID_OPTIONS' })
  t.throws(() => resolveP2POptions({ ...o, chainId: 0n }), { code: 'P2P_INVALID_OPTIONS' })
  t.throws(() => resolveP2POptions({ ...o, listen: { host: 'localhost' } }), { code: 'P2P_INVALID_OPTIONS' }, 'an IP address, not a name')
})
