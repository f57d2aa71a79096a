import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { keccak256 } from '../../common/keccak.ts'
import { gossipOptions } from '../../p2p/gossip.ts'
import { encodeTxBatch } from '../../p2p/tx-batch.ts'
import { decodeTxFrame, encodeTxFrame, MAX_ANNOUNCE, MAX_GET, PUSH_FRAME_BYTES, txFrameLimit, type TxFrame } from '../../p2p/tx-announce.ts'
import { hashKey, TxFetcher } from '../../p2p/tx-fetcher.ts'
import { PUSH_MAX_BYTES, TX_PROTOCOL } from '../../p2p/tx-gossip.ts'
import { decodeStatusRequest, encodeStatusResponse, pack, PROTOCOLS } from '../../p2p/wire.ts'
import { CHAIN_ID, GENESIS, HEAD, penalties, seen, startNode, startRawNode, waitConnected, waitFor, type RawNode, type TestNode } from './helpers.ts'

const tx = (s: string, size = 110) => {
  const b = new Uint8Array(size)
  b.set(createHash('sha256').update(s).digest())
  b[0] = 2 // an EIP-1559 envelope's type byte
  return b
}
const ann = (body: Uint8Array) => ({ hash: keccak256(body), type: body[0]!, size: body.length })
const MAX_TX = 128 * 1024
/** Byte strings as hex (msgpack gives Buffers back), for deep comparison. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array ? Buffer.from(v).toString('hex') : Array.isArray(v) ? v.map(plain) : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) : v

t.test('frames round-trip; every bound is a coded refusal', async (t) => {
  const a = tx('a')
  const frames: TxFrame[] = [
    { kind: 'gossip', txs: [a], announced: [ann(tx('b'))] },
    { kind: 'get', id: 7, hashes: [keccak256(a)] },
    { kind: 'pooled', id: 7, txs: [a] },
  ]
  for (const f of frames) t.same(plain(decodeTxFrame(encodeTxFrame(f), MAX_TX)), plain(f), f.kind)
  const refuse = (v: unknown, code: string, what: string) => t.throws(() => decodeTxFrame(pack(v), MAX_TX), { code }, what)
  const hashes = (n: number) => new Uint8Array(32 * n)
  refuse({ k: 'g', txs: [], h: hashes(MAX_ANNOUNCE + 1), t: new Uint8Array(MAX_ANNOUNCE + 1), s: Array(MAX_ANNOUNCE + 1).fill(1) }, 'P2P_INVALID_MESSAGE', 'more than MAX_ANNOUNCE hashes')
  refuse({ k: 'g', txs: [], h: hashes(2), t: new Uint8Array(1), s: [1, 1] }, 'P2P_INVALID_MESSAGE', 'a type missing')
  refuse({ k: 'g', txs: [], h: hashes(1), t: new Uint8Array(1), s: [MAX_TX + 1] }, 'P2P_INVALID_MESSAGE', 'an announced size above maxTxBytes')
  refuse({ k: 'g', txs: [], h: new Uint8Array(33), t: new Uint8Array(1), s: [1] }, 'P2P_INVALID_MESSAGE', 'a hash of 33 bytes')
  refuse({ k: 'g', txs: [], h: new Uint8Array(0), t: new Uint8Array(0), s: [] }, 'P2P_INVALID_MESSAGE', 'an empty gossip frame')
  refuse({ k: 'g', txs: [new Uint8Array(MAX_TX + 1)], h: new Uint8Array(0), t: new Uint8Array(0), s: [] }, 'P2P_OVERSIZED', 'a pushed transaction above maxTxBytes')
  refuse({ k: 'q', id: 1, h: hashes(MAX_GET + 1) }, 'P2P_INVALID_MESSAGE', 'a request for more than MAX_GET')
  refuse({ k: 'q', id: -1, h: hashes(1) }, 'P2P_INVALID_MESSAGE', 'a negative request id')
  refuse({ k: 'p', id: 1, txs: ['text'] }, 'P2P_INVALID_MESSAGE', 'a body that is not bytes')
  refuse({ k: 'x' }, 'P2P_INVALID_MESSAGE', 'an unknown kind')
  refuse([1, 2], 'P2P_INVALID_MESSAGE', 'not a map')
  t.throws(() => decodeTxFrame(Uint8Array.from([0xc1]), MAX_TX), { code: 'P2P_INVALID_MESSAGE' }, 'garbage')
  // The fullest frame an honest sender writes fits the limit of a receiver with a small maxTxBytes.
  const pushed = Array.from({ length: PUSH_FRAME_BYTES / PUSH_MAX_BYTES + 1 }, (_, i) => tx(`push ${i}`, PUSH_MAX_BYTES))
  const announced = Array.from({ length: MAX_ANNOUNCE }, (_, i) => ({ hash: keccak256(tx(`a ${i}`)), type: 0x7f, size: MAX_TX }))
  const full = encodeTxFrame({ kind: 'gossip', txs: pushed, announced })
  t.ok(full.length <= txFrameLimit(PUSH_MAX_BYTES), `a full gossip frame (${full.length} bytes) within the limit (${txFrameLimit(PUSH_MAX_BYTES)})`)
})

t.test('fetcher: one request per hash, the next announcer after a timeout or a refusal', async (t) => {
  const f = new TxFetcher({ waitMs: 100, timeoutMs: 1000, maxPending: 3 })
  const [x, y, z] = [tx('x'), tx('y'), tx('z')]
  const keyOf = (b: Uint8Array) => hashKey(keccak256(b))
  const none = () => false
  t.equal(f.announced('p1', [ann(x), ann(y)], none, 0), 0)
  t.equal(f.announced('p2', [ann(x)], none, 10), 0)
  t.same(f.schedule(50), [], 'nothing asked before waitMs: a push may still come')
  const first = f.schedule(100)
  t.same(first.map((r) => [r.peer, r.hashes.length]), [['p1', 2]], 'the announcer of the most, once')
  t.same(f.schedule(200), [], 'x is asked of p1 only; p2 is not asked for it meanwhile')
  t.same(f.expire(1099), [], 'not late yet')
  t.same(f.expire(1100), ['p1'], 'p1 is late')
  const second = f.schedule(1100)
  t.same(second.map((r) => [r.peer, r.hashes.map(hashKey)]), [['p2', [hashKey(keccak256(x))]]], 'x goes to the other announcer; y had no other and is forgotten')
  t.equal(f.waiting, 1)
  const out = f.delivered('p2', second[0]!.id, [tx('mismatch')], keyOf)!
  t.same({ d: out.delivered.length, u: out.unrequested, m: out.missing }, { d: 0, u: 1, m: 1 }, 'a body that is not the asked hash is unrequested; the hash is missing')
  t.equal(f.waiting, 0, 'no announcer left for x')
  t.equal(f.delivered('p2', second[0]!.id, [x], keyOf), undefined, 'an answer to no request under way')

  // Bounds and departures.
  t.equal(f.announced('p3', [ann(x), ann(y), ann(z), ann(tx('w'))], none, 2000), 1, 'the fourth is over maxPending')
  t.equal(f.announced('p3', [ann(tx('v'))], (k) => k === keyOf(tx('v')), 2000), 0, 'a hash we hold is not kept')
  f.got(keyOf(y))
  t.equal(f.waiting, 2, 'y arrived by push')
  t.equal(f.announced('p3', [ann(tx('u'))], none, 2000), 0, 'room again')
  const third = f.schedule(3000)
  t.equal(third[0]!.hashes.length, 3)
  f.removePeer('p3')
  t.equal(f.waiting, 0, 'only p3 announced them')
  t.equal(f.delivered('p3', third[0]!.id, [x], keyOf), undefined)
})

/**
 * A bare libp2p host, handshaken with `victim`, speaking /medrec/txs/1 by hand. It answers the
 * victim's requests as `answer` says: with what it holds, with nothing, or not at all.
 */
