import t from 'tap'
import { P2PError, parsePeerAddr, peerIdFromNodeKey, topicNames, type PeerInfo, type Status } from '../../p2p/index.ts'
import { CHAIN_ID, GENESIS, HEAD, logs, nodeKey, startNode, waitConnected, waitFor } from './helpers.ts'

t.test('the peer id is stable for the same node key', async (t) => {
  const a1 = await startNode(t, 1)
  const id = a1.p2p.peerId
  await a1.p2p.stop()
  const a2 = await startNode(t, 1)
  t.equal(a2.p2p.peerId, id, 'same key, same peer id across restarts')
  t.equal(peerIdFromNodeKey(nodeKey(1)), id, 'peerIdFromNodeKey agrees')
  t.match(id, /^16Uiu2/, 'a secp256k1 peer id')
  t.not(peerIdFromNodeKey(nodeKey(2)), id, 'another key, another id')
  const addrs = a2.p2p.listenAddrs()
  t.ok(addrs.length > 0 && addrs.every((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.endsWith(`/p2p/${id}`)), `listen addrs name the peer: ${addrs}`)
  t.equal(parsePeerAddr(addrs[0]!).peer, id)
  t.same(a2.p2p.topics, { tx: `/medrec/${CHAIN_ID}/txs/2`, block: `/medrec/${CHAIN_ID}/block/1` })
  t.same(topicNames(5n).block, '/medrec/5/block/1')
})

t.test('bad options are coded errors', async (t) => {
  await t.rejects(startNode(t, 1, { privateKey: new Uint8Array(31) }), { code: 'P2P_INVALID_OPTIONS' })
  await t.rejects(startNode(t, 1, { privateKey: new Uint8Array(32) }), { code: 'P2P_INVALID_OPTIONS' }, 'zero is not a secp256k1 key')
  await t.rejects(startNode(t, 1, { bootnodes: ['/ip4/127.0.0.1/tcp/1'] }), { code: 'P2P_INVALID_MULTIADDR' }, 'bootnodes need /p2p/')
  await t.rejects(startNode(t, 1, { maxBlockBytes: 20 << 20 }), { code: 'P2P_INVALID_OPTIONS' }, 'a block must fit a response')
  const a = await startNode(t, 1)
  const port = Number(a.p2p.listenAddrs()[0]!.split('/')[4])
  await t.rejects(startNode(t, 2, { listen: { host: '127.0.0.1', port } }), {
    code: 'P2P_LISTEN_FAILED',
    message: `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
    context: { errno: 'EADDRINUSE' },
  })
  await t.rejects(a.p2p.addPeer('not a multiaddr'), { code: 'P2P_INVALID_MULTIADDR' })
  await t.rejects(a.p2p.requestStatus('nonsense'), { code: 'P2P_INVALID_PEER_ID' })
  await t.rejects(a.p2p.requestStatus(peerIdFromNodeKey(nodeKey(9))), { code: 'P2P_NOT_CONNECTED' })
  await t.rejects(a.p2p.requestBlocks(peerIdFromNodeKey(nodeKey(9)), -1n, 1), P2PError)
})

t.test('three nodes connect through bootnodes and exchange status', async (t) => {
  const a = await startNode(t, 1)
  const connected: PeerInfo[] = []
  a.p2p.on('peer:connected', (p) => connected.push(p))
  const boot = a.p2p.listenAddrs()
  const b = await startNode(t, 2, { bootnodes: boot })
  const c = await startNode(t, 3, { bootnodes: [...boot, ...b.p2p.listenAddrs()] })
  await waitConnected([
    [a, b],
    [a, c],
    [b, c],
  ])
  t.equal(a.p2p.peerCount(), 2)
  t.equal(c.p2p.peerCount(), 2)
  await waitFor('peer:connected events', () => new Set(connected.map((p) => p.id)).size === 2)
  t.same([...new Set(connected.map((p) => p.id))].sort(), [b.p2p.peerId, c.p2p.peerId].sort(), 'peer:connected for each')
  t.ok(connected.every((p) => p.status?.head.number === 7n), 'with its status')
  const fromC = a.p2p.peers().find((p) => p.id === c.p2p.peerId)!
  t.equal(fromC.direction, 'inbound')
  t.equal(c.p2p.peers().find((p) => p.id === a.p2p.peerId)!.direction, 'outbound')
  t.match(fromC.addrs[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
  t.equal(fromC.score, 0)
  t.same(fromC.status, { chainId: CHAIN_ID, genesisHash: Uint8Array.from(GENESIS), ...HEAD }, 'status known after the handshake')

  // A new head announced by c reaches a as peer:status.
  const updates: [string, Status][] = []
  a.p2p.on('peer:status', (id, s) => updates.push([id, s]))
  c.head = { head: { number: 8n, hash: new Uint8Array(32).fill(8) }, totalDifficulty: 17n }
  await c.p2p.announceStatus()
  await waitFor('peer:status', () => updates.length === 1)
  t.equal(updates[0]![0], c.p2p.peerId)
  t.equal(updates[0]![1].head.number, 8n)
  t.equal(a.p2p.peers().find((p) => p.id === c.p2p.peerId)!.status!.totalDifficulty, 17n)
  // requestStatus returns the remote's status.
  const s = await a.p2p.requestStatus(b.p2p.peerId)
  t.equal(s.head.number, 7n)

  // Disconnects are reported, and a bootnode that comes back is redialled.
  const gone: string[] = []
  a.p2p.on('peer:disconnected', (id) => gone.push(id))
  await c.p2p.stop()
  await waitFor('peer:disconnected', () => gone.includes(c.p2p.peerId))
  t.equal(a.p2p.peerCount(), 1)
})

t.test('a bootnode is redialled with backoff until it comes up', async (t) => {
  // Learn b's address, stop it, start a with it as bootnode, then bring b back on the same port.
  const b1 = await startNode(t, 2)
  const addr = b1.p2p.listenAddrs()[0]!
  const port = Number(addr.split('/')[4])
  await b1.p2p.stop()
  const a = await startNode(t, 1, { bootnodes: [addr] })
  await waitFor('two failed dials of the absent bootnode', () => (a.p2p.dialTarget(b1.p2p.peerId)?.failures ?? 0) >= 2)
  t.equal(a.p2p.peerCount(), 0, 'nothing to connect to yet')
  const b = await startNode(t, 2, { listen: { host: '127.0.0.1', port } })
  await waitConnected([[a, b]])
  t.pass('connected once the bootnode came up')
})

t.test('addPeer dials and reports the peer id', async (t) => {
  const a = await startNode(t, 1)
  const b = await startNode(t, 2)
  t.equal(await a.p2p.addPeer(b.p2p.listenAddrs()[0]!), b.p2p.peerId)
  await waitConnected([[a, b]])
  const dead = '/ip4/127.0.0.1/tcp/1/p2p/' + peerIdFromNodeKey(nodeKey(7))
  await t.rejects(a.p2p.addPeer(dead), { code: 'P2P_DIAL_FAILED' })
})

t.test('maxPeers is honoured', async (t) => {
  const from = logs.length
  const hub = await startNode(t, 1, { maxPeers: 2 })
  let max = 0
  hub.p2p.on('peer:connected', () => (max = Math.max(max, hub.p2p.peerCount())))
  const boot = hub.p2p.listenAddrs()
  // No peer exchange: the spokes would find each other through the hub.
  const spokeInit = { bootnodes: boot, discovery: false }
  const spokes = [await startNode(t, 2, spokeInit), await startNode(t, 3, spokeInit), await startNode(t, 4, spokeInit)]
  await waitFor('two peers', () => hub.p2p.peerCount() === 2)
  // The third spoke's connection is held for app protocols only: wait until the hub has turned it away.
  const ids = spokes.map((s) => s.p2p.peerId)
  await waitFor('the hub to turn a spoke away', () => logs.slice(from).some((l) => l.includes('Too many peers') && ids.some((id) => l.includes(`peer=${id}`))))
  // ...and that spoke's handshake with the hub to fail (it admitted the hub until then).
  await waitFor('the spoke to give up on the hub', () => logs.slice(from).some((l) => l.includes('Status handshake failed') && l.includes(`peer=${hub.p2p.peerId}`)))
  t.equal(hub.p2p.peerCount(), 2, 'never more than maxPeers')
  t.ok(max <= 2, `peak ${max}`)
  t.equal(spokes.filter((s) => s.p2p.peerCount() === 1).length, 2, 'exactly two spokes are in')
  const out = spokes.find((s) => s.p2p.peerCount() === 0)!
  await t.rejects(hub.p2p.addPeer(out.p2p.listenAddrs()[0]!), { code: 'P2P_TOO_MANY_PEERS' }, 'addPeer says why')
  t.equal(hub.p2p.peerCount(), 2)
})
