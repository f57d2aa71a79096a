import t, { type Test } from 'tap'
import { RpcError } from '../../node/rpc/errors.ts'
import * as v from '../../node/rpc/validate.ts'

/** Asserts -32602 with the exact message. */
function invalid(t: Test, fn: () => unknown, message: string | RegExp, what?: string) {
  try {
    fn()
    t.fail(`expected invalid params: ${what ?? String(message)}`)
  } catch (err) {
    t.ok(err instanceof RpcError, 'throws RpcError')
    const e = err as RpcError
    t.equal(e.rpcCode, -32602, 'code -32602')
    t.equal(e.code, 'RPC_INVALID_PARAMS')
    if (typeof message === 'string') t.equal(e.message, message)
    else t.match(e.message, message)
  }
}

const A = '0x' + 'ab'.repeat(20)
const H = '0x' + 'cd'.repeat(32)

t.test('params arity', async (t) => {
  t.doesNotThrow(() => v.params([1], 1, 2))
  invalid(t, () => v.params([1, 2, 3], 0, 2), 'too many arguments, want at most 2')
  invalid(t, () => v.params([], 1, 2), 'missing value for required argument 0')
  invalid(t, () => v.params(['a'], 2, 3), 'missing value for required argument 1')
})

t.test('quantity', async (t) => {
  t.equal(v.quantity('0x0', 0), 0n)
  t.equal(v.quantity('0x1f', 0), 31n)
  t.equal(v.quantity('0XFF', 0), 255n)
  t.equal(v.quantity('0x' + 'f'.repeat(64), 0), (1n << 256n) - 1n)
  invalid(t, () => v.quantity('12', 0), 'invalid argument 0: hex string without 0x prefix')
  invalid(t, () => v.quantity('0x', 1), 'invalid argument 1: hex string "0x"')
  invalid(t, () => v.quantity('0x01', 0), 'invalid argument 0: hex number with leading zero digits')
  invalid(t, () => v.quantity('0xzz', 0), 'invalid argument 0: invalid hex string')
  invalid(t, () => v.quantity(12, 2), 'invalid argument 2: expected a quantity as a 0x-prefixed hex string, got number')
  invalid(t, () => v.quantity('0x1' + '0'.repeat(64), 0), 'invalid argument 0: hex number > 256 bits')
  invalid(t, () => v.quantity('0x', v.fieldOf(0, 'gas')), 'invalid argument 0: field gas: hex string "0x"')
})

t.test('quantityOrNumber', async (t) => {
  t.equal(v.quantityOrNumber(5, 0), 5n)
  t.equal(v.quantityOrNumber('10', 0), 10n)
  t.equal(v.quantityOrNumber('0xa', 0), 10n)
  invalid(t, () => v.quantityOrNumber(-1, 0), 'invalid argument 0: expected a non-negative integer, got -1')
  invalid(t, () => v.quantityOrNumber(1.5, 0), 'invalid argument 0: expected a non-negative integer, got 1.5')
  invalid(t, () => v.quantityOrNumber('0x' + 'f'.repeat(17), 0), 'invalid argument 0: hex number > 64 bits')
  invalid(t, () => v.quantityOrNumber('99999999999999999999', 0), 'invalid argument 0: number > 64 bits')
})

t.test('data, address, hash, storage slot', async (t) => {
  t.same(v.data('0x', 0), new Uint8Array())
  t.same(v.data('0x00ff', 0), new Uint8Array([0, 255]))
  invalid(t, () => v.data('0x0', 0), 'invalid argument 0: hex string of odd length')
  invalid(t, () => v.data('00', 0), 'invalid argument 0: hex string without 0x prefix')
  invalid(t, () => v.data('0xgg', 0), 'invalid argument 0: invalid hex string')
  invalid(t, () => v.data(null, 3), 'invalid argument 3: expected data as a 0x-prefixed hex string, got null')

  t.equal(v.address(A).length, 20)
  t.equal(v.address('0x' + 'AB'.repeat(20), 0)[0], 0xab, 'mixed case accepted')
  invalid(t, () => v.address('0x' + 'ab'.repeat(19), 0), 'invalid argument 0: hex string has length 38, want 40 for common.Address')
  invalid(t, () => v.address(12, 0), 'invalid argument 0: expected an address as a 0x-prefixed hex string, got number')
  invalid(t, () => v.address('0x' + 'zz'.repeat(20), 0), 'invalid argument 0: invalid hex string')
  t.equal(v.hash32(H).length, 32)
  invalid(t, () => v.hash32('0x1234', 1), 'invalid argument 1: hex string has length 4, want 64 for common.Hash')

  const slot = v.storageSlot('0x1', 1)
  t.equal(slot.length, 32)
  t.equal(slot[31], 1)
  t.same(v.storageSlot(H, 1), v.hash32(H))
  invalid(t, () => v.storageSlot('0x' + '1'.repeat(65), 1), 'invalid argument 1: hex string too long, want at most 32 bytes')
  invalid(t, () => v.storageSlot('0xq', 1), 'invalid argument 1: invalid hex string')
})

