import t, { type Test } from 'tap'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { peerIdFromNodeKey, PROTOCOLS, resolveP2POptions } from '../../p2p/index.ts'
import { Dialer, LEARNED_MAX_FAILURES, type DialerDeps } from '../../p2p/dialer.ts'
import { advertisedAddrs, learnableAddrs, PeerExchangeSchedule, relayable, type Ip } from '../../p2p/peer-exchange.ts'
import {
  MAX_ADDRS_PER_PEER,
  MAX_EXCHANGED_PEERS,
  decodePeersRequest,
  decodePeersResponse,
  encodeErrorResponse,
  encodePeersRequest,
  encodePeersResponse,
  pack,
  type ExchangedPeer,
} from '../../p2p/wire.ts'
import { CHAIN_ID, GENESIS, logs, nodeKey, penalties, startNode, startRawNode, waitConnected, waitFor, type RawNode, type TestNode } from './helpers.ts'

/** Peer ids of deterministic keys that no node in these tests runs. */
const ghost = (n: number) => peerIdFromNodeKey(nodeKey(100 + n))
const tcpAt = (port: number, id: string, ip = '127.0.0.1') => `/ip4/${ip}/tcp/${port}/p2p/${id}`
const linked = (a: TestNode, b: TestNode) => a.p2p.peers().some((p) => p.id === b.p2p.peerId && p.status !== null)

// ---- wire ----

t.test('peers request and response round-trip', async (t) => {
  const peers: ExchangedPeer[] = [
    { id: ghost(1), addrs: [tcpAt(30303, ghost(1)), `/ip6/::1/tcp/30303/p2p/${ghost(1)}`] },
    { id: ghost(2), addrs: [tcpAt(1, ghost(2), '10.0.0.7')] },
  ]
  t.same(decodePeersResponse(encodePeersResponse(peers)), { ok: true, value: peers })
  t.same(decodePeersResponse(encodePeersResponse([])), { ok: true, value: [] }, 'an empty list is an answer')
  const full = Array.from({ length: MAX_EXCHANGED_PEERS }, (_, i) => ({ id: ghost(i), addrs: Array.from({ length: MAX_ADDRS_PER_PEER }, (_, j) => tcpAt(1000 + j, ghost(i))) }))
  const back = decodePeersResponse(encodePeersResponse(full))
  t.ok(back.ok && back.value.length === MAX_EXCHANGED_PEERS, '16 peers of 4 addresses are allowed')
  t.same(decodePeersResponse(encodeErrorResponse('NOT_CHAIN_PEER', 'no')), { ok: false, code: 'NOT_CHAIN_PEER', message: 'no' })
  t.doesNotThrow(() => decodePeersRequest(encodePeersRequest()))
  t.doesNotThrow(() => decodePeersRequest(pack({ want: 3 })), 'fields of a later version are ignored')
  t.throws(() => decodePeersRequest(pack([1])), { code: 'P2P_INVALID_RESPONSE' }, 'a request is a map')
  t.throws(() => decodePeersRequest(Uint8Array.of(0xc1)), { code: 'P2P_INVALID_RESPONSE' }, 'garbage request')
})