async function evilPeer(t: Test, victim: TestNode, answer: 'serve' | 'empty' | 'silent' = 'silent', holds: Uint8Array[] = []) {
  const evil: RawNode = await startRawNode(t)
  const inbound: TxFrame[] = []
  let out: ReturnType<typeof lpStream> | undefined
  await evil.handle(TX_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: txFrameLimit(MAX_TX) })
    for (;;) {
      const f = decodeTxFrame((await lp.read()).subarray(), MAX_TX)
      inbound.push(f)
      if (f.kind !== 'get' || answer === 'silent') continue
      const wanted = new Set(f.hashes.map(hashKey))
      const txs = answer === 'serve' ? holds.filter((b) => wanted.has(hashKey(keccak256(b)))) : []
      await out!.write(encodeTxFrame({ kind: 'pooled', id: f.id, txs }))
    }
  })
  await evil.dial(multiaddr(victim.p2p.listenAddrs()[0]!))
  const id = evil.peerId.toString()
  await waitFor('handshake with the raw peer', () => victim.p2p.peers().some((p) => p.id === id && p.status !== null))
  const stream = await evil.dialProtocol(peerIdFromString(victim.p2p.peerId), TX_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength: 16 * 1024 * 1024 })
  out = lp
  const gets = () => inbound.filter((f): f is Extract<TxFrame, { kind: 'get' }> => f.kind === 'get')
  return { evil, id, inbound, gets, send: (data: Uint8Array) => lp.write(data), frame: (f: TxFrame) => lp.write(encodeTxFrame(f)) }
}

