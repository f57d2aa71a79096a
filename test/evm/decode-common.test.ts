import t from 'tap'
import { createBlock, createBlockFromRLP } from '@ethereumjs/block'
import { bytesToHex } from '@ethereumjs/util'
import { createChainCommon, createDecodeCommon } from '../../evm/index.ts'
import { txFactory } from '../helpers/chain.ts'

t.test('a block decoded with the shared decode Common is the block decoded as ethereumjs does', async (t) => {
  const common = createChainCommon({ chainId: 1337n, period: 2, epoch: 30000n })
  const f = txFactory(common)
  const txs = Array.from({ length: 9 }, (_, i) => f.next(i % 3 === 0 ? 'deploy' : 'transfer').tx) // legacy, 2930 and 1559
  const block = createBlock(
    { header: { number: 5n, gasLimit: 30_000_000n, baseFeePerGas: 7n, timestamp: 100n, extraData: new Uint8Array(97) }, transactions: txs },
    { common, setHardfork: false },
  )
  const rlp = block.serialize()
  const plain = createBlockFromRLP(rlp, { common, setHardfork: false })
  const shared = createDecodeCommon(common)
  const fast = createBlockFromRLP(rlp, { common: shared, setHardfork: false })

  t.equal(bytesToHex(fast.hash()), bytesToHex(plain.hash()))
  t.same(fast.transactions.map((x) => bytesToHex(x.hash())), plain.transactions.map((x) => bytesToHex(x.hash())))
  t.same(fast.transactions.map((x) => x.type), txs.map((x) => x.type))
  t.same([...new Set(fast.transactions.map((x) => x.type))].sort(), [0, 1, 2], 'legacy, EIP-2930 and EIP-1559 among them')
  t.same(fast.transactions.map((x) => x.getIntrinsicGas()), plain.transactions.map((x) => x.getIntrinsicGas()), 'transaction parameters (intrinsic gas, creation cost)')
  t.same(fast.transactions.map((x) => x.getSenderAddress().toString()), txs.map((x) => x.getSenderAddress().toString()))
  t.equal(fast.header.calcNextBaseFee(), plain.header.calcNextBaseFee(), 'block parameters (EIP-1559 base fee)')
  t.equal(fast.header.common.param('txGas'), 21000n)
  t.ok(fast.transactions.every((x) => x.common === shared) && fast.header.common === shared, 'one Common, not a copy per transaction')
  t.notOk(plain.transactions.some((x) => x.common === common), 'ethereumjs on its own copies it for each')
})