t.test('a bad peers response is refused whole', async (t) => {
  const a = ghost(1)
  const good = { id: a, addrs: [tcpAt(30303, a)] }
  const bad: [string, unknown][] = [
    ['not a map', [1, 2]],
    ['no ok', { peers: [] }],
    ['peers missing', { ok: true }],
    ['peers not a list', { ok: true, peers: { 0: good } }],
    ['17 peers', { ok: true, peers: Array.from({ length: 17 }, (_, i) => ({ id: ghost(i), addrs: [tcpAt(1, ghost(i))] })) }],
    ['entry not a map', { ok: true, peers: [good, 'x'] }],
    ['id not a string', { ok: true, peers: [good, { id: 5, addrs: [tcpAt(1, a)] }] }],
    ['no addresses', { ok: true, peers: [good, { id: ghost(2), addrs: [] }] }],
    ['5 addresses', { ok: true, peers: [{ id: a, addrs: [1, 2, 3, 4, 5].map((p) => tcpAt(p, a)) }] }],
    ['address not a string', { ok: true, peers: [{ id: a, addrs: [Uint8Array.of(1)] }] }],
    ['address too long', { ok: true, peers: [{ id: a, addrs: [`/dns4/${'x'.repeat(300)}/tcp/1/p2p/${a}`] }] }],
    ['not a multiaddr', { ok: true, peers: [good, { id: ghost(2), addrs: ['/ip4/not-an-ip/tcp/1/p2p/' + ghost(2)] }] }],
    ['address without /p2p/', { ok: true, peers: [{ id: a, addrs: ['/ip4/127.0.0.1/tcp/1'] }] }],
    ['bad peer id', { ok: true, peers: [{ id: 'QmNotAPeer', addrs: ['/ip4/127.0.0.1/tcp/1/p2p/QmNotAPeer'] }] }],
    ['address of another peer', { ok: true, peers: [good, { id: ghost(2), addrs: [tcpAt(1, ghost(2)), tcpAt(2, ghost(3))] }] }],
    ['repeated peer', { ok: true, peers: [good, good] }],
  ]
  for (const [what, body] of bad) t.throws(() => decodePeersResponse(pack(body)), { code: 'P2P_INVALID_RESPONSE' }, what)
  t.throws(() => decodePeersResponse(Uint8Array.of(0x92, 1)), { code: 'P2P_INVALID_RESPONSE' }, 'truncated frame')
  t.throws(() => decodePeersResponse(Buffer.concat([pack({ ok: true, peers: [] }), pack(1)])), { code: 'P2P_INVALID_RESPONSE' }, 'trailing bytes')
})

// ---- which addresses travel ----

t.test('addresses are relayed as discv4 does: loopback among loopback, LAN to or from LAN only', async (t) => {
  const ip = (address: string): Ip => ({ address, type: address.includes(':') ? 'ipv6' : 'ipv4' })
  const [lo, lan, pub, pub6] = [ip('127.0.0.1'), ip('192.168.1.5'), ip('8.8.8.8'), ip('2001:db8::1')]
  t.ok(relayable(lo, lo) && relayable(lan, lo) && relayable(pub, lo), 'a loopback peer may hear of anything')
  t.ok(!relayable(lo, lan) && !relayable(lo, pub) && !relayable(ip('::1'), pub6), 'loopback never to or from a remote peer')
  t.ok(relayable(lan, lan) && relayable(ip('10.1.2.3'), ip('172.16.0.9')), 'LAN between LAN peers')
  t.ok(!relayable(lan, pub) && !relayable(ip('fe80::1'), pub6) && !relayable(ip('fd00::1'), pub6), 'LAN not to or from the internet')
  t.ok(relayable(pub, pub) && relayable(pub, lan) && relayable(pub6, pub6), 'public addresses anywhere')
  for (const s of ['0.0.0.0', '224.0.0.1', '255.255.255.255', '::', 'ff02::1']) t.notOk(relayable(ip(s), lo), `${s} never`)
  t.notOk(relayable(lan, undefined), 'no IP for the other side: public only')

  const id = ghost(1)
  const stored = [
    { multiaddr: multiaddr('/ip4/127.0.0.1/tcp/30303'), isCertified: false },
    { multiaddr: multiaddr('/ip4/192.168.1.5/tcp/30303'), isCertified: true },
    { multiaddr: multiaddr('/ip4/8.8.8.8/udp/30303'), isCertified: true },
    { multiaddr: multiaddr(`/ip4/8.8.4.4/tcp/30303/p2p/${ghost(2)}`), isCertified: true },
    { multiaddr: multiaddr('/ip4/8.8.4.4/tcp/0'), isCertified: true },
    { multiaddr: multiaddr(`/ip4/8.8.8.8/tcp/30303/p2p/${id}`), isCertified: false },
    { multiaddr: multiaddr('/ip4/1.1.1.1/tcp/1'), isCertified: false },
    { multiaddr: multiaddr('/ip4/1.1.1.2/tcp/1'), isCertified: false },
    { multiaddr: multiaddr('/ip4/1.1.1.3/tcp/1'), isCertified: false },
  ]
  t.same(advertisedAddrs(id, stored, pub), [tcpAt(30303, id, '8.8.8.8'), tcpAt(1, id, '1.1.1.1'), tcpAt(1, id, '1.1.1.2'), tcpAt(1, id, '1.1.1.3')], 'to a public peer: TCP, its own id, public, at most 4')
  t.same(advertisedAddrs(id, stored, lo).slice(0, 2), [tcpAt(30303, id, '192.168.1.5'), tcpAt(30303, id, '127.0.0.1')], 'signed addresses first')
  t.same(
    learnableAddrs(id, [tcpAt(1, id), tcpAt(2, id, '10.0.0.1'), tcpAt(3, id, '9.9.9.9'), tcpAt(3, id, '9.9.9.9'), `/ip4/9.9.9.9/udp/3/p2p/${id}`], pub).map(String),
    [tcpAt(3, id, '9.9.9.9')],
    'from a public peer only public TCP addresses are dialled, once each',
  )
  t.equal(learnableAddrs(id, [tcpAt(1, id), tcpAt(2, id, '10.0.0.1')], lo).length, 2, 'from a loopback peer, anything')
})

