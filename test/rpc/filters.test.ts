import t, { type Test } from 'tap'
import { createBlock } from '@ethereumjs/block'
import { createLegacyTx } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { toData } from '../../common/hex.ts'
import { createChainCommon } from '../../evm/index.ts'
import type { BlockBundle, RawLog } from '../../node/chain/types.ts'
import { RpcError } from '../../node/rpc/errors.ts'
import { createFilterManager, matchLog, type LogFilter } from '../../node/rpc/filters.ts'
import type { LogJson } from '../../node/rpc/format.ts'
import { DEV_KEYS, addressOf } from '../helpers/chain.ts'

const common = createChainCommon({ chainId: 1337n, period: 0, epoch: 30000n })
const key = DEV_KEYS[1]!
const topic = (b: number) => new Uint8Array(32).fill(b)
const addr = (b: number) => new Uint8Array(20).fill(b)

/** A real block with one signed transaction per entry of `logsPerTx`, and its receipts. */
function bundle(number: bigint, logsPerTx: RawLog[][]): BlockBundle {
  const txs = logsPerTx.map((_, i) => createLegacyTx({ nonce: BigInt(i), gasLimit: 21000n, gasPrice: 10n, to: addr(0x11) }, { common }).sign(key))
  const block = createBlock({ header: { number, extraData: new Uint8Array(97), baseFeePerGas: 7n, gasLimit: 30_000_000n, timestamp: number, difficulty: 2n }, transactions: txs }, { common })
  return {
    block,
    receipts: logsPerTx.map((logs, i) => ({ status: 1, cumulativeGasUsed: 21000n * BigInt(i + 1), gasUsed: 21000n, logsBloom: new Uint8Array(256), logs, contractAddress: undefined, effectiveGasPrice: 10n })),
    senders: txs.map(() => new Address(addressOf(key))),
    totalDifficulty: number * 2n,
  }
}

function rejectsWith(t: Test, fn: () => unknown, rpcCode: number, message: string) {
  try {
    fn()
    t.fail(`expected ${message}`)
  } catch (err) {
    t.ok(err instanceof RpcError)
    t.equal((err as RpcError).rpcCode, rpcCode)
    t.equal((err as RpcError).message, message)
  }
}

function setup(opts: { maxPending?: number; maxFilters?: number } = {}) {
  let clock = 1_000_000
  let head = 5n
  const queries: LogFilter[] = []
  const fm = createFilterManager(
    {
      getLogs: async (f) => {
        queries.push(f)
        return [] as LogJson[]
      },
      headNumber: () => head,
    },
    { now: () => clock, ...opts },
  )
  return {
    fm,
    queries,
    advance: (ms: number) => void (clock += ms),
    setHead: (n: bigint) => void (head = n),
  }
}

const criteria = (c: Partial<LogFilter>): LogFilter => ({ fromBlock: 5n, toBlock: 5n, addresses: [], topics: [], ...c })

t.test('matchLog: addresses OR, topics positional with null wildcards and OR lists', async (t) => {
  const log: RawLog = [addr(0xaa), [topic(1), topic(2)], new Uint8Array()]
  const m = (f: Partial<Pick<LogFilter, 'addresses' | 'topics'>>) => matchLog(log, { addresses: [], topics: [], ...f })
  t.ok(m({}), 'empty filter matches everything')
  t.ok(m({ addresses: [addr(0xaa)] }))
  t.ok(m({ addresses: [addr(0xbb), addr(0xaa)] }), 'any listed address')
  t.notOk(m({ addresses: [addr(0xbb)] }))
  t.ok(m({ topics: [[topic(1)]] }))
  t.ok(m({ topics: [[topic(1)], [topic(2)]] }))
  t.notOk(m({ topics: [[topic(2)]] }), 'topics are positional')
  t.ok(m({ topics: [null, [topic(2)]] }), 'null is a wildcard')
  t.ok(m({ topics: [[topic(9), topic(1)]] }), 'a list is an OR')
  t.notOk(m({ topics: [[topic(9), topic(8)]] }))
  t.notOk(m({ topics: [null, null, null] }), 'more positions than the log has topics')
  t.notOk(m({ addresses: [addr(0xaa)], topics: [[topic(3)]] }), 'address and topics must both match')
})

t.test('block and pending transaction filters', async (t) => {
  const { fm } = setup()
  const blocks = fm.newBlockFilter()
  const pending = fm.newPendingTxFilter()
  t.match(blocks, /^0x[1-9a-f][0-9a-f]*$/, 'id is a hex quantity')
  t.not(blocks, pending)
  const b6 = bundle(6n, [])
  const b7 = bundle(7n, [])
  fm.onHead(b6)
  fm.onHead(b7)
  fm.onPendingTx(topic(0x42))
  t.same(fm.getFilterChanges(blocks), [toData(b6.block.hash()), toData(b7.block.hash())])
  t.same(fm.getFilterChanges(blocks), [], 'nothing twice')
  t.same(fm.getFilterChanges(pending), [toData(topic(0x42))])
  await t.rejects(fm.getFilterLogs(blocks), { message: 'filter not found' }, 'getFilterLogs only for log filters')
})

