import t from 'tap'
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTOCOLS, peerIdFromNodeKey, type PeerIdStr } from '../../p2p/index.ts'
import { decodeAppResponse } from '../../p2p/wire.ts'
import { logs, nodeKey, penalties, sleep, startNode, startRawNode, waitConnected, waitFor, type TestNode } from './helpers.ts'

const ECHO = '/medrec/test-echo/1'
const text = (s: string) => new TextEncoder().encode(s)
const str = (b: Uint8Array) => new TextDecoder().decode(b)
const addrOf = (n: TestNode) => n.p2p.listenAddrs()[0]!

// Each test uses its own node keys: penalties() reads the shared log by peer id.

/** Answers `echo:<body>` and records who asked. */
function echo(node: TestNode, opts?: Parameters<TestNode['p2p']['handle']>[2]): { from: PeerIdStr[] } {
  const seen = { from: [] as PeerIdStr[] }
  node.p2p.handle(
    ECHO,
    async (body, from) => {
      seen.from.push(from)
      return text('echo:' + str(body))
    },
    opts,
  )
  return seen
}

t.test('round trip to a multiaddr: one-off dial, the caller is named, never redialled', async (t) => {
  const a = await startNode(t, 1)
  const seen = echo(a)
  const b = await startNode(t, 2) // no bootnodes: requestTo is b's only way to a
  t.equal(str(await b.p2p.requestTo(addrOf(a), ECHO, text('hello'))), 'echo:hello')
  t.same(seen.from, [b.p2p.peerId], 'the handler gets the noise-authenticated caller')
  t.equal(str(await b.p2p.requestTo(a.p2p.peerId, ECHO, text('again'))), 'echo:again', 'a connected peer id works too')
  t.equal(str(await b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(0))), 'echo:', 'an empty body')
  const big = new Uint8Array(60_000).fill(0x61)
  t.equal((await b.p2p.requestTo(addrOf(a), ECHO, big)).length, 60_005, 'a body near the default 64 KiB limit')

  // Same chain and room on both sides: the one-off connection also became a chain peer...
  await waitConnected([[a, b]])
  // ...but b did not add a to its redial list: restart a on the same port, b stays away.
  const addr = addrOf(a)
  const port = Number(addr.split('/')[4])
  await a.p2p.stop()
  await waitFor('b sees a gone', () => b.p2p.peerCount() === 0)
  const a2 = await startNode(t, 1, { listen: { host: '127.0.0.1', port } })
  echo(a2)
  // State, not a wait: the dialer redials only its targets, and a one-off request made none.
  t.equal(b.p2p.dialTarget(a.p2p.peerId), undefined, 'not a dial target of b: never redialled')
  t.equal(b.p2p.peerCount(), 0, 'not redialled')
  t.equal(a2.p2p.peerCount(), 0)
  t.equal(str(await b.p2p.requestTo(addr, ECHO, text('back'))), 'echo:back', 'dialled again on demand')
})

t.test('a handler that throws answers REMOTE_ERROR with its message only; nobody is penalised', async (t) => {
  const a = await startNode(t, 11)
  a.p2p.handle(ECHO, async (body) => {
    if (str(body) === 'sync') throw new Error('thrown before any await')
    throw new Error('relationship 0xabc does not grant this query')
  })
  const b = await startNode(t, 12)
  const err = await b.p2p.requestTo(addrOf(a), ECHO, text('x')).catch((e: unknown) => e)
  t.match(err, {
    name: 'P2PError',
    code: 'P2P_REMOTE_ERROR',
    context: { peer: a.p2p.peerId, protocol: ECHO, remoteCode: 'HANDLER_ERROR', remoteMessage: 'relationship 0xabc does not grant this query' },
  })
  t.match((err as Error).message, /relationship 0xabc does not grant this query$/)
  t.notMatch((err as Error).message, /\n|\.ts:\d+/, 'no stack')
  // A handler that throws synchronously is answered the same way, not a dropped stream.
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, text('sync')), { code: 'P2P_REMOTE_ERROR', context: { remoteMessage: 'thrown before any await' } })
  t.same(penalties(b.p2p.peerId), [], 'the caller is not penalised')
  t.same(penalties(a.p2p.peerId), [], 'nor the server')
})