const score = (at: TestNode, peer: string) => at.p2p.peers().find((p) => p.id === peer)?.score ?? 0
const still = (at: TestNode, peer: string) => at.p2p.peers().some((p) => p.id === peer)

t.test('honest nodes: every node validates each transaction once; small ones pushed, large ones announced and fetched', async (t) => {
  // A hub with four leaves (no peer exchange), and a path leaf 0 → hub → leaves 1-3.
  const hub = await startNode(t, 31, { discovery: false })
  const leaves: TestNode[] = []
  for (let i = 0; i < 4; i++) leaves.push(await startNode(t, 32 + i, { discovery: false, bootnodes: hub.p2p.listenAddrs() }))
  await waitConnected(leaves.map((l) => [hub, l] as [TestNode, TestNode]))
  // A bare peer of the hub that records what the hub sends it.
  const watcher = await evilPeer(t, hub)
  const small = Array.from({ length: 20 }, (_, i) => tx(`honest ${i}`))
  const large = Array.from({ length: 5 }, (_, i) => tx(`large ${i}`, PUSH_MAX_BYTES + 1000))
  const txs = [...small, ...large]
  for (const body of txs) await leaves[0]!.p2p.publishTx(body)
  const others = [hub, ...leaves.slice(1)]
  await waitFor('every node has every transaction', () => txs.every((body) => others.every((n) => seen(n, 'tx', body) >= 1)))
  t.ok(txs.every((body) => others.every((n) => seen(n, 'tx', body) === 1)), 'each validated exactly once per node')
  t.equal(txs.filter((body) => seen(leaves[0]!, 'tx', body) > 0).length, 0, 'nothing came back to the publisher')
  const fromHub = leaves.slice(1).map((l) => l.received.tx.filter((r) => r.from === hub.p2p.peerId).length)
  t.same(fromHub, [25, 25, 25], 'the leaves got them from the hub')
  const hexes = (bs: Uint8Array[]) => bs.map((b) => Buffer.from(b).toString('hex')).sort()
  await waitFor('the watcher hears of all', () => watcher.inbound.flatMap((f) => (f.kind === 'gossip' ? [...f.txs, ...f.announced] : [])).length === txs.length)
  const pushed = watcher.inbound.flatMap((f) => (f.kind === 'gossip' ? f.txs : []))
  const announced = watcher.inbound.flatMap((f) => (f.kind === 'gossip' ? f.announced : []))
  t.same(hexes(pushed), hexes(small), 'the small ones pushed in full')
  t.same(hexes(announced.map((a) => a.hash)), hexes(large.map((b) => keccak256(b))), 'the large ones announced by hash')
  t.ok(announced.every((a) => a.size === PUSH_MAX_BYTES + 1000 && a.type === 2), 'with their size and type')
  for (const n of [hub, ...leaves]) t.same(penalties(n.p2p.peerId), [], 'no honest node was penalised')
})

