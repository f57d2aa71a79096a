import t, { type Test } from 'tap'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { PROTOCOLS } from '../../p2p/index.ts'
import { decodeItemsResponse, encodeItemsResponse, encodeStatusResponse, pack } from '../../p2p/wire.ts'
import { CHAIN_ID, HEAD, fakeBlock, fakeHeader, logs, penalties, startNode, startRawNode, waitConnected, waitFor, type RawNode, type TestNode } from './helpers.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const scoreOf = (at: TestNode, peer: string) => at.p2p.peers().find((p) => p.id === peer)?.score

/** A raw host connected to `victim` and handshaken. */
async function evilPeer(t: Test, victim: TestNode): Promise<{ evil: RawNode; id: string }> {
  const evil = await startRawNode(t)
  await evil.dial(multiaddr(victim.p2p.listenAddrs()[0]!))
  const id = evil.peerId.toString()
  await waitFor('handshake with the raw peer', () => victim.p2p.peers().some((p) => p.id === id && p.status !== null))
  return { evil, id }
}

async function open(evil: RawNode, victim: TestNode, protocol: string): Promise<Stream> {
  return evil.dialProtocol(peerIdFromString(victim.p2p.peerId), protocol)
}

t.test('status handshake: another chain id or genesis hash is disconnected and not redialled', async (t) => {
  const a = await startNode(t, 1)
  const connected: string[] = []
  a.p2p.on('peer:connected', (p) => connected.push(p.id))
  const otherChain = await startNode(t, 2, { chainId: 999n, bootnodes: a.p2p.listenAddrs() })
  const otherGenesis = await startNode(t, 3, { genesisHash: new Uint8Array(32).fill(1), bootnodes: a.p2p.listenAddrs() })
  const good = await startNode(t, 4, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, good]])
  const mismatches = () => logs.filter((l) => l.includes('Peer is on another chain')).join('\n')
  await waitFor('mismatches logged', () => mismatches().includes(otherChain.p2p.peerId) && mismatches().includes(otherGenesis.p2p.peerId))
  // The ban is the proof, not a wait: the dialer consults the same check before every redial,
  // so a refused addPeer on both sides says neither will dial the other again.
  for (const other of [otherChain, otherGenesis]) {
    await t.rejects(other.p2p.addPeer(a.p2p.listenAddrs()[0]!), { code: 'P2P_PEER_BANNED' }, 'the other chain will not redial a')
    await t.rejects(a.p2p.addPeer(other.p2p.listenAddrs()[0]!), { code: 'P2P_PEER_BANNED' }, 'a will not dial it')
  }
  t.same(connected, [good.p2p.peerId], 'only the peer of our chain was reported')
  t.same(a.p2p.peers().map((p) => p.id), [good.p2p.peerId])
  t.equal(otherChain.p2p.peerCount(), 0)
  t.equal(otherGenesis.p2p.peerCount(), 0)
  for (const other of [otherChain, otherGenesis]) {
    const times = logs.filter((l) => l.includes('Peer connected') && l.includes(`peer=${other.p2p.peerId}`)).length
    t.equal(times, 1, 'a connected it once: no redial (both sides ban)')
  }
})

t.test('a peer that switches to another chain is disconnected with WRONG_CHAIN', async (t) => {
  const a = await startNode(t, 1)
  const { evil, id } = await evilPeer(t, a)
  await evil.unhandle(PROTOCOLS.status)
  await evil.handle(PROTOCOLS.status, async (stream) => {
    const lp = lpStream(stream)
    await lp.read()
    await lp.write(encodeStatusResponse({ chainId: 1n, genesisHash: new Uint8Array(32), ...HEAD }))
    await stream.close()
  })
  await t.rejects(a.p2p.requestStatus(id), { code: 'P2P_WRONG_CHAIN', context: { peer: id, chainId: 1n } })
  await waitFor('disconnected', () => a.p2p.peerCount() === 0)
})

