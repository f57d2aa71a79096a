import t from 'tap'
import { genTransactionsTrieRoot } from '@ethereumjs/block'
import { createMPT } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { orderedTrieRoot } from '../../evm/trie-root.ts'
import { createChainCommon } from '../../evm/index.ts'
import { txFactory } from '../helpers/chain.ts'

// The one-pass root must equal ethereumjs' incremental trie for every size, including the
// 127/128 boundary where rlp(index) changes length and ordering.
t.test('orderedTrieRoot equals an incrementally built trie', async (t) => {
  for (const n of [0, 1, 2, 15, 16, 17, 127, 128, 129, 300, 1000]) {
    const values = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? new Uint8Array([i & 0xff]) : RLP.encode([i, new Uint8Array(i % 50)])))
    const trie = await createMPT()
    for (const [i, v] of values.entries()) await trie.put(RLP.encode(i), v)
    t.equal(bytesToHex(orderedTrieRoot(values)), bytesToHex(trie.root()), `${n} items`)
  }
})

t.test('transaction roots match @ethereumjs/block', async (t) => {
  const f = txFactory(createChainCommon({ chainId: 1337n, period: 0, epoch: 30000n }))
  const txs = Array.from({ length: 150 }, (_, i) => f.next(i % 3 === 0 ? 'deploy' : 'transfer').tx)
  t.equal(bytesToHex(orderedTrieRoot(txs.map((x) => x.serialize()))), bytesToHex(await genTransactionsTrieRoot(txs)))
})