t.test('bool', async (t) => {
  t.equal(v.bool(true, 1), true)
  t.equal(v.bool(false, 1), false)
  invalid(t, () => v.bool('true', 1), 'invalid argument 1: expected true or false, got string')
})

t.test('blockTag', async (t) => {
  t.same(v.blockTag('latest', 0), { kind: 'tag', tag: 'latest' })
  for (const tag of ['earliest', 'pending', 'safe', 'finalized']) t.same(v.blockTag(tag, 0), { kind: 'tag', tag })
  t.same(v.blockTag('0x10', 0), { kind: 'number', n: 16n })
  const byHash = v.blockTag(H, 0)
  t.equal(byHash.kind, 'hash', 'a 32-byte hash string is a block hash')
  t.same(v.blockTag({ blockNumber: '0x2' }, 0), { kind: 'number', n: 2n })
  t.same(v.blockTag({ blockNumber: 'latest' }, 0), { kind: 'tag', tag: 'latest' })
  const eip1898 = v.blockTag({ blockHash: H, requireCanonical: true }, 1)
  t.ok(eip1898.kind === 'hash' && eip1898.requireCanonical && eip1898.hash.length === 32)
  const notCanon = v.blockTag({ blockHash: H }, 1)
  t.ok(notCanon.kind === 'hash' && !notCanon.requireCanonical)
  invalid(t, () => v.blockTag('newest', 0), 'invalid argument 0: hex string without 0x prefix')
  invalid(t, () => v.blockTag('0xzz', 0), 'invalid argument 0: invalid hex string')
  invalid(t, () => v.blockTag(5, 0), 'invalid argument 0: expected a block number or tag (latest, earliest, pending, safe, finalized), got number')
  invalid(t, () => v.blockTag('0x' + 'f'.repeat(17), 0), 'invalid argument 0: hex number > 64 bits')
  invalid(t, () => v.blockTag({ blockHash: H, blockNumber: '0x1' }, 1), 'invalid argument 1: cannot specify both blockHash and blockNumber, choose one or the other')
  invalid(t, () => v.blockTag({}, 1), 'invalid argument 1: either blockHash or blockNumber must be specified')
  invalid(t, () => v.blockTag({ blockHash: '0x12' }, 1), 'invalid argument 1: field blockHash: hex string has length 2, want 64 for common.Hash')
  invalid(t, () => v.blockTag({ blockHash: H, requireCanonical: 'yes' }, 1), 'invalid argument 1: field requireCanonical: expected true or false, got string')
})

t.test('callObject', async (t) => {
  const o = v.callObject({ from: A, to: A, gas: '0x5208', value: '0x1', input: '0x1234', nonce: '0x3', accessList: [{ address: A, storageKeys: [H] }], unknownField: 1 }, 0)
  t.same(o.from, v.address(A))
  t.equal(o.gas, 21000n)
  t.equal(o.value, 1n)
  t.equal(o.nonce, 3n)
  t.same(o.data, new Uint8Array([0x12, 0x34]))
  t.equal(o.accessList?.[0]?.storageKeys.length, 1)
  t.same(v.callObject({ data: '0xab' }, 0).data, new Uint8Array([0xab]), 'data accepted')
  t.same(v.callObject({ data: '0xab', input: '0xab' }, 0).data, new Uint8Array([0xab]), 'equal data and input accepted')
  t.same(v.callObject({ to: null, gasPrice: null }, 0), {}, 'nulls are absent')
  const fee = v.callObject({ maxFeePerGas: '0x10', maxPriorityFeePerGas: '0x1' }, 0)
  t.equal(fee.maxFeePerGas, 16n)
  t.equal(fee.maxPriorityFeePerGas, 1n)

  invalid(t, () => v.callObject('0x', 0), 'invalid argument 0: expected a transaction call object, got string')
  invalid(t, () => v.callObject({ data: '0xab', input: '0xcd' }, 0), 'invalid argument 0: both "data" and "input" are set and not equal. Please use "input" to pass transaction call data')
  invalid(t, () => v.callObject({ gas: 21000 }, 0), 'invalid argument 0: field gas: expected a quantity as a 0x-prefixed hex string, got number')
  invalid(t, () => v.callObject({ to: '0x12' }, 0), 'invalid argument 0: field to: hex string has length 2, want 40 for common.Address')
  invalid(t, () => v.callObject({ gasPrice: '0x1', maxFeePerGas: '0x1' }, 0), 'invalid argument 0: both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified')
  invalid(t, () => v.callObject({ maxFeePerGas: '0x1', maxPriorityFeePerGas: '0x2' }, 0), 'invalid argument 0: maxFeePerGas (1) < maxPriorityFeePerGas (2)')
  invalid(t, () => v.callObject({ accessList: {} }, 0), 'invalid argument 0: field accessList: expected an array of {address, storageKeys}, got object')
  invalid(t, () => v.callObject({ accessList: [{ address: A, storageKeys: ['0x1'] }] }, 0), 'invalid argument 0: field accessList[0].storageKeys[0]: hex string has length 1, want 64 for common.Hash')
  invalid(t, () => v.callObject({ accessList: [1] }, 0), 'invalid argument 0: field accessList[0]: expected {address, storageKeys}, got number')
  invalid(t, () => v.callObject({ accessList: [{ address: A, storageKeys: 'x' }] }, 0), 'invalid argument 0: field accessList[0].storageKeys: expected an array of 32-byte hashes, got string')
})