// ---- dialer ----

function fakeDialer(t: Test, over: Partial<DialerDeps> = {}, maxLearnedPeers = 3) {
  const dialled: string[] = []
  const deps: DialerDeps = {
    self: ghost(0),
    dial: async (addrs) => {
      dialled.push(addrs.map(String).join(','))
      throw new Error('ECONNREFUSED')
    },
    isConnected: () => false,
    isBanned: () => false,
    peerCount: () => 0,
    ...over,
  }
  const d = new Dialer({ minPeers: 5, dialBackoffMinMs: 1, dialBackoffMaxMs: 2, dialIntervalMs: 10, maxLearnedPeers }, deps)
  t.teardown(() => d.stop())
  return { d, dialled }
}
const ma = (port: number, id: string): Multiaddr[] => [multiaddr(tcpAt(port, id))]

t.test('dialer: learned targets are apart from static ones, bounded, and forgotten after 3 failures', async (t) => {
  const connected = new Set<string>()
  const { d, dialled } = fakeDialer(t, { isConnected: (p) => connected.has(p) })
  const boot = ghost(1)
  d.add(tcpAt(1, boot))
  t.notOk(d.learn(boot, ma(2, boot)), 'a static target is not learned over')
  t.same(d.target(boot), { addrs: [tcpAt(1, boot)], learned: false, failures: 0 }, 'its address is kept')
  t.notOk(d.learn(ghost(0), ma(3, ghost(0))), 'ourselves: ignored')
  t.notOk(d.learn(ghost(9), []), 'no address: ignored')
  t.ok(d.learn(ghost(2), ma(4, ghost(2))))
  t.notOk(d.learn(ghost(2), ma(5, ghost(2))), 'a learned peer keeps the address first heard')
  t.same(d.target(ghost(2))?.addrs, [tcpAt(4, ghost(2))])
  t.ok(d.learn(ghost(3), ma(6, ghost(3))) && d.learn(ghost(4), ma(7, ghost(4))))
  t.equal(d.learnedCount(), 3, 'full')
  connected.add(ghost(2))
  t.ok(d.learn(ghost(5), ma(8, ghost(5))), 'room is made...')
  t.equal(d.learnedCount(), 3)
  t.ok(d.target(ghost(2)) && !d.target(ghost(3)), '...by dropping the oldest that is not connected')
  connected.add(ghost(4)).add(ghost(5))
  t.notOk(d.learn(ghost(6), ma(9, ghost(6))), 'all connected: the new one is dropped')
  d.add(tcpAt(10, ghost(5)))
  t.same(d.target(ghost(5)), { addrs: [tcpAt(10, ghost(5))], learned: false, failures: 0 }, 'added by hand: static from now on')
  t.equal(d.learnedCount(), 2)

  connected.clear()
  d.start()
  await waitFor('learned targets forgotten', () => d.learnedCount() === 0, 3000)
  for (const p of [ghost(2), ghost(4)]) t.equal(dialled.filter((x) => x.includes(p)).length, LEARNED_MAX_FAILURES, `${p.slice(-6)} dialled ${LEARNED_MAX_FAILURES} times, then forgotten`)
  t.ok(dialled.filter((x) => x.includes(boot)).length >= LEARNED_MAX_FAILURES, 'the bootnode is still dialled')
  t.equal(d.target(boot)?.learned, false, 'and kept')
})

