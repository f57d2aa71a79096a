import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { GOSSIP_MAX_BYTES } from '../../p2p/index.ts'
import { logs, penalties, seen, startNode, waitConnected, waitFor, warmUp, type TestNode } from './helpers.ts'

const bytes = (s: string, size = 32) => {
  const b = new Uint8Array(size)
  b.set(createHash('sha256').update(s).digest())
  return b
}
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const score = (at: TestNode, of: TestNode) => at.p2p.peers().find((p) => p.id === of.p2p.peerId)?.score

/** a — b — c in a line: c hears a only through b's forwarding. */
async function line(t: Test, opts: Parameters<typeof startNode>[2] = {}) {
  // No peer exchange: c would learn a from b and the line would become a triangle.
  const init = { discovery: false, ...opts }
  const a = await startNode(t, 1, init)
  const b = await startNode(t, 2, { ...init, bootnodes: a.p2p.listenAddrs() })
  const c = await startNode(t, 3, { ...init, bootnodes: b.p2p.listenAddrs() })
  await waitConnected([
    [a, b],
    [b, c],
  ])
  t.equal(a.p2p.peerCount(), 1, 'a and c are not directly connected')
  await warmUp(a, c, 'tx')
  await warmUp(a, c, 'block')
  return { a, b, c }
}

t.test('transactions and blocks reach every node, forwarded after validation', async (t) => {
  const { a, b, c } = await line(t)
  const tx = bytes('tx 1', 120)
  const block = bytes('block 1', 5000)
  t.equal(await a.p2p.publishTx(tx), 1, 'sent to one peer')
  await a.p2p.publishBlock(block)
  await waitFor('c receives both', () => seen(c, 'tx', tx) === 1 && seen(c, 'block', block) === 1)
  const find = (n: typeof a, k: 'tx' | 'block', want: Uint8Array) => n.received[k].find((r) => hex(r.bytes) === hex(want))!
  t.equal(find(b, 'tx', tx).from, a.p2p.peerId, 'b validated it as from a')
  t.equal(find(c, 'tx', tx).from, b.p2p.peerId, 'c got it from b')
  t.equal(find(c, 'block', block).bytes.length, 5000)
  // Published from the other end, and a duplicate is not delivered twice.
  const tx2 = bytes('tx 2')
  await c.p2p.publishTx(tx2)
  await c.p2p.publishTx(tx2)
  // A barrier, not a wait: c's messages reach a in order over the line, so once a has one c
  // published after the duplicate, a delivered duplicate would be there too.
  const after = bytes('tx 2 marker')
  await c.p2p.publishTx(after)
  await waitFor('a receives the later tx', () => seen(a, 'tx', after) === 1)
  t.equal(seen(a, 'tx', tx2), 1, 'the duplicate was dropped')
  t.equal(seen(a, 'block', block), 0, 'publisher does not validate its own block')
})

t.test('a block near the gossip ceiling travels; above it publishBlock is a coded error', async (t) => {
  const { a, c } = await line(t)
  const big = bytes('big block', GOSSIP_MAX_BYTES)
  await a.p2p.publishBlock(big)
  await waitFor('c receives the big block', () => seen(c, 'block', big) === 1, 10_000)
  await t.rejects(a.p2p.publishBlock(new Uint8Array(GOSSIP_MAX_BYTES + 1)), { code: 'P2P_MESSAGE_TOO_LARGE' })
  await t.rejects(a.p2p.publishTx(new Uint8Array(128 * 1024 + 1)), { code: 'P2P_MESSAGE_TOO_LARGE' })
})

t.test("'reject' stops propagation and lowers the sender's score; 'ignore' does not penalise", async (t) => {
  const { a, b, c } = await line(t)
  const [ignored, rejected] = [bytes('ignored'), bytes('rejected')]
  b.verdict.tx = 'ignore'
  await a.p2p.publishTx(ignored)
  await waitFor('b sees it', () => seen(b, 'tx', ignored) === 1)
  b.verdict.tx = 'reject'
  await a.p2p.publishTx(rejected)
  await waitFor('b sees it', () => seen(b, 'tx', rejected) === 1)
  // A barrier, not a wait: b forwards what it accepts in the order it validated it, over one stream to c,
  // so once c has a message a published after those two, a forwarded copy of either would be there too.
  b.verdict.tx = 'accept'
  const marker = bytes('accepted after')
  await a.p2p.publishTx(marker)
  await waitFor('c gets the later message', () => seen(c, 'tx', marker) === 1)
  t.equal(seen(c, 'tx', ignored) + seen(c, 'tx', rejected), 0, 'neither was forwarded')
  t.ok(score(b, a)! < 0, `a's score at b dropped: ${score(b, a)}`)
  t.same(penalties(a.p2p.peerId), ['gossip-reject'], 'one penalty, for the reject only')
  await waitFor('gossipsub scores the invalid message', () => b.p2p.peers().find((p) => p.id === a.p2p.peerId)!.gossipScore < 0)
  t.pass('gossipsub scores it too (our score is its application score, P5)')
  t.equal(score(c, b), 0, 'c has nothing against b')
})

