import t from 'tap'
import { decodeTxBatch, encodeTxBatch, MAX_BATCH_TXS, TxBatcher } from '../../p2p/tx-batch.ts'
import { pack } from '../../p2p/wire.ts'

const tx = (n: number, size = 10) => new Uint8Array(size).fill(n)
/** msgpack decodes byte strings as Buffers: compare contents. */
const hexes = (xs: Uint8Array[]) => xs.map((x) => Buffer.from(x).toString('hex'))

t.test('a batch round-trips; anything else is INVALID_MESSAGE', async (t) => {
  const txs = [tx(1), tx(2, 300), tx(3, 0)]
  t.same(hexes(decodeTxBatch(encodeTxBatch(txs))), hexes(txs))
  for (const [what, data] of [
    ['garbage', new Uint8Array([0xc1, 0xff, 0x00])],
    ['an empty list', pack([])],
    ['a list of numbers', pack([1, 2])],
    ['a map', pack({ a: tx(1) })],
    ['too many', pack(Array.from({ length: MAX_BATCH_TXS + 1 }, () => tx(1, 1)))],
    ['two values', new Uint8Array([...encodeTxBatch([tx(1)]), ...encodeTxBatch([tx(2)])])],
  ] as const) {
    t.throws(() => decodeTxBatch(data), { code: 'P2P_INVALID_MESSAGE' }, what)
  }
})

t.test('the batcher sends after the delay, at once when full, and settles every publish with its batch', async (t) => {
  const sent: Uint8Array[][] = []
  let fail: Error | undefined
  const b = new TxBatcher(
    async (data) => {
      sent.push(decodeTxBatch(data).map((x) => new Uint8Array(x)))
      if (fail !== undefined) throw fail
      return 3
    },
    { maxBytes: 100, delayMs: 30 },
  )
  const first = [b.add(tx(1)), b.add(tx(2))]
  t.equal(sent.length, 0, 'waits for more')
  t.same(await Promise.all(first), [3, 3])
  t.same(sent, [[tx(1), tx(2)]], 'one message after the delay')

  // The same transaction published again before its batch left rides along once.
  const again = [b.add(tx(3)), b.add(tx(3)), b.add(tx(2))]
  t.same(await Promise.all(again), [3, 3, 3], 'every publish settles')
  t.same(sent.at(-1), [tx(3), tx(2)], 'tx 3 once; tx 2 again (its earlier batch had left)')

  // 60 + 50 bytes: the second does not fit, so the first goes alone, at once.
  const p1 = b.add(tx(4, 60))
  const p2 = b.add(tx(5, 50))
  t.equal(sent.length, 3, 'a full batch is sent without waiting')
  await Promise.all([p1, p2])
  t.same(sent.slice(2), [[tx(4, 60)], [tx(5, 50)]])
  // Larger than a batch: alone, at once.
  await b.add(tx(6, 150))
  t.same(sent.at(-1), [tx(6, 150)])

  fail = Object.assign(new Error('nobody'), { code: 'P2P_NO_PEERS' })
  const failing = [b.add(tx(7)), b.add(tx(8))]
  for (const p of failing) await t.rejects(p, { code: 'P2P_NO_PEERS' }, 'each publish fails with its batch')

  // Ordering as proof: a second batcher with the same delay, started after tx 9's timer, sends
  // after that timer would have fired (Node runs timers of one duration first in, first out).
  fail = undefined
  const later: number[] = []
  const witness = new TxBatcher(async () => (later.push(sent.length), 1), { maxBytes: 100, delayMs: 30 })
  const pending = b.add(tx(9))
  const witnessed = witness.add(tx(10))
  b.close(Object.assign(new Error('stopped'), { code: 'P2P_STOPPED' }))
  await t.rejects(pending, { code: 'P2P_STOPPED' })
  const count = sent.length
  await witnessed
  t.same(later, [count], 'nothing is sent after close (not even when its timer was due)')
})
