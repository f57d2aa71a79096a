import t, { type Test } from 'tap'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { hashTypedData, toHex, type Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { toData } from '../../common/index.ts'
import {
  createRequestVerifier,
  newRequest,
  parseSignedRequest,
  REQUEST_TYPES,
  requestDigest,
  signRequest,
  type ParsedSignedRequest,
  type RequestVerifierOptions,
} from '../../gatekeeper/request.ts'
import { GatekeeperErrorCode, isGatekeeperError } from '../../gatekeeper/errors.ts'
import type { GatekeeperRequest, SignedRequestJson } from '../../gatekeeper/types.ts'

const CHAIN = 1337n
const GK = privateKeyToAccount(toHex(new Uint8Array(32).fill(9))).address
const OTHER_GK = privateKeyToAccount(toHex(new Uint8Array(32).fill(8))).address
const REL = '0x00000000000000000000000000000000000000aa' as Address
const NOW = 1_700_000_000
const N = secp256k1.Point.CURVE().n

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b)
const alice = key(1)
const mallory = key(2)
const aliceAddress = privateKeyToAccount(toData(alice)).address
const malloryAddress = privateKeyToAccount(toData(mallory)).address

function records(over: Partial<GatekeeperRequest> = {}): GatekeeperRequest {
  return { ...newRequest({ gatekeeper: GK, method: 'records', relationship: REL, pointerIds: [0n, 2n], fieldMasks: [3n, 1n] }, NOW), ...over }
}
function signed(sk: Uint8Array, req = records(), chainId = CHAIN): SignedRequestJson {
  return JSON.parse(JSON.stringify(signRequest(sk, chainId, req))) as SignedRequestJson
}
function verifier(over: Partial<RequestVerifierOptions> = {}) {
  return createRequestVerifier({ chainId: CHAIN, gatekeepers: [GK], now: () => NOW, ...over })
}
const parse = (j: unknown): ParsedSignedRequest => parseSignedRequest(j)

t.test('the digest is EIP-712 as viem computes it; signatures equal a wallet signTypedData', async (t) => {
  const reqs: GatekeeperRequest[] = [
    records(),
    records({ pointerIds: [], fieldMasks: [] }),
    records({ pointerIds: [2n ** 256n - 1n], fieldMasks: [2n ** 255n + 7n], index: 5n, issuedAt: 2n ** 64n - 2n, expiresAt: 2n ** 64n - 1n }),
    { ...newRequest({ gatekeeper: GK, method: 'audit', relationship: '0x0000000000000000000000000000000000000000' }, NOW) },
  ]
  for (const [i, req] of reqs.entries()) {
    for (const chainId of [1n, CHAIN]) {
      const viemDigest = hashTypedData({ domain: { name: 'MedRec Gatekeeper', version: '1', chainId }, types: REQUEST_TYPES, primaryType: 'GatekeeperRequest', message: req })
      t.equal(toData(requestDigest(chainId, req)), viemDigest, `request ${i}, chain ${chainId}`)
    }
    const wallet = await privateKeyToAccount(toData(alice)).signTypedData({ domain: { name: 'MedRec Gatekeeper', version: '1', chainId: CHAIN }, types: REQUEST_TYPES, primaryType: 'GatekeeperRequest', message: req })
    const ours = signRequest(toData(alice), CHAIN, req)
    t.equal(ours.signature, wallet, `request ${i}: same signature as viem's signTypedData`)
    t.equal(ours.from, aliceAddress)
  }
  const r = newRequest({ gatekeeper: GK, method: 'records', relationship: REL }, NOW)
  t.equal(r.expiresAt - r.issuedAt, 120n, 'default lifetime 120 s')
  t.not(r.nonce, newRequest({ gatekeeper: GK, method: 'records', relationship: REL }, NOW).nonce, 'fresh nonce each time')
  t.match(r.nonce, /^0x[0-9a-f]{64}$/)
  t.throws(() => newRequest({ gatekeeper: GK, method: 'records', relationship: REL, ttlSeconds: 0 }), { code: GatekeeperErrorCode.BAD_REQUEST })
  t.throws(() => signRequest(new Uint8Array(32), CHAIN, r), { code: GatekeeperErrorCode.BAD_REQUEST, message: /out of range/ }, 'zero key')
  t.throws(() => signRequest('0x1234', CHAIN, r), { code: GatekeeperErrorCode.BAD_REQUEST }, 'short key')
  t.throws(() => signRequest(alice, CHAIN, { ...r, issuedAt: 2n ** 64n }), { code: GatekeeperErrorCode.BAD_REQUEST, message: /issuedAt/ }, 'uint64 overflow')
  t.throws(() => signRequest(alice, CHAIN, { ...r, gatekeeper: '0x12' }), { code: GatekeeperErrorCode.BAD_REQUEST, message: /gatekeeper/ })
})