t.test('limits: oversized requests are refused and penalised; responses above either side limit', async (t) => {
  const a = await startNode(t, 21)
  const seen = echo(a, { maxRequestBytes: 100, maxResponseBytes: 1000 })
  const b = await startNode(t, 22)
  t.equal((await b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(100))).length, 105, 'exactly the limit is served')
  const err = await b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(101)).catch((e: unknown) => e)
  t.match(err, { name: 'P2PError', code: 'P2P_STREAM_FAILED', context: { peer: a.p2p.peerId } }, 'the server resets the stream')
  t.equal(seen.from.length, 1, 'the handler never saw it')
  await waitFor('oversized penalty', () => penalties(b.p2p.peerId).includes('oversized'))
  // The server's own response limit: answered as an error, not sent.
  a.p2p.unhandle(ECHO)
  a.p2p.handle(ECHO, async () => new Uint8Array(1001), { maxResponseBytes: 1000 })
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(1)), { code: 'P2P_REMOTE_ERROR', context: { remoteCode: 'SERVER_ERROR', remoteMessage: /1001 bytes exceeds this server's limit of 1000/ } })
  // The caller's limit: OVERSIZED, and not the server's fault.
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(1), { maxResponseBytes: 10 }), { code: 'P2P_REMOTE_ERROR', context: { remoteCode: 'SERVER_ERROR' } }, 'an error envelope fits even a tiny caller limit')
  a.p2p.unhandle(ECHO)
  a.p2p.handle(ECHO, async () => new Uint8Array(500))
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(1), { maxResponseBytes: 499 }), { code: 'P2P_OVERSIZED', message: /500 bytes exceeds maxResponseBytes 499/ })
  t.equal((await b.p2p.requestTo(addrOf(a), ECHO, new Uint8Array(1), { maxResponseBytes: 500 })).length, 500)
  t.same(penalties(a.p2p.peerId), [], 'a response above our own limit is not penalised')
})

t.test('unknown and unregistered protocols are rejected clearly; registration is checked', async (t) => {
  const a = await startNode(t, 31)
  const b = await startNode(t, 32)
  await t.rejects(b.p2p.requestTo(addrOf(a), '/medrec/nope/1', text('x')), {
    code: 'P2P_PROTOCOL_UNSUPPORTED',
    message: `peer ${a.p2p.peerId} does not serve /medrec/nope/1`,
  })
  echo(a)
  t.equal(str(await b.p2p.requestTo(addrOf(a), ECHO, text('x'))), 'echo:x')
  a.p2p.unhandle(ECHO)
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, text('x')), { code: 'P2P_PROTOCOL_UNSUPPORTED' }, 'unhandle stops serving')
  t.same(penalties(a.p2p.peerId), [], 'not serving an app protocol is not misbehaviour')
  a.p2p.unhandle(PROTOCOLS.status) // only app protocols can be unhandled
  t.equal((await b.p2p.requestStatus(a.p2p.peerId)).head.number, 7n, 'status still served')

  echo(a)
  t.throws(() => echo(a), { code: 'P2P_INVALID_OPTIONS', message: /already served/ }, 'twice')
  t.throws(() => a.p2p.handle(PROTOCOLS.blocksByRange, async () => new Uint8Array(0)), { code: 'P2P_INVALID_OPTIONS' }, 'a built-in protocol')
  t.throws(() => a.p2p.handle('gatekeeper', async () => new Uint8Array(0)), { code: 'P2P_INVALID_OPTIONS' }, 'not a path')
  t.throws(() => a.p2p.handle('/medrec/x/1', async () => new Uint8Array(0), { timeoutMs: 0 }), { code: 'P2P_INVALID_OPTIONS' })
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, text('x'), { timeoutMs: -1 }), { code: 'P2P_INVALID_OPTIONS' })
})

t.test('targets: dial failures, impostors, unknown peer ids', async (t) => {
  const a = await startNode(t, 41)
  echo(a)
  const b = await startNode(t, 42)
  const ghost = peerIdFromNodeKey(nodeKey(9))
  await t.rejects(b.p2p.requestTo(`/ip4/127.0.0.1/tcp/1/p2p/${ghost}`, ECHO, text('x')), { code: 'P2P_DIAL_FAILED', context: { peer: ghost } })
  // a's address with another peer id: noise proves who answers, so the dial fails.
  const impostor = addrOf(a).replace(a.p2p.peerId, ghost)
  await t.rejects(b.p2p.requestTo(impostor, ECHO, text('x')), { code: 'P2P_DIAL_FAILED' })
  await t.rejects(b.p2p.requestTo(ghost, ECHO, text('x')), { code: 'P2P_NOT_CONNECTED', message: /pass its multiaddr/ })
  await t.rejects(b.p2p.requestTo('/ip4/127.0.0.1/tcp/1', ECHO, text('x')), { code: 'P2P_INVALID_MULTIADDR' })
  await t.rejects(b.p2p.requestTo('nonsense', ECHO, text('x')), { code: 'P2P_INVALID_PEER_ID' })
  await t.rejects(b.p2p.requestTo(addrOf(b), ECHO, text('x')), { code: 'P2P_INVALID_MULTIADDR' }, 'ourselves')
  t.equal(b.p2p.peerCount(), 0)
})