t.test('dialer: learned targets are dialled only as far as peers are missing, never when banned', async (t) => {
  let peers = 3
  const banned = new Set([ghost(3)])
  const pending: (() => void)[] = []
  const dialled: string[] = []
  // Every tick of the dialer starts by reading the peer count: ticks are counted there, and
  // the assertions wait for ticks (events), not for time.
  let ticks = 0
  const afterTicks = async (n: number) => {
    const until = ticks + n
    await waitFor(`${n} dialer ticks`, () => ticks >= until)
  }
  const { d } = fakeDialer(
    t,
    {
      peerCount: () => (ticks++, peers),
      isBanned: (p) => banned.has(p),
      dial: (addrs) => {
        dialled.push(String(addrs[0]))
        return new Promise<void>((resolve) => pending.push(resolve))
      },
    },
    10,
  )
  for (const n of [1, 2, 4, 5]) d.learn(ghost(n), ma(n, ghost(n)))
  t.notOk(d.learn(ghost(3), ma(3, ghost(3))), 'a banned peer is not learned')
  d.start()
  await afterTicks(3)
  t.equal(dialled.length, 2, 'two peers missing (minPeers 5, 3 peers): two learned dials at a time')
  peers = 5
  for (const r of pending.splice(0)) r()
  await afterTicks(3)
  t.equal(dialled.length, 2, 'none at minPeers')
  banned.add(ghost(4)).add(ghost(5))
  peers = 0
  await afterTicks(3)
  t.equal(d.learnedCount(), 2, 'banned learned targets are forgotten')
  t.notOk(dialled.some((a) => a.includes(ghost(4)) || a.includes(ghost(5))), 'and never dialled')
})