t.test('blocks-by-range and headers-by-range return what the handler serves; count is capped', async (t) => {
  const calls: [string, bigint, number][] = []
  const a = await startNode(t, 1, { maxRangeCount: 16 }, {
    getBlocksByRange: async (from, count) => {
      calls.push(['blocks', from, count])
      const end = 40n // the head: fewer at the end
      const out: Uint8Array[] = []
      for (let n = from; n < from + BigInt(count) && n <= end; n++) out.push(fakeBlock(n))
      return out
    },
    getHeadersByRange: async (from, count) => {
      calls.push(['headers', from, count])
      return Array.from({ length: count }, (_, i) => fakeHeader(from + BigInt(i)))
    },
  })
  const b = await startNode(t, 2, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  const blocks = await b.p2p.requestBlocks(a.p2p.peerId, 5n, 3)
  t.same(blocks.map(hex), [5n, 6n, 7n].map((n) => hex(fakeBlock(n))))
  t.same(calls.pop(), ['blocks', 5n, 3])
  const capped = await b.p2p.requestBlocks(a.p2p.peerId, 0n, 1000)
  t.equal(capped.length, 16, 'b asks for at most its own cap (128 by default)')
  const served = await b.p2p.requestBlocks(a.p2p.peerId, 38n, 10)
  t.equal(served.length, 3, 'fewer at the head')
  const headers = await b.p2p.requestHeaders(a.p2p.peerId, 100n, 200)
  t.equal(headers.length, 16, 'the server caps at its maxRangeCount')
  t.same(calls.pop(), ['headers', 100n, 16])
  t.equal(hex(headers[15]!), hex(fakeHeader(115n)))
  t.same(await b.p2p.requestBlocks(a.p2p.peerId, 1000n, 5), [], 'an empty range')
  t.equal(scoreOf(b, a.p2p.peerId), 0, 'no penalty for honest answers')
})

t.test('a server caps by bytes too, and a handler failure is a remote error', async (t) => {
  const a = await startNode(t, 1, { maxBlockBytes: 100_000, maxResponseBytes: 250_000 }, {
    getBlocksByRange: async (from, count) => Array.from({ length: count }, (_, i) => fakeBlock(from + BigInt(i), 90_000)),
    getHeadersByRange: async () => {
      throw new Error('database closed')
    },
  })
  const b = await startNode(t, 2, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  t.equal((await b.p2p.requestBlocks(a.p2p.peerId, 0n, 10)).length, 2, 'two 90 kB blocks fit 250 kB')
  await t.rejects(b.p2p.requestHeaders(a.p2p.peerId, 0n, 1), { code: 'P2P_REMOTE_ERROR', context: { remoteCode: 'SERVER_ERROR' } })
  t.equal(scoreOf(b, a.p2p.peerId), 0, 'a refusal is not penalised')
})

t.test('garbage, undecodable and oversized request frames are penalised; the node keeps working', async (t) => {
  const a = await startNode(t, 1, { requestTimeoutMs: 2000, disconnectScore: -120 })
  const good = await startNode(t, 2, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, good]])
  const { evil, id } = await evilPeer(t, a)

  // 1. Garbage bytes in a frame (0xc1 is never valid msgpack).
  let s = await open(evil, a, PROTOCOLS.blocksByRange)
  s.send(Uint8Array.from([5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]))
  await waitFor('invalid-frame', () => penalties(id).includes('invalid-frame'))

  // 2. A valid frame that is not msgpack of a request: answered BAD_REQUEST, penalised.
  s = await open(evil, a, PROTOCOLS.headersByRange)
  const lp = lpStream(s)
  await lp.write(pack({ from: 'yesterday', count: -1 }))
  const reply = await lp.read()
  t.match(decodeItemsResponse(reply.subarray(), 1, 1), { ok: false, code: 'BAD_REQUEST' })
  t.equal(penalties(id).filter((r) => r === 'invalid-frame').length, 2)

  // 3. A frame announcing 2 kB on a protocol whose requests are tens of bytes, then 0xff
  //    garbage (an unterminated length prefix): both oversized, the second without waiting.
  s = await open(evil, a, PROTOCOLS.status)
  s.send(Uint8Array.from([0x80, 0x10, 1, 2, 3]))
  await waitFor('oversized', () => penalties(id).includes('oversized'))
  s = await open(evil, a, PROTOCOLS.blocksByRange)
  s.send(new Uint8Array(16).fill(0xff))
  await waitFor('oversized again', () => penalties(id).filter((r) => r === 'oversized').length === 2, 1500) // < the 2 s deadline

  // 4. A stream opened and never written: the server's deadline.
  await open(evil, a, PROTOCOLS.blocksByRange)
  await waitFor('timeout', () => penalties(id).includes('timeout'), 5000)

  const score = scoreOf(a, id)!
  t.same(penalties(id), ['invalid-frame', 'invalid-frame', 'oversized', 'oversized', 'timeout'])
  t.ok(score <= -90, `the peer paid for it: ${score}`)
  t.ok(a.p2p.peers().some((p) => p.id === id), 'still connected above the threshold')
  // The node is fine: an honest peer is still served, and a still answers requests.
  t.equal((await good.p2p.requestBlocks(a.p2p.peerId, 0n, 4)).length, 4)
  t.equal((await a.p2p.requestStatus(good.p2p.peerId)).chainId, CHAIN_ID)

  // One more violation crosses -120: disconnected and banned.
  s = await open(evil, a, PROTOCOLS.blocksByRange)
  s.send(Uint8Array.from([5, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1]))
  await waitFor('disconnected', () => !a.p2p.peers().some((p) => p.id === id))
  // The ban: a redial is refused (the dialler may see the noise handshake finish first).
  await evil.dial(multiaddr(a.p2p.listenAddrs()[0]!)).catch(() => {})
  // Refused means a closes it: wait for the dialler's side to see the connection gone (were it admitted, it would stay open).
  await waitFor('the redial to be closed by a', () => evil.getConnections(peerIdFromString(a.p2p.peerId)).length === 0)
  t.notOk(a.p2p.peers().some((p) => p.id === id), 'the banned peer cannot reconnect')
})

