import t from 'tap'
import { createBlock, type Block } from '@ethereumjs/block'
import { RLP } from '@ethereumjs/rlp'
import type { TypedTransaction } from '@ethereumjs/tx'
import { bytesToHex } from '@ethereumjs/util'
import { Chain } from '../../node/chain/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { DEV_KEYS, addressOf, source, testGenesis, txFactory } from '../helpers/chain.ts'
import { tempDir } from '../helpers/node-process.ts'

setLogLevel('error')

const dir = tempDir()
t.teardown(() => dir.remove())
const chain = await Chain.open(dir.path, testGenesis())
t.teardown(() => chain.close())
const f = txFactory(chain.common)
// Legacy, EIP-2930 and EIP-1559 transactions, in turn.
const items = Array.from({ length: 9 }, () => f.next('transfer'))
const signer = { address: addressOf(DEV_KEYS[0]!), privateKey: DEV_KEYS[0]! }
const { block } = await chain.produce({ signer, source: source(items), deadline: Date.now() + 60_000 })

/** A block's RLP from its parts: a typed transaction is a byte string, a legacy one a list. */
const encode = (header: Uint8Array[], txs: Array<Uint8Array | Uint8Array[]>, uncles: unknown[] = []) => RLP.encode([header, txs, uncles] as never)
const wireTx = (tx: TypedTransaction) => (tx.type === 0 ? (tx.raw() as Uint8Array[]) : tx.serialize())

t.test('a block splits into its header and the transaction encodings the root is over', async (t) => {
  t.equal(new Set(block.transactions.map((tx) => tx.type)).size, 3, 'the block holds all three transaction types')
  const parsed = chain.parseBlock(block.serialize())
  t.equal(bytesToHex(parsed.hash), bytesToHex(block.hash()))
  t.equal(parsed.header.number, block.header.number)
  t.equal(parsed.uncles, 0)
  t.same(parsed.transactions.map(bytesToHex), block.transactions.map((tx) => bytesToHex(tx.serialize())), 'each transaction as the trie holds it')
  const empty = createBlock({ header: block.header.toJSON() }, { common: chain.common, setHardfork: false })
  t.same(chain.parseBlock(empty.serialize()).transactions, [], 'no transactions')
})

t.test('malformed bytes are refused with what is wrong', async (t) => {
  const good = block.serialize()
  const header = block.header.raw()
  const txs = block.transactions.map(wireTx)
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['nothing', new Uint8Array(), /truncated/],
    ['cut short', good.subarray(0, good.length - 10), /runs past/],
    ['bytes after the block', Uint8Array.from([...good, 0x80]), /bytes after/],
    ['a string, not a list', RLP.encode(new Uint8Array(100)), /expected a list/],
    ['two parts', RLP.encode([header, txs] as never), /2 parts/],
    ['four parts (withdrawals are not in London)', RLP.encode([header, txs, [], []] as never), /4 parts/],
    ['a header that is not a list', encode(new Uint8Array(40) as never, txs), /header is not a list/],
    // 0xb8 0x05: the long form for a five-byte string.
    ['a long-form length under 56', Uint8Array.from([0xc9, 0xc0, 0xc0, 0xb8, 0x05, 1, 2, 3, 4, 5]), /long form/],
    ['a length with leading zeros', Uint8Array.from([0xf9, 0x00, 0x40, ...new Uint8Array(64)]), /leading zeros/],
    ['a single low byte given a prefix', Uint8Array.from([0xc3, 0xc0, 0x81, 0x05]), /own encoding/],
  ]
  for (const [name, bytes, message] of cases) t.throws(() => chain.parseBlock(bytes), { code: 'CHAIN_INVALID_BLOCK', message }, name)
  // A numeric header field with a leading zero decodes to the same header in ethereumjs, but is
  // not the encoding its hash is over.
  const padded = [...header]
  padded[8] = Uint8Array.from([0, ...padded[8]!])
  t.throws(() => chain.parseBlock(encode(padded, txs)), { code: 'CHAIN_INVALID_BLOCK', message: /not canonically encoded/ }, 'a padded block number')
})

t.test('a transaction that decodes but is not encoded canonically is refused before import', async (t) => {
  const typed = block.transactions.findIndex((tx) => tx.type === 2)
  const fields = RLP.decode(block.transactions[typed]!.serialize().subarray(1)) as unknown as Uint8Array[]
  fields[0] = Uint8Array.from([0, ...fields[0]!]) // a chain id with a leading zero: ethereumjs takes it
  const txs = block.transactions.map(wireTx)
  txs[typed] = Uint8Array.from([2, ...RLP.encode(fields as never)])
  const parsed = chain.parseBlock(encode(block.header.raw(), txs))
  await t.rejects(chain.decodePrechecked(parsed), { code: 'CHAIN_INVALID_BLOCK', message: new RegExp(`transaction ${typed} is not canonically encoded`) })
  const fine: Block = await chain.decodePrechecked(chain.parseBlock(block.serialize()))
  t.equal(bytesToHex(fine.hash()), bytesToHex(block.hash()), 'the canonical block decodes')
  t.same(fine.transactions.map((tx) => bytesToHex(tx.hash())), block.transactions.map((tx) => bytesToHex(tx.hash())), 'with the same transaction hashes')
  const garbage = block.transactions.map(wireTx)
  garbage[1] = Uint8Array.from([2, 0xc1, 0x80])
  await t.rejects(chain.decodePrechecked(chain.parseBlock(encode(block.header.raw(), garbage))), { code: 'CHAIN_INVALID_BLOCK', message: /transaction 1: / }, 'an undecodable transaction')
})

t.test('a transaction the pool already holds is reused, not decoded again', async (t) => {
  const pooled = block.transactions[4]!
  const asked: string[] = []
  const known = (hash: Uint8Array) => {
    asked.push(bytesToHex(hash))
    return bytesToHex(hash) === bytesToHex(pooled.hash()) ? pooled : undefined
  }
  const decoded = await chain.decodePrechecked(chain.parseBlock(block.serialize()), known)
  t.same(asked, block.transactions.map((tx) => bytesToHex(tx.hash())), 'looked up by the hash of each encoding')
  t.equal(decoded.transactions[4], pooled, 'the pooled object itself')
  t.not(decoded.transactions[3], block.transactions[3], 'the others decoded afresh')
})