t.test('a valid request verifies, from a cold and from a warm cache', async (t) => {
  const v = verifier()
  for (let i = 0; i < 5; i++) {
    const out = v.verify(parse(signed(alice, records())))
    t.equal(out.requester, aliceAddress, `round ${i}`)
    t.same([...out.publicKey], [...secp256k1.getPublicKey(alice, false)])
  }
  // The wire may carry v as 0/1 instead of 27/28.
  const j = signed(alice)
  const v01 = (parseInt(j.signature.slice(-2), 16) - 27).toString(16).padStart(2, '0')
  t.equal(v.verify(parse({ ...j, signature: j.signature.slice(0, -2) + v01 })).requester, aliceAddress, 'v = 0/1')
  t.equal(verifier().verify(parse({ ...j, signature: j.signature.slice(0, -2) + v01 })).requester, aliceAddress, 'v = 0/1, cold')
})

/** Each attack is tried on a fresh verifier (recovery path) and on one that already knows alice's key (cached path). */
function bothPaths(t: Test, name: string, json: unknown, code: GatekeeperErrorCode, message?: RegExp): void {
  const cold = verifier()
  t.throws(() => cold.verify(parse(json)), { code, ...(message ? { message } : {}) }, `${name} (cold)`)
  const warm = verifier()
  for (let i = 0; i < 3; i++) warm.verify(parse(signed(alice))) // cached, with a table
  t.throws(() => warm.verify(parse(json)), { code, ...(message ? { message } : {}) }, `${name} (warm)`)
}

t.test('forgeries are refused', async (t) => {
  const good = signed(alice)
  bothPaths(t, 'signed by another key, claiming alice', { ...signed(mallory), from: aliceAddress }, GatekeeperErrorCode.BAD_SIGNATURE, /not by/)
  bothPaths(t, 'alice signed for another chain id', signed(alice, records(), 1n), GatekeeperErrorCode.BAD_SIGNATURE)
  bothPaths(t, 'wrong from', { ...good, from: malloryAddress }, GatekeeperErrorCode.BAD_SIGNATURE, /not by/)
  bothPaths(t, 'for another gatekeeper (valid signature)', signed(alice, records({ gatekeeper: OTHER_GK })), GatekeeperErrorCode.WRONG_GATEKEEPER, /answers for/)

  const changes: [string, Partial<SignedRequestJson['request']>][] = [
    ['relationship', { relationship: '0x00000000000000000000000000000000000000ab' }],
    ['pointerIds', { pointerIds: ['0', '3'] }],
    ['fieldMasks', { fieldMasks: ['7', '1'] }],
    ['nonce', { nonce: '0x' + '11'.repeat(32) }],
    ['issuedAt', { issuedAt: String(NOW - 1) }],
    ['expiresAt', { expiresAt: String(NOW + 119) }],
  ]
  for (const [name, change] of changes) bothPaths(t, `changed ${name}`, { ...good, request: { ...good.request, ...change } }, GatekeeperErrorCode.BAD_SIGNATURE)
  const bounty = signed(alice, { ...newRequest({ gatekeeper: GK, method: 'bounty', relationship: REL, pointerIds: [1n], index: 4n }, NOW) })
  bothPaths(t, 'changed bounty index', { ...bounty, request: { ...bounty.request, index: '5' } }, GatekeeperErrorCode.BAD_SIGNATURE)
  bothPaths(t, 'changed method', { ...bounty, request: { ...bounty.request, method: 'audit', pointerIds: [], index: '0' } }, GatekeeperErrorCode.BAD_SIGNATURE)
  t.equal(verifier().verify(parse({ ...good, request: { ...good.request, gatekeeper: GK.toLowerCase() } })).requester, aliceAddress, 'address case is not part of the message')
})