t.test('filterObject', async (t) => {
  const f = v.filterObject({ fromBlock: '0x1', toBlock: 'latest', address: A, topics: [H, null, [H, H], [H, null]] }, 0)
  t.same(f.fromBlock, { kind: 'number', n: 1n })
  t.same(f.toBlock, { kind: 'tag', tag: 'latest' })
  t.equal(f.addresses.length, 1)
  t.equal(f.topics.length, 4)
  t.equal(f.topics[0]?.length, 1)
  t.equal(f.topics[1], null)
  t.equal(f.topics[2]?.length, 2)
  t.equal(f.topics[3], null, 'a null inside an OR-list makes the position a wildcard')
  t.equal(v.filterObject({ topics: [[]] }, 0).topics[0], null, 'an empty OR-list is a wildcard')
  t.equal(v.filterObject({ address: [A, A] }, 0).addresses.length, 2)
  const byHash = v.filterObject({ blockHash: H }, 0)
  t.equal(byHash.blockHash?.length, 32)
  t.same(v.filterObject({}, 0), { addresses: [], topics: [] })

  invalid(t, () => v.filterObject({ blockHash: H, fromBlock: '0x1' }, 0), 'invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other')
  invalid(t, () => v.filterObject({ topics: [H, H, H, H, H] }, 0), 'invalid argument 0: field topics: exceed max topics (4)')
  invalid(t, () => v.filterObject({ topics: H }, 0), 'invalid argument 0: field topics: expected an array, got string')
  invalid(t, () => v.filterObject({ topics: ['0x12'] }, 0), 'invalid argument 0: field topics[0]: hex string has length 2, want 64 for common.Hash')
  invalid(t, () => v.filterObject({ topics: [[H, '0x1']] }, 0), 'invalid argument 0: field topics[0][1]: hex string has length 1, want 64 for common.Hash')
  invalid(t, () => v.filterObject({ address: ['0x12'] }, 0), 'invalid argument 0: field address[0]: hex string has length 2, want 40 for common.Address')
  invalid(t, () => v.filterObject({ address: Array(1001).fill(A) }, 0), 'invalid argument 0: field address: exceed max addresses (1000)')
  invalid(t, () => v.filterObject({ fromBlock: 7 }, 0), 'invalid argument 0: field fromBlock: expected a block number or tag (latest, earliest, pending, safe, finalized), got number')
  invalid(t, () => v.filterObject([], 0), 'invalid argument 0: expected a filter object, got array')
})

t.test('filterId and percentiles', async (t) => {
  t.equal(v.filterId('0xABC', 0), '0xabc')
  invalid(t, () => v.filterId(1, 0), 'invalid argument 0: expected a filter id string, got number')
  invalid(t, () => v.filterId('abc', 0), 'invalid argument 0: expected a 0x-prefixed hex filter id')
  t.same(v.percentiles([10, 50, 50, 90], 2), [10, 50, 50, 90])
  invalid(t, () => v.percentiles('x', 2), 'invalid argument 2: expected an array of percentiles, got string')
  invalid(t, () => v.percentiles([101], 2), 'invalid argument 2: invalid reward percentile #0: 101')
  invalid(t, () => v.percentiles([50, 10], 2), 'invalid argument 2: invalid reward percentile: #0:50 > #1:10')
  invalid(t, () => v.percentiles(Array(101).fill(1), 2), 'invalid argument 2: too many percentiles, want at most 100')
})