t.test('a peer that announces what it cannot deliver: penalised, and the transaction comes from another announcer', async (t) => {
  const victim = await startNode(t, 41, { discovery: false, txFetchTimeoutMs: 500 })
  const [x, y] = [tx('wanted x'), tx('wanted y')]
  // Each announces first (so it is asked first); the good one announces both after it.
  const liar = await evilPeer(t, victim, 'empty')
  const silent = await evilPeer(t, victim, 'silent')
  const good = await evilPeer(t, victim, 'serve', [x, y])
  await liar.frame({ kind: 'gossip', txs: [], announced: [ann(x)] })
  await silent.frame({ kind: 'gossip', txs: [], announced: [ann(y)] })
  await waitFor('both asked', () => liar.gets().length === 1 && silent.gets().length === 1)
  await good.frame({ kind: 'gossip', txs: [], announced: [ann(x), ann(y)] })
  await waitFor('x from the good peer after the liar refused', () => seen(victim, 'tx', x) === 1)
  t.ok(penalties(liar.id).includes('useless'), 'the liar is marked down for announcing what it did not have')
  await waitFor('y from the good peer after the silent one timed out', () => seen(victim, 'tx', y) === 1)
  t.ok(penalties(silent.id).includes('timeout'), 'the silent one is marked down for the timeout')
  t.same(victim.received.tx.map((r) => r.from), [good.id, good.id], 'both validated once, as from the good peer')
  t.equal(liar.gets().length + silent.gets().length, 2, 'neither was asked twice')
  t.same(penalties(good.id), [], 'the good peer is not penalised')
})

t.test('a body that does not match its hash, an unsolicited answer: penalised, never validated', async (t) => {
  const victim = await startNode(t, 51, { discovery: false })
  const evil = await evilPeer(t, victim)
  const body = tx('announced')
  await evil.frame({ kind: 'gossip', txs: [], announced: [ann(body)] })
  await waitFor('a request', () => evil.gets().length === 1)
  const get = evil.gets()[0]!
  t.same(get.hashes.map((h) => Buffer.from(h).toString('hex')), [Buffer.from(keccak256(body)).toString('hex')], 'asked for exactly the announced hash')
  const forged = tx('something else')
  await evil.frame({ kind: 'pooled', id: get.id, txs: [forged] })
  await waitFor('penalty for the mismatching body', () => penalties(evil.id).includes('invalid-response'))
  t.equal(seen(victim, 'tx', forged), 0, 'the forged body never reached the validator')
  await evil.frame({ kind: 'pooled', id: 999_999, txs: [body] })
  await waitFor('penalty for the unsolicited answer', () => penalties(evil.id).filter((r) => r === 'invalid-response').length >= 2)
  t.equal(seen(victim, 'tx', body), 0, 'nor did the unsolicited one')
})

t.test('oversized and garbage frames, announcement floods: refused, penalised, the node keeps serving others', async (t) => {
  const victim = await startNode(t, 61, { discovery: false, penalties: { 'invalid-frame': -5, oversized: -5 } })
  const friend = await startNode(t, 62, { discovery: false, bootnodes: victim.p2p.listenAddrs() })
  await waitConnected([[victim, friend]])
  const evil = await evilPeer(t, victim)
  // Garbage inside a good length prefix, then an announcement above MAX_ANNOUNCE.
  await evil.send(Uint8Array.from([0xc1, 0xff, 0x00]))
  const many = MAX_ANNOUNCE + 1
  await evil.send(pack({ k: 'g', txs: [], h: new Uint8Array(32 * many), t: new Uint8Array(many), s: Array(many).fill(100) }))
  await waitFor('two invalid-frame penalties', () => penalties(evil.id).filter((r) => r === 'invalid-frame').length === 2)
  // A flood of announcements: 4096 wait per peer, the rest is dropped and costs the peer.
  const flood = Array.from({ length: 4100 }, (_, i) => ({ hash: createHash('sha256').update(`flood ${i}`).digest(), type: 2, size: 100 }))
  await evil.frame({ kind: 'gossip', txs: [], announced: flood.slice(0, 4000) })
  await evil.frame({ kind: 'gossip', txs: [], announced: flood.slice(4000) })
  await waitFor('a rate-limit penalty for the excess', () => penalties(evil.id).includes('rate-limit'))
  t.ok(evil.gets().every((f) => f.hashes.length <= MAX_GET), 'requests stay within MAX_GET')
  // A frame above the limit ends the stream.
  await evil.send(new Uint8Array(txFrameLimit(MAX_TX) + 1)).catch(() => {})
  await waitFor('an oversized penalty', () => penalties(evil.id).includes('oversized'))
  t.ok(score(victim, evil.id) < 0, `the evil peer's score fell to ${score(victim, evil.id)}`)
  // The victim still takes transactions from an honest peer.
  const body = tx('after the garbage')
  await friend.p2p.publishTx(body)
  await waitFor('the friend’s transaction arrives', () => seen(victim, 'tx', body) === 1)
  t.ok(still(victim, friend.p2p.peerId), 'the friend is still a peer')
  t.same(penalties(friend.p2p.peerId), [])
})