t.test('malformed signatures are refused: high s, bad v, r/s out of range, garbage', async (t) => {
  const good = signed(alice)
  const sig = good.signature.slice(2)
  const r = BigInt('0x' + sig.slice(0, 64))
  const s = BigInt('0x' + sig.slice(64, 128))
  const v = parseInt(sig.slice(128), 16)
  const hex = (n: bigint) => n.toString(16).padStart(64, '0')
  const high = `0x${hex(r)}${hex(N - s)}${(v === 27 ? 28 : 27).toString(16)}`
  // The high-s twin is a mathematically valid signature: only EIP-2 rejects it.
  const digest = requestDigest(CHAIN, parse(good).request)
  t.ok(secp256k1.verify(Uint8Array.from(Buffer.from(high.slice(2, 130), 'hex')), digest, secp256k1.getPublicKey(alice, false), { prehash: false, lowS: false }), 'the twin verifies without EIP-2')
  bothPaths(t, 'high s', { ...good, signature: high }, GatekeeperErrorCode.BAD_SIGNATURE, /EIP-2/)
  for (const bad of [26, 29, 2, 255]) bothPaths(t, `v = ${bad}`, { ...good, signature: good.signature.slice(0, -2) + bad.toString(16).padStart(2, '0') }, GatekeeperErrorCode.BAD_SIGNATURE, /v must be/)
  bothPaths(t, 'r = 0', { ...good, signature: `0x${hex(0n)}${hex(s)}1b` }, GatekeeperErrorCode.BAD_SIGNATURE, /out of range/)
  bothPaths(t, 's = 0', { ...good, signature: `0x${hex(r)}${hex(0n)}1b` }, GatekeeperErrorCode.BAD_SIGNATURE, /out of range/)
  bothPaths(t, 'r = n', { ...good, signature: `0x${hex(N)}${hex(s)}1b` }, GatekeeperErrorCode.BAD_SIGNATURE, /out of range/)
  bothPaths(t, 'r flipped bit', { ...good, signature: `0x${hex(r ^ 1n)}${hex(s)}${v.toString(16)}` }, GatekeeperErrorCode.BAD_SIGNATURE)
  bothPaths(t, 's flipped bit', { ...good, signature: `0x${hex(r)}${hex(s ^ 4n)}${v.toString(16)}` }, GatekeeperErrorCode.BAD_SIGNATURE)
  bothPaths(t, 'all ones', { ...good, signature: '0x' + '7f'.repeat(64) + '1b' }, GatekeeperErrorCode.BAD_SIGNATURE)
})

t.test('the cached fast path agrees with full verification on many requests and tampered twins', async (t) => {
  const keys = [alice, mallory, key(3)]
  const v = verifier({ keyCacheSize: 2, tableCacheSize: 1 }) // evictions of keys and of tables on the way
  let ok = 0
  let refused = 0
  for (let i = 0; i < 60; i++) {
    const sk = keys[i % 3]!
    const j = signed(sk, records({ pointerIds: [BigInt(i)], fieldMasks: [BigInt(i + 1)] }))
    if (v.verify(parse(j)).requester === privateKeyToAccount(toData(sk)).address) ok++
    const other = keys[(i + 1) % 3]!
    try {
      v.verify(parse({ ...signed(other, records({ pointerIds: [BigInt(i)], fieldMasks: [BigInt(i + 1)] })), from: j.from }))
    } catch (err) {
      if (isGatekeeperError(err) && err.code === GatekeeperErrorCode.BAD_SIGNATURE) refused++
    }
  }
  t.equal(ok, 60, 'every genuine request verified')
  t.equal(refused, 60, 'every request signed by someone else refused')
})

t.test('freshness: expiry, future issue beyond skew, lifetime above the maximum', async (t) => {
  const at = (now: number) => verifier({ now: () => now })
  const base = records({ issuedAt: BigInt(NOW), expiresAt: BigInt(NOW + 100) })
  const j = signed(alice, base)
  t.equal(at(NOW + 100).verify(parse(j)).requester, aliceAddress, 'valid at its expiry second')
  t.throws(() => at(NOW + 101).verify(parse(j)), { code: GatekeeperErrorCode.EXPIRED, message: /expired 1 s ago/ }, 'one second later')
  t.equal(at(NOW - 30).verify(parse(j)).requester, aliceAddress, 'issued exactly skew seconds ahead of our clock')
  t.throws(() => at(NOW - 31).verify(parse(j)), { code: GatekeeperErrorCode.EXPIRED, message: /future/ }, 'beyond the skew')
  t.equal(at(NOW).verify(parse(signed(alice, records({ expiresAt: BigInt(NOW + 300) })))).requester, aliceAddress, 'lifetime = maximum')
  t.throws(() => at(NOW).verify(parse(signed(alice, records({ expiresAt: BigInt(NOW + 301) })))), { code: GatekeeperErrorCode.EXPIRED, message: /at most 300/ }, 'lifetime above the maximum')
  t.throws(() => verifier({ maxLifetimeSeconds: 60 }).verify(parse(signed(alice, records({ expiresAt: BigInt(NOW + 61) })))), { code: GatekeeperErrorCode.EXPIRED }, 'configured maximum')
  t.throws(() => at(NOW).verify(parse(signed(alice, records({ expiresAt: BigInt(NOW - 1) })))), { code: GatekeeperErrorCode.EXPIRED, message: /before it is issued/ })
  // Freshness is checked before the (expensive) signature.
  t.throws(() => at(NOW + 500).verify(parse({ ...j, from: malloryAddress })), { code: GatekeeperErrorCode.EXPIRED })
})