t.test('peer exchange schedule: one request at a time, each peer once per interval', async (t) => {
  let now = 1000
  const s = new PeerExchangeSchedule(30_000, () => now)
  t.equal(s.next([]), undefined)
  const first = s.next(['a', 'b'])
  t.ok(first === 'a' || first === 'b')
  t.equal(s.next(['a', 'b']), undefined, 'one in flight')
  s.done()
  const second = s.next(['a', 'b'])
  t.ok(second !== undefined && second !== first, 'then the other')
  s.done()
  t.equal(s.next(['a', 'b']), undefined, 'both asked just now')
  // Re-asks back off 1 s, 2 s, 4 s … up to the interval.
  const gaps: number[] = []
  let last = now
  while (gaps.length < 7) {
    now += 250
    if (s.next(['a']) === 'a') {
      s.done()
      gaps.push(now - last)
      last = now
    }
  }
  t.same(gaps, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
  now += 60_000
  t.equal(s.next(['a']), 'a', 'idle for two intervals: forgotten, asked at once')
  s.done()
  t.equal(s.next(['a']), undefined, 'and backing off from 1 s again')
  now += 1000
  t.equal(s.next(['a']), 'a')
})

t.test('options: discovery on by default, checked', async (t) => {
  const o = resolveP2POptions({ chainId: CHAIN_ID, genesisHash: GENESIS, privateKey: nodeKey(1) })
  t.same([o.discovery, o.peerExchangeIntervalMs, o.maxLearnedPeers], [true, 30_000, 64])
  t.throws(() => resolveP2POptions({ chainId: CHAIN_ID, genesisHash: GENESIS, privateKey: nodeKey(1), peerExchangeIntervalMs: 0 }), { code: 'P2P_INVALID_OPTIONS' })
  t.throws(() => resolveP2POptions({ chainId: CHAIN_ID, genesisHash: GENESIS, privateKey: nodeKey(1), maxLearnedPeers: -1 }), { code: 'P2P_INVALID_OPTIONS' })
  t.throws(() => resolveP2POptions({ chainId: CHAIN_ID, genesisHash: GENESIS, privateKey: nodeKey(1), discovery: 'yes' as unknown as boolean }), { code: 'P2P_INVALID_OPTIONS' })
})

// ---- in-process networks ----

t.test('peers find each other through one bootnode', async (t) => {
  const a = await startNode(t, 1)
  const boot = a.p2p.listenAddrs()
  const b = await startNode(t, 2, { bootnodes: boot })
  await waitConnected([[a, b]])
  const c = await startNode(t, 3, { bootnodes: boot })
  await waitConnected(
    [
      [a, c],
      [b, c],
    ],
    5000,
  )
  t.pass('c, booted from a only, is connected to b and b to c')
  t.same(c.p2p.dialTarget(b.p2p.peerId), { addrs: b.p2p.listenAddrs(), learned: true, failures: 0 }, "c learned b's listen address (b dialled a: not an ephemeral port)")
  t.equal(c.p2p.dialTarget(a.p2p.peerId)?.learned, false, 'the bootnode stays static')
  t.same(penalties(c.p2p.peerId).concat(penalties(b.p2p.peerId), penalties(a.p2p.peerId)), [], 'nobody was penalised')
})

t.test('with discovery off a node neither asks nor serves, but accepts inbound peers', async (t) => {
  // A bootnode that answers the status handshake and records who asks it for peers.
  const boot = await startRawNode(t)
  const bootId = boot.peerId.toString()
  const askedBy: string[] = []
  await boot.handle(PROTOCOLS.peers, async (stream, conn) => {
    askedBy.push(conn.remotePeer.toString())
    const lp = lpStream(stream)
    await lp.read()
    await lp.write(encodePeersResponse([]))
    await stream.close()
  })
  const bootAddrs = boot.getMultiaddrs().map(String)
  const c = await startNode(t, 13, { bootnodes: bootAddrs, discovery: false })
  await waitFor('c handshaken with its bootnode', () => c.p2p.peers().some((p) => p.id === bootId && p.status !== null))
  // Ordering as proof: a node with discovery asks a peer as soon as the handshake completes,
  // so c would have asked before b below even starts; b (discovery on) is the control.
  const b = await startNode(t, 12, { bootnodes: bootAddrs })
  await waitFor('b asks the bootnode', () => askedBy.includes(b.p2p.peerId))
  t.notOk(askedBy.includes(c.p2p.peerId), 'c never asked for peers')
  t.equal(c.p2p.learnedPeerCount(), 0)
  t.equal(c.p2p.peerCount(), 1)

  // A node that does not serve peer exchange: its peers learn nothing from it and do not
  // hold it against it.
  const hub = await startNode(t, 14, { discovery: false })
  const hubBoot = hub.p2p.listenAddrs()
  const d = await startNode(t, 15, { bootnodes: hubBoot })
  await waitConnected([[hub, d]])
  const e = await startNode(t, 16, { bootnodes: hubBoot })
  await waitConnected([[hub, e]])
  // The hub is d's and e's only source and it does not serve: once asking it has failed, the
  // two cannot have heard of each other (no wait involved).
  await waitFor('e asked the hub', () => logs.some((l) => l.includes('Peer exchange failed') && l.includes(`peer=${hub.p2p.peerId}`)))
  t.equal(d.p2p.learnedPeerCount() + e.p2p.learnedPeerCount(), 0, 'nothing learned from the hub')
  t.notOk(linked(d, e) || linked(e, d), 'd and e never heard of each other')
  t.same(penalties(hub.p2p.peerId), [], 'not serving peer exchange is no fault')
})

/** Writes `body` as the one response frame of each `/medrec/peers/1` request to `raw`. */
async function answerPeers(raw: RawNode, next: () => Uint8Array): Promise<{ served: number }> {
  const count = { served: 0 }
  await raw.handle(PROTOCOLS.peers, async (stream) => {
    const lp = lpStream(stream)
    await lp.read()
    await lp.write(next())
    count.served++
    await stream.close()
  })
  return count
}

t.test('garbage from a peer is refused and penalised; unreachable learned peers are forgotten; static addresses stay', async (t) => {
  const evil = await startRawNode(t)
  const evilId = evil.peerId.toString()
  const evilAddr = evil.getMultiaddrs()[0]!.toString()
  // A dead static target that evil will try to redirect.
  const pinned = ghost(50)
  const x = await startNode(t, 21, { bootnodes: [evilAddr, tcpAt(1, pinned)], peerExchangeIntervalMs: 50, disconnectScore: -1000 })
  const self = x.p2p.peerId
  const unreachable = [ghost(51), ghost(52), ghost(53)]
  const responses: [string, Uint8Array][] = [
    ['wrong shape', pack({ ok: true, peers: 'everyone' })],
    ['17 peers', pack({ ok: true, peers: Array.from({ length: 17 }, (_, i) => ({ id: ghost(60 + i), addrs: [tcpAt(1, ghost(60 + i))] })) })],
    ['bad multiaddr', pack({ ok: true, peers: [{ id: unreachable[0], addrs: [tcpAt(2, unreachable[0]!)] }, { id: ghost(54), addrs: ['/ip4/999.1.1.1/tcp/1/p2p/' + ghost(54)] }] })],
    ['mismatched id', pack({ ok: true, peers: [{ id: unreachable[0], addrs: [tcpAt(2, unreachable[0]!)] }, { id: ghost(55), addrs: [tcpAt(3, ghost(56))] }] })],
    [
      'unreachable ports',
      encodePeersResponse([
        ...unreachable.map((id, i) => ({ id, addrs: [tcpAt(2 + i, id)] })),
        { id: pinned, addrs: [tcpAt(9, pinned)] },
        { id: self, addrs: [tcpAt(10, self)] },
        { id: ghost(57), addrs: [tcpAt(11, ghost(57), '0.0.0.0')] },
      ]),
    ],
  ]
  let i = 0
  // Then an empty list, so that the forgotten peers are not learned again.
  const evilServer = await answerPeers(evil, () => responses[i++]?.[1] ?? encodePeersResponse([]))
  await waitFor('four garbage responses served', () => evilServer.served >= 4, 5000)
  await waitFor('four penalties', () => penalties(evilId).length >= 4, 2000)
  t.same(penalties(evilId).slice(0, 4), ['invalid-response', 'invalid-response', 'invalid-response', 'invalid-response'], 'each bad response costs invalid-response')
  t.notOk(x.p2p.dialTarget(unreachable[0]!), 'nothing of a refused response is added (its good entries neither)')

  await waitFor('the unreachable peers learned', () => unreachable.some((id) => x.p2p.dialTarget(id) !== undefined), 3000)
  t.equal(penalties(evilId).length, 4, 'the well-formed answer is not penalised')
  t.notOk(x.p2p.dialTarget(self), 'our own id is ignored')
  t.notOk(x.p2p.dialTarget(ghost(57)), 'an unspecified address is not dialled')
  t.same(x.p2p.dialTarget(pinned)?.addrs, [tcpAt(1, pinned)], "a static target's address is not replaced")
  t.equal(x.p2p.dialTarget(pinned)?.learned, false)
  await waitFor('unreachable learned peers forgotten', () => unreachable.every((id) => x.p2p.dialTarget(id) === undefined), 5000)
  for (const id of unreachable) {
    const fails = logs.filter((l) => l.includes('Dial failed') && l.includes(`peer=${id}`))
    t.equal(fails.length, LEARNED_MAX_FAILURES, `${id.slice(-6)}: ${LEARNED_MAX_FAILURES} failed dials, the last forgets it`)
  }
  t.ok(x.p2p.dialTarget(pinned) !== undefined, 'the static target is kept whatever its failures')
  t.equal(x.p2p.learnedPeerCount(), 0)
  t.ok(x.p2p.peers().some((p) => p.id === evilId), 'evil is still a peer (score above -1000)')
})

t.test('peer exchange is served to chain peers only, with listen addresses, never the requester', async (t) => {
  const x = await startNode(t, 31)
  const xAddr = multiaddr(x.p2p.listenAddrs()[0]!)
  const b = await startNode(t, 32, { bootnodes: x.p2p.listenAddrs() }) // inbound at x
  await waitConnected([[x, b]])
  const ask = async (raw: RawNode) => {
    const stream = await raw.dialProtocol(peerIdFromString(x.p2p.peerId), PROTOCOLS.peers)
    const lp = lpStream(stream)
    await lp.write(encodePeersRequest())
    const frame = (await lp.read()).subarray()
    await stream.close()
    return decodePeersResponse(frame)
  }
  const r = await startRawNode(t)
  await r.dial(xAddr)
  await waitFor('r handshaken', () => x.p2p.peers().some((p) => p.id === r.peerId.toString() && p.status !== null))
  const res = await ask(r)
  t.same(res, { ok: true, value: [{ id: b.p2p.peerId, addrs: b.p2p.listenAddrs() }] }, "b with its listen address, not r itself, not b's inbound port")
  const bConn = x.p2p.peers().find((p) => p.id === b.p2p.peerId)!
  t.not(bConn.addrs[0], b.p2p.listenAddrs()[0]!.replace(/\/p2p\/.*/, ''), "(b's connection at x is from another port)")

  const stranger = await startRawNode(t, null) // never handshakes: not a chain peer
  await stranger.dial(xAddr)
  await waitFor('x gives up the handshake with the stranger', () => logs.some((l) => l.includes('Status handshake failed') && l.includes(`peer=${stranger.peerId.toString()}`)))
  const refused = await ask(stranger)
  t.match(refused, { ok: false, code: 'NOT_CHAIN_PEER' }, 'a peer that is not a chain peer gets an error envelope')
  t.same(penalties(r.peerId.toString()), [], 'r was not penalised for not serving peer exchange itself')
})