t.test('peers that are not chain peers can call; they are neither counted nor banned', async (t) => {
  const a = await startNode(t, 51, { appIdleMs: 400 })
  const seen = echo(a)
  const connected: string[] = []
  a.p2p.on('peer:connected', (p) => connected.push(p.id))

  // Another chain id: the status handshake fails on both sides, the app protocol still works.
  const other = await startNode(t, 52, { chainId: 999n, appIdleMs: 400 })
  t.equal(str(await other.p2p.requestTo(addrOf(a), ECHO, text('from 999'))), 'echo:from 999')
  await waitFor('mismatch seen', () => logs.some((l) => l.includes('Peer is on another chain') && l.includes(other.p2p.peerId)))
  t.equal(str(await other.p2p.requestTo(addrOf(a), ECHO, text('again'))), 'echo:again', 'not banned: a second call works')
  t.equal(a.p2p.peerCount(), 0, 'not a chain peer of a')
  t.equal(other.p2p.peerCount(), 0, 'nor a of it')

  // A bare host that never speaks status: served, not penalised for the failed handshake.
  const bare = await startRawNode(t, null)
  const stream = await bare.dialProtocol(multiaddr(addrOf(a)), ECHO)
  const lp = lpStream(stream)
  await lp.write(text('bare'))
  const res = decodeAppResponse((await lp.read()).subarray())
  t.same(res.ok && str(res.value), 'echo:bare')
  await stream.close()
  t.same(seen.from, [other.p2p.peerId, other.p2p.peerId, bare.peerId.toString()])
  t.same(penalties(bare.peerId.toString()), [], 'no penalty for not speaking status')
  t.same(penalties(other.p2p.peerId), [], 'nor for another chain')
  t.equal(a.p2p.peerCount(), 0)
  t.same(connected, [], 'no peer:connected for either')

  // Idle connections of non-chain peers are closed (appIdleMs), so they cannot hold slots.
  const aId = peerIdFromString(a.p2p.peerId)
  await waitFor('idle connection closed', () => bare.getConnections(aId).length === 0, 3000)
  t.pass('idle app-only connections reaped')

  // Garbage framing from a non-chain peer is penalised like on the built-in protocols.
  const s2 = await bare.dialProtocol(multiaddr(addrOf(a)), ECHO)
  s2.send(new Uint8Array(16).fill(0xff))
  await waitFor('oversized penalty', () => penalties(bare.peerId.toString()).includes('oversized'))
})

t.test('at maxPeers the node still serves app requests without admitting the caller', async (t) => {
  const a = await startNode(t, 61, { maxPeers: 1 })
  echo(a)
  const b = await startNode(t, 62, { bootnodes: [addrOf(a)] })
  await waitConnected([[a, b]])
  const c = await startNode(t, 63)
  t.equal(str(await c.p2p.requestTo(addrOf(a), ECHO, text('full?'))), 'echo:full?')
  // a does not admit c (full), so c's handshake with a fails and c drops a as a chain peer.
  await waitFor('a to turn c away', () => logs.some((l) => l.includes('Too many peers') && l.includes(`peer=${c.p2p.peerId}`)))
  await waitFor('c to give up its handshake with a', () => logs.some((l) => l.includes('Status handshake failed') && l.includes(`peer=${a.p2p.peerId}`)))
  t.same(a.p2p.peers().map((p) => p.id), [b.p2p.peerId], 'a still has exactly its one chain peer')
  t.equal(c.p2p.peerCount(), 0, 'c does not count a either')
  t.same(penalties(c.p2p.peerId), [])
  t.same(penalties(a.p2p.peerId), [])
  t.equal(str(await c.p2p.requestTo(addrOf(a), ECHO, text('still'))), 'echo:still', 'and keeps serving it')
})

t.test('timeouts: the caller gives up; a slow handler is cut off by the server', async (t) => {
  const a = await startNode(t, 71)
  a.p2p.handle(ECHO, async (body) => {
    await sleep(Number(str(body)))
    return text('late')
  })
  a.p2p.handle('/medrec/test-slow/1', async () => {
    await sleep(2000)
    return text('never')
  }, { timeoutMs: 300 })
  const b = await startNode(t, 72)
  t.equal(str(await b.p2p.requestTo(addrOf(a), ECHO, text('10'))), 'late', 'connected and fast')
  const started = Date.now()
  await t.rejects(b.p2p.requestTo(addrOf(a), ECHO, text('1500'), { timeoutMs: 300 }), { code: 'P2P_TIMEOUT', message: /timed out after 300 ms/, context: { peer: a.p2p.peerId } })
  const took = Date.now() - started
  t.ok(took >= 280 && took < 1200, `gave up after ${took} ms`)
  await t.rejects(b.p2p.requestTo(addrOf(a), '/medrec/test-slow/1', text('x'), { timeoutMs: 3000 }), {
    code: 'P2P_REMOTE_ERROR',
    context: { remoteCode: 'SERVER_ERROR', remoteMessage: 'handler timed out after 300 ms' },
  })
  t.same(penalties(a.p2p.peerId), [], 'a slow app handler does not cost the server its chain standing')
})

t.test('app requests are rate limited per peer (requestRate)', async (t) => {
  const a = await startNode(t, 81, { requestRate: { perSecond: 1, burst: 2 } })
  echo(a)
  const other = await startNode(t, 82, { chainId: 999n }) // not a chain peer
  const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => other.p2p.requestTo(addrOf(a), ECHO, text(String(i)))))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length >= 2, `${refused.length} refused`)
  t.match((refused[0] as PromiseRejectedResult).reason, { code: 'P2P_REMOTE_ERROR', context: { remoteCode: 'RATE_LIMITED' } })
  t.ok(penalties(other.p2p.peerId).includes('rate-limit'))
})