t.test('log filters collect matching logs of new heads', async (t) => {
  const { fm, queries, setHead } = setup()
  // fromBlock/toBlock "latest" arrive resolved to the head (5): the filter follows new heads.
  const latest = fm.newLogFilter(criteria({ addresses: [addr(0xaa)], topics: [[topic(1)]] }))
  // An explicit future range.
  const ranged = fm.newLogFilter(criteria({ fromBlock: 10n, toBlock: 11n }))
  const hit: RawLog = [addr(0xaa), [topic(1)], new Uint8Array([9])]
  const otherAddr: RawLog = [addr(0xbb), [topic(1)], new Uint8Array()]
  const otherTopic: RawLog = [addr(0xaa), [topic(2)], new Uint8Array()]

  const b6 = bundle(6n, [[otherAddr, hit], [otherTopic, hit]])
  fm.onHead(b6)
  const changes = fm.getFilterChanges(latest) as LogJson[]
  t.equal(changes.length, 2)
  t.same(changes.map((l) => l.logIndex), ['0x1', '0x3'], 'logIndex counts across the block')
  t.same(changes.map((l) => l.transactionIndex), ['0x0', '0x1'])
  t.equal(changes[0]!.blockHash, toData(b6.block.hash()))
  t.equal(changes[0]!.transactionHash, toData(b6.block.transactions[0]!.hash()))
  t.equal(changes[0]!.data, '0x09')
  t.same(fm.getFilterChanges(ranged), [], 'block 6 is outside 10..11')

  for (const n of [10n, 11n, 12n]) fm.onHead(bundle(n, [[hit]]))
  t.same((fm.getFilterChanges(ranged) as LogJson[]).map((l) => l.blockNumber), ['0xa', '0xb'], 'only blocks 10 and 11')
  t.equal((fm.getFilterChanges(latest) as LogJson[]).length, 3)

  setHead(12n)
  t.same(await fm.getFilterLogs(latest), [])
  t.equal(queries[0]!.toBlock, 12n, 'open-ended filter queries up to the current head')
  t.equal(queries[0]!.fromBlock, 5n)
  t.same(queries[0]!.addresses, [addr(0xaa)])
  await fm.getFilterLogs(ranged)
  t.equal(queries[1]!.toBlock, 11n, 'explicit bound kept')

  const byHash = fm.newLogFilter(criteria({ blockHash: b6.block.hash() }))
  fm.onHead(bundle(13n, [[hit]]))
  t.same(fm.getFilterChanges(byHash), [], 'a blockHash filter sees no new heads')
  await fm.getFilterLogs(byHash)
  t.same(queries[2]!.blockHash, b6.block.hash())
})

t.test('unknown ids and uninstall', async (t) => {
  const { fm } = setup()
  rejectsWith(t, () => fm.getFilterChanges('0x1234'), -32000, 'filter not found')
  await t.rejects(fm.getFilterLogs('0x1234'), { message: 'filter not found', rpcCode: -32000, code: 'RPC_SERVER' })
  const id = fm.newBlockFilter()
  t.equal(fm.size(), 1)
  t.equal(fm.uninstallFilter(id), true)
  t.equal(fm.uninstallFilter(id), false, 'second uninstall is false')
  rejectsWith(t, () => fm.getFilterChanges(id), -32000, 'filter not found')
  t.equal(fm.size(), 0)
})

t.test('filters expire after five minutes without polling', async (t) => {
  const { fm, advance } = setup()
  const polled = fm.newBlockFilter()
  const idle = fm.newPendingTxFilter()
  advance(4 * 60_000)
  t.same(fm.getFilterChanges(polled), [], 'polling resets the deadline')
  advance(60_000)
  rejectsWith(t, () => fm.getFilterChanges(idle), -32000, 'filter not found')
  t.same(fm.getFilterChanges(polled), [], 'the polled filter lives on')
  const third = fm.newBlockFilter()
  advance(5 * 60_000)
  t.equal(fm.prune(), 2, 'the sweep removes both expired filters')
  t.equal(fm.size(), 0)
  t.equal(fm.uninstallFilter(third), false)
})

t.test('limits: items between polls and number of filters', async (t) => {
  const { fm } = setup({ maxPending: 3, maxFilters: 2 })
  const pending = fm.newPendingTxFilter()
  fm.newBlockFilter()
  rejectsWith(t, () => fm.newBlockFilter(), -32005, 'too many filters installed (limit 2): uninstall unused filters with eth_uninstallFilter')
  for (let i = 0; i < 4; i++) fm.onPendingTx(topic(i))
  rejectsWith(
    t,
    () => fm.getFilterChanges(pending),
    -32005,
    'filter collected more than 3 items between polls and was removed: poll more often or narrow the filter, then install it again',
  )
  rejectsWith(t, () => fm.getFilterChanges(pending), -32000, 'filter not found')
  t.match(fm.newBlockFilter(), /^0x/, 'room again after the overflowing filter was removed')
  fm.close()
  t.equal(fm.size(), 0, 'close drops every filter')
})