t.test('repeated rejects disconnect and ban the sender', async (t) => {
  const { a, b } = await line(t, { penalties: { 'gossip-reject': -40 } })
  const gone: string[] = []
  b.p2p.on('peer:disconnected', (id) => gone.push(id))
  b.verdict.tx = 'reject'
  for (let i = 0; i < 3; i++) await a.p2p.publishTx(bytes(`bad ${i}`))
  await waitFor('b drops a', () => gone.includes(a.p2p.peerId))
  t.equal(b.p2p.peers().some((p) => p.id === a.p2p.peerId), false)
  // b will not dial a (the ban is the dialer's check too)...
  await t.rejects(b.p2p.addPeer(a.p2p.listenAddrs()[0]!), { code: 'P2P_PEER_BANNED' })
  // ...and when a comes back on its own, and keeps redialling, b hangs up each time: wait for two.
  const from = logs.length
  // b refuses after the handshake (hangs up) or during it (a's dial fails): a keeps it as a target either way.
  await a.p2p.addPeer(b.p2p.listenAddrs()[0]!).catch(() => undefined)
  const refused = () => logs.slice(from).filter((l) => /Peer disconnected|Dial failed/.test(l) && l.includes(`peer=${b.p2p.peerId}`)).length
  await waitFor('b to refuse two of a’s reconnections', () => refused() >= 2)
  t.equal(b.p2p.peers().some((p) => p.id === a.p2p.peerId), false, 'still out (banned)')
  t.equal(a.p2p.peerCount(), 0)
})

t.test('oversized gossip is rejected by the receiver and penalised', async (t) => {
  const a = await startNode(t, 1)
  const b = await startNode(t, 2, { maxTxBytes: 1000, bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  await warmUp(a, b)
  const large = bytes('large', 2000)
  await a.p2p.publishTx(large)
  await waitFor('penalty', () => penalties(a.p2p.peerId).includes('oversized'))
  t.equal(seen(b, 'tx', large), 0, 'the validator never saw it')
  t.ok(score(b, a)! < 0)
})

t.test('gossip above the per-peer rate is ignored and penalised', async (t) => {
  const a = await startNode(t, 1)
  const started = Date.now()
  const b = await startNode(t, 2, { gossipRate: { perSecond: 1, burst: 5 }, bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  const warm = await warmUp(a, b)
  for (let i = 0; i < 10; i++) await a.p2p.publishTx(bytes(`flood ${i}`))
  await waitFor('rate-limit penalties', () => penalties(a.p2p.peerId).filter((r) => r === 'rate-limit').length >= 3)
  const allowed = 5 + Math.ceil((Date.now() - started) / 1000)
  t.ok(b.received.tx.length <= allowed, `validator saw ${b.received.tx.length} of ${10 + warm} (bucket allows ${allowed})`)
})

t.test('a publish that finds nobody fails with NO_PEERS and is not lost: the same message goes out once peers join', async (t) => {
  const a = await startNode(t, 11)
  const tx = bytes('sent before any peer')
  await t.rejects(a.p2p.publishTx(tx), { code: 'P2P_NO_PEERS', message: /no peer has joined the topic yet/ })
  const b = await startNode(t, 12, { bootnodes: a.p2p.listenAddrs() })
  await waitConnected([[a, b]])
  // Not remembered as already published (gossipsub's seen-cache): the retry is delivered.
  await waitFor('the retry to arrive', () => {
    void a.p2p.publishTx(tx).catch(() => {})
    return seen(b, 'tx', tx) === 1
  }, 10_000)
  t.equal(seen(b, 'tx', tx), 1, 'b got the message published before it existed')
})

t.test('transactions published together travel as one batch message; one invalid transaction rejects the batch', async (t) => {
  const messages: string[] = []
  const a = await startNode(t, 21)
  const b = await startNode(t, 22, { bootnodes: a.p2p.listenAddrs() }, { observer: { gossip: (kind, verdict) => messages.push(`${kind}:${verdict}`) } })
  await waitConnected([[a, b]])
  await warmUp(a, b)
  messages.length = 0
  const txs = Array.from({ length: 50 }, (_, i) => bytes(`batched ${i}`, 100 + i))
  const recipients = await Promise.all(txs.map((tx) => a.p2p.publishTx(tx)))
  t.same(new Set(recipients), new Set([1]), 'every publish resolved with its batch: sent to one peer')
  await waitFor('b validates all 50', () => txs.every((tx) => seen(b, 'tx', tx) === 1))
  t.same(messages, ['tx:accept'], 'in one gossip message')

  // A batch holding one transaction the validator rejects is rejected whole and costs the sender.
  const bad = bytes('the bad one')
  const wrapped = [bytes('good 1'), bad, bytes('good 2')]
  const verdictOf = new Map([[hex(bad), 'reject' as const]])
  b.verdict.tx = 'accept'
  const original = b.received.tx.push.bind(b.received.tx)
  b.received.tx.push = (...items) => {
    for (const r of items) if (verdictOf.has(hex(r.bytes))) b.verdict.tx = 'reject'
    return original(...items)
  }
  await Promise.all(wrapped.map((tx) => a.p2p.publishTx(tx)))
  await waitFor('the batch is judged', () => messages.length === 2)
  t.equal(messages[1], 'tx:reject')
  t.ok(penalties(a.p2p.peerId).includes('gossip-reject'), 'the relaying peer is penalised')
})
