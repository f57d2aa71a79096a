import t from 'tap'
import { decodeTxBatch, encodeTxBatch, MAX_BATCH_TXS } from '../../p2p/tx-batch.ts'
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