t.test('requests above the rate limit are refused and penalised', async (t) => {
  const a = await startNode(t, 1, { requestRate: { perSecond: 1, burst: 3 } })
  const b = await startNode(t, 2, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  // the handshake took one token
  const results = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => b.p2p.requestBlocks(a.p2p.peerId, BigInt(i), 1)))
  const refused = results.filter((r) => r.status === 'rejected')
  t.ok(refused.length >= 2, `${refused.length} refused`)
  t.match((refused[0] as PromiseRejectedResult).reason, { code: 'P2P_REMOTE_ERROR', context: { remoteCode: 'RATE_LIMITED' } })
  t.ok(penalties(b.p2p.peerId).includes('rate-limit'))
})

t.test('a peer that never answers times out with a coded error; bad responses are penalised', async (t) => {
  const a = await startNode(t, 1, { requestTimeoutMs: 500, maxHeaderBytes: 100 })
  const { evil, id } = await evilPeer(t, a)
  // blocks-by-range: reads the request, never answers.
  await evil.handle(PROTOCOLS.blocksByRange, async (stream) => {
    await lpStream(stream).read()
  })
  const started = Date.now()
  await t.rejects(a.p2p.requestBlocks(id, 0n, 1), { code: 'P2P_TIMEOUT', context: { peer: id } })
  const took = Date.now() - started
  // Not before its 500 ms timeout (the behaviour); how much later depends on the machine's load, so no upper bound.
  t.ok(took >= 450, `timed out after ${took} ms`)
  t.ok(penalties(id).includes('timeout'))

  // headers-by-range: each call gets the next bad answer (timeout -5, then 4 x -25: banned).
  const answers: ((lp: ReturnType<typeof lpStream>, stream: Stream) => Promise<void>)[] = [
    async (lp) => lp.write(Uint8Array.from([1, 2, 3, 0xc1])), // not msgpack
    async (_lp, stream) => {
      stream.send(Uint8Array.from([0x80, 0x80, 0x80, 0x10])) // announces a 32 MiB frame
    },
    async (lp) => lp.write(encodeItemsResponse([fakeHeader(1n), fakeHeader(2n)])), // more than asked
    async (lp) => lp.write(encodeItemsResponse([new Uint8Array(101)])), // item above maxHeaderBytes
  ]
  await evil.handle(
    PROTOCOLS.headersByRange,
    async (stream) => {
      const lp = lpStream(stream)
      await lp.read()
      await answers.shift()!(lp, stream)
    },
    { maxInboundStreams: 8 },
  )
  const codes: string[] = []
  for (let i = 0; i < 4; i++) {
    const err = await a.p2p.requestHeaders(id, 1n, 1).then(
      () => null,
      (e: { code: string }) => e,
    )
    codes.push(err?.code ?? 'resolved')
  }
  t.same(codes, ['P2P_INVALID_RESPONSE', 'P2P_OVERSIZED', 'P2P_INVALID_RESPONSE', 'P2P_INVALID_RESPONSE'])
  await waitFor('banned after repeated bad responses', () => !a.p2p.peers().some((p) => p.id === id))
  t.same(penalties(id), ['timeout', 'invalid-response', 'oversized', 'invalid-response', 'invalid-response'])
})