t.test('parseSignedRequest is strict and precise', async (t) => {
  const good = signed(alice)
  const withReq = (change: Record<string, unknown>) => ({ ...good, request: { ...good.request, ...change } })
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /is an object/],
    ['array', [], /is an object/],
    ['extra top-level key', { ...good, extra: 1 }, /unknown key\(s\) "extra"/],
    ['missing signature', { request: good.request, from: good.from }, /lacks signature/],
    ['extra request key', withReq({ query: 'select' }), /request has unknown key\(s\) "query"/],
    ['missing request key', { ...good, request: Object.fromEntries(Object.entries(good.request).filter(([k]) => k !== 'nonce')) }, /request lacks nonce/],
    ['bad gatekeeper', withReq({ gatekeeper: '0x1234' }), /request.gatekeeper must be an address/],
    ['bad checksum', withReq({ relationship: '0x00000000000000000000000000000000000000aA' }), /request.relationship .* wrong EIP-55 checksum/],
    ['unknown method', withReq({ method: 'sql' }), /request.method must be one of records, bounty, audit/],
    ['short nonce', withReq({ nonce: '0x1234' }), /request.nonce must be 32 bytes/],
    ['number instead of string', withReq({ index: 0 }), /request.index must be a decimal integer string/],
    ['leading zero', withReq({ issuedAt: '0' + String(NOW) }), /request.issuedAt must be a decimal/],
    ['negative', withReq({ pointerIds: ['-1', '0'] }), /request.pointerIds\[0\] must be a decimal/],
    ['hex number', withReq({ fieldMasks: ['0x3', '1'] }), /request.fieldMasks\[0\]/],
    ['uint64 overflow', withReq({ expiresAt: String(2n ** 64n) }), /request.expiresAt must fit in 64 bits/],
    ['uint256 overflow', withReq({ pointerIds: [String(2n ** 256n), '0'] }), /must fit in 256 bits/],
    ['too many pointers', withReq({ pointerIds: Array(65).fill('0'), fieldMasks: Array(65).fill('1') }), /65 items; at most 64/],
    ['mask count mismatch', withReq({ fieldMasks: ['1'] }), /2 pointerIds but 1 fieldMasks/],
    ['index on records', withReq({ index: '1' }), /index must be "0" unless/],
    ['masks on bounty', withReq({ method: 'bounty' }), /fieldMasks must be empty for a bounty/],
    ['pointers on audit', withReq({ method: 'audit', fieldMasks: [] }), /pointerIds must be empty for an audit/],
    ['bad from', { ...good, from: 'alice' }, /from must be an address/],
    ['short signature', { ...good, signature: good.signature.slice(0, -2) }, /signature must be 65 bytes/],
    ['signature not hex', { ...good, signature: '0x' + 'zz'.repeat(65) }, /signature must be 65 bytes/],
  ]
  for (const [name, json, message] of cases) t.throws(() => parseSignedRequest(json), { code: GatekeeperErrorCode.BAD_REQUEST, message }, name)

  const p = parseSignedRequest({ ...good, request: { ...good.request, nonce: good.request.nonce.toUpperCase().replace('0X', '0x'), gatekeeper: GK.toLowerCase() } })
  t.equal(p.request.nonce, good.request.nonce, 'nonce comes back in lower case (one spelling per nonce)')
  t.equal(p.request.gatekeeper, GK, 'addresses come back checksummed')
  t.same(p.request.pointerIds, [0n, 2n])
  t.equal(p.signature.length, 65)
})