t.test('a batch from a peer of the previous version (gossipsub txs/2): validated per transaction, passed on over /medrec/txs/1', async (t) => {
  // One transaction of the batch is unfunded: gossipsub does not forward the batch, so what reaches
  // the friend came over /medrec/txs/1.
  const stale = tx('old unfunded')
  const judged: Uint8Array[] = []
  const victim = await startNode(t, 71, { discovery: false }, { validateTx: (bytes) => (judged.push(bytes), Buffer.from(stale).equals(bytes) ? 'unfunded' : 'accept') })
  const friend = await startNode(t, 72, { discovery: false, bootnodes: victim.p2p.listenAddrs() })
  await waitConnected([[victim, friend]])
  const old = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub(gossipOptions({ topics: victim.p2p.topics, appScore: () => 0, heartbeatIntervalMs: 100, maxInboundBytes: 1 << 20 })) },
  })
  t.teardown(() => old.stop())
  await old.handle(PROTOCOLS.status, async (stream) => {
    const lp = lpStream(stream)
    decodeStatusRequest((await lp.read()).subarray())
    await lp.write(encodeStatusResponse({ chainId: CHAIN_ID, genesisHash: GENESIS, ...HEAD }))
    await stream.close()
  })
  old.services.pubsub.subscribe(victim.p2p.topics.tx)
  await old.dial(multiaddr(victim.p2p.listenAddrs()[0]!))
  await waitFor('handshake with the old peer', () => victim.p2p.peers().some((p) => p.id === old.peerId.toString() && p.status !== null))
  const batch = [tx('old 1'), tx('old 2')]
  // Until the victim has joined the topic's mesh on the old peer's side.
  await waitFor('the victim validates the batch', () => {
    void old.services.pubsub.publish(victim.p2p.topics.tx, encodeTxBatch([batch[0]!, stale, batch[1]!])).catch(() => {})
    return batch.every((b) => judged.some((j) => Buffer.from(b).equals(j)))
  }, 10_000)
  await waitFor('the friend gets both over /medrec/txs/1', () => batch.every((b) => seen(friend, 'tx', b) === 1))
  t.same(friend.received.tx.filter((r) => batch.some((b) => Buffer.from(b).equals(r.bytes))).map((r) => r.from), [victim.p2p.peerId, victim.p2p.peerId], 'from the victim')
  t.equal(seen(friend, 'tx', stale), 0, 'the unfunded one went nowhere')
  t.ok(penalties(old.peerId.toString()).includes('unfunded-tx'), 'and cost the old peer')
})

t.test('frames a peer sends before our side of the handshake is done wait for it, and are not lost', async (t) => {
  const victim = await startNode(t, 81, { discovery: false })
  // A peer that answers our status request late, and sends a transaction as soon as it is connected.
  const early = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() } })
  t.teardown(() => early.stop())
  let answered = false
  await early.handle(PROTOCOLS.status, async (stream) => {
    const lp = lpStream(stream)
    decodeStatusRequest((await lp.read()).subarray())
    await new Promise((r) => setTimeout(r, 500))
    await lp.write(encodeStatusResponse({ chainId: CHAIN_ID, genesisHash: GENESIS, ...HEAD }))
    answered = true
    await stream.close()
  })
  const stream = await early.dialProtocol(multiaddr(victim.p2p.listenAddrs()[0]!), TX_PROTOCOL)
  const body = tx('sent early')
  await lpStream(stream).write(encodeTxFrame({ kind: 'gossip', txs: [body], announced: [] }))
  t.notOk(answered, 'sent before the victim had our status')
  await waitFor('the victim validates it once the handshake is done', () => seen(victim, 'tx', body) === 1)
  t.ok(answered)
  t.equal(victim.received.tx[0]!.from, early.peerId.toString())
})
