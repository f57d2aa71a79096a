import type { Test } from 'tap'
import { createPublicClient, getAddress, http, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { getBlockReceipts, getLogs, getTransaction } from 'viem/actions'
import { DEFAULT_APIS, NAMESPACES, accessOf } from '../../../node/rpc/access.ts'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * geth's eth_getBlockReceipts, blockTimestamp (geth 1.16), txpool_* and batch limits, through a
 * real dev node's HTTP JSON-RPC, with viem where viem has the call. On the shared main node
 * (test/rpc/dev-node.test.ts), whose --rpc.batch-response-max-size is 100000: far below geth's
 * 25 MB default, reachable in a test. Dev accounts 1 and 2 are this file's.
 */

const KEYS: Hex[] = [
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
]
const [alice, bob] = KEYS.map((k) => privateKeyToAccount(k)) as [ReturnType<typeof privateKeyToAccount>, ReturnType<typeof privateKeyToAccount>]
const CHAIN_ID = 1337
const TOPIC = `0x${'ab'.repeat(32)}` as const
// Init code whose constructor emits LOG1(TOPIC) with no data and deploys nothing: PUSH32 TOPIC, PUSH1 0, PUSH1 0, LOG1.
const LOGGING_INIT = `0x7f${TOPIC.slice(2)}60006000a1` as const
const GWEI = 1_000_000_000n
const SINK = '0x00000000000000000000000000000000000000f1'

interface Receipt {
  transactionHash: Hex
  blockHash: Hex
  blockNumber: Hex
  logs: Array<{ blockTimestamp: Hex; logIndex: Hex; topics: Hex[] }>
  [k: string]: unknown
}
interface Block {
  number: Hex
  hash: Hex
  timestamp: Hex
  transactions: Array<{ hash: Hex; blockTimestamp: Hex | null }>
}

export default function gethMethods(t: Test, node: NodeProcess): void {
  const url = node.url
  const client = createPublicClient({ transport: http(url) })

  async function nonceOf(address: Hex): Promise<number> {
    return Number(await rpc<Hex>(url, 'eth_getTransactionCount', [address, 'pending']))
  }
  async function send(raw: Hex): Promise<Hex> {
    return rpc<Hex>(url, 'eth_sendRawTransaction', [raw])
  }
  async function receiptOf(hash: Hex): Promise<Receipt> {
    return waitFor(() => rpc<Receipt | null>(url, 'eth_getTransactionReceipt', [hash]), `receipt of ${hash}`)
  }
  async function rpcError(method: string, params: unknown[]): Promise<{ code: number; message: string }> {
    const r = await rpcRaw(url, method, params)
    if (r.error === undefined) throw new Error(`${method} ${JSON.stringify(params)} was answered ${JSON.stringify(r.result)}, expected an error`)
    return r.error
  }

  t.test('eth_getBlockReceipts: every receipt of the block, by number, tag or hash, as eth_getTransactionReceipt has them', async (t) => {
    const n = await nonceOf(alice.address)
    const hashes = [
      await send(await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: n, data: LOGGING_INIT, gas: 100_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })),
      await send(await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: n + 1, to: SINK, value: 5n, gas: 21_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })),
      await send(await bob.signTransaction({ type: 'legacy', chainId: CHAIN_ID, nonce: await nonceOf(bob.address), data: LOGGING_INIT, gas: 100_000n, gasPrice: 10n * GWEI })),
    ]
    const receipts = await Promise.all(hashes.map(receiptOf))
    const blockNumbers = [...new Set(receipts.map((r) => r.blockNumber))]
    for (const num of blockNumbers) {
      const block = await rpc<Block>(url, 'eth_getBlockByNumber', [num, true])
      const expected = await Promise.all(block.transactions.map((tx) => rpc<Receipt>(url, 'eth_getTransactionReceipt', [tx.hash])))
      t.same(await rpc(url, 'eth_getBlockReceipts', [num]), expected, `block ${num} by number: the receipts of its transactions, in order`)
      t.same(await rpc(url, 'eth_getBlockReceipts', [block.hash]), expected, 'by hash')
      t.same(await rpc(url, 'eth_getBlockReceipts', [{ blockHash: block.hash, requireCanonical: true }]), expected, 'by EIP-1898 hash object')
      t.same(await rpc(url, 'eth_getBlockReceipts', [{ blockNumber: num }]), expected, 'by EIP-1898 number object')
      const viemReceipts = await getBlockReceipts(client, { blockHash: block.hash })
      t.same(viemReceipts.map((r) => r.transactionHash), block.transactions.map((tx) => tx.hash), "viem's getBlockReceipts reads them")
    }
    t.same(await rpc(url, 'eth_getBlockReceipts', ['earliest']), [], 'genesis: no transactions, an empty array')
    t.ok(Array.isArray(await rpc(url, 'eth_getBlockReceipts', ['latest'])), 'latest: an array')
    t.equal(await rpc(url, 'eth_getBlockReceipts', ['0xffffffff']), null, 'beyond the head: null, as geth')

    // Hostile parameters: geth's codes.
    t.match(await rpcError('eth_getBlockReceipts', [`0x${'12'.repeat(32)}`]), { code: -32000, message: /header for hash 0x1212.* not found/ }, 'unknown hash: -32000')
    t.match(await rpcError('eth_getBlockReceipts', []), { code: -32602, message: /missing value for required argument 0/ })
    t.match(await rpcError('eth_getBlockReceipts', ['latest', true]), { code: -32602, message: /too many arguments/ })
    t.match(await rpcError('eth_getBlockReceipts', ['0xzz']), { code: -32602 })
    t.match(await rpcError('eth_getBlockReceipts', [{ blockHash: `0x${'00'.repeat(32)}`, blockNumber: '0x0' }]), { code: -32602, message: /cannot specify both blockHash and blockNumber/ })
    t.match(await rpcError('eth_getBlockReceipts', [{}]), { code: -32602 })
    t.match(await rpcError('eth_getBlockReceipts', [42]), { code: -32602 })
  })

  t.test('blockTimestamp: on mined transactions and on every log (receipts, eth_getLogs), null while pending; not on the receipt itself', async (t) => {
    const n = await nonceOf(alice.address)
    const hash = await send(await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: n, data: LOGGING_INIT, gas: 100_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI }))
    const receipt = await receiptOf(hash)
    const block = await rpc<Block>(url, 'eth_getBlockByNumber', [receipt.blockNumber, true])
    t.ok(Number(block.timestamp) > 0)

    const tx = await rpc<{ blockTimestamp: Hex }>(url, 'eth_getTransactionByHash', [hash])
    t.equal(tx.blockTimestamp, block.timestamp, 'eth_getTransactionByHash')
    t.ok(block.transactions.every((x) => x.blockTimestamp === block.timestamp), 'eth_getBlockByNumber with full transactions')
    const byIndex = await rpc<{ blockTimestamp: Hex }>(url, 'eth_getTransactionByBlockHashAndIndex', [block.hash, '0x0'])
    t.equal(byIndex.blockTimestamp, block.timestamp, 'eth_getTransactionByBlockHashAndIndex')

    t.equal(receipt.logs.length, 1)
    t.equal(receipt.logs[0]!.blockTimestamp, block.timestamp, "the receipt's log")
    t.notOk('blockTimestamp' in receipt, "geth 1.16 puts it on the receipt's logs, not on the receipt")
    const logs = await rpc<Array<{ blockTimestamp: Hex; transactionHash: Hex }>>(url, 'eth_getLogs', [{ fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber, topics: [TOPIC] }])
    t.same(logs.map((l) => [l.transactionHash, l.blockTimestamp]), [[hash, block.timestamp]], 'eth_getLogs')

    // viem reads the field (as a bigint) without being told about it.
    t.equal((await getTransaction(client, { hash })).blockTimestamp, BigInt(block.timestamp), "viem's getTransaction")
    const viemLogs = await getLogs(client, { fromBlock: BigInt(receipt.blockNumber), toBlock: BigInt(receipt.blockNumber) })
    t.equal(viemLogs[0]!.blockTimestamp, BigInt(block.timestamp), "viem's getLogs")
  })

  t.test("txpool_status, txpool_content(From), txpool_inspect: geth's shapes", async (t) => {
    t.equal(await rpc(url, 'miner_stop'), null, 'sealing stopped: what is sent now stays in the pool')
    t.teardown(() => rpc(url, 'miner_start'))
    // The node is shared: what other tests left in the pool (a gapped nonce, a fee cap below today's
    // base fee) is there before this test sends, and is expected as it was.
    type Content = { pending: Record<string, Record<string, unknown>>; queued: Record<string, Record<string, unknown>> }
    const before = { status: await rpc<{ pending: Hex; queued: Hex }>(url, 'txpool_status'), content: await rpc<Content>(url, 'txpool_content'), inspect: await rpc<{ pending: object; queued: object }>(url, 'txpool_inspect') }
    const plus = (q: Hex, n: number): string => `0x${(BigInt(q) + BigInt(n)).toString(16)}`
    const a = await nonceOf(alice.address)
    const b = await nonceOf(bob.address)
    const aliceTxs = {
      [a]: await send(await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: a, to: SINK, value: 1n, gas: 21_000n, maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: GWEI })),
      [a + 1]: await send(await alice.signTransaction({ type: 'legacy', chainId: CHAIN_ID, nonce: a + 1, data: '0x00', gas: 60_000n, gasPrice: 5n * GWEI })),
      // A nonce gap: queued, not executable.
      [a + 3]: await send(await alice.signTransaction({ type: 'eip1559', chainId: CHAIN_ID, nonce: a + 3, to: SINK, value: 3n, gas: 21_000n, maxFeePerGas: 7n * GWEI, maxPriorityFeePerGas: GWEI })),
    }
    const bobTx = await send(await bob.signTransaction({ type: 'eip2930', chainId: CHAIN_ID, nonce: b, to: SINK, value: 1000n, gas: 30_000n, gasPrice: 6n * GWEI, accessList: [] }))

    t.same(await rpc(url, 'txpool_status'), { pending: plus(before.status.pending, 3), queued: plus(before.status.queued, 1) }, 'hex counts')

    const A = getAddress(alice.address)
    const B = getAddress(bob.address)
    const content = await rpc<Content>(url, 'txpool_content')
    t.same(Object.keys(content).sort(), ['pending', 'queued'])
    t.same(Object.keys(content.pending).sort(), [...Object.keys(before.content.pending), A, B].sort(), 'pending by checksummed sender')
    t.same(Object.keys(content.pending[A]!), [String(a), String(a + 1)], 'then by decimal nonce')
    t.same(Object.keys(content.queued).sort(), [...Object.keys(before.content.queued), A].sort())
    t.same(Object.keys(content.queued[A]!), [String(a + 3)])
    for (const [nonce, hash] of Object.entries(aliceTxs)) {
      const where = Number(nonce) === a + 3 ? content.queued : content.pending
      t.same(where[A]![nonce], await rpc(url, 'eth_getTransactionByHash', [hash]), `nonce ${nonce}: the transaction as eth_getTransactionByHash has it`)
    }
    t.match(content.pending[B]![String(b)], { hash: bobTx, blockHash: null, blockNumber: null, blockTimestamp: null, transactionIndex: null, type: '0x1' })

    t.same(await rpc(url, 'txpool_contentFrom', [alice.address.toLowerCase()]), { pending: content.pending[A], queued: content.queued[A] }, 'txpool_contentFrom: one sender')
    t.same(await rpc(url, 'txpool_contentFrom', [SINK]), { pending: {}, queued: {} }, 'a sender with nothing in the pool')

    t.same(await rpc(url, 'txpool_inspect'), {
      pending: {
        ...before.inspect.pending,
        [A]: {
          [a]: `${getAddress(SINK)}: 1 wei + 21000 gas × 10000000000 wei`,
          [a + 1]: 'contract creation: 0 wei + 60000 gas × 5000000000 wei',
        },
        [B]: { [b]: `${getAddress(SINK)}: 1000 wei + 30000 gas × 6000000000 wei` },
      },
      queued: { ...before.inspect.queued, [A]: { [a + 3]: `${getAddress(SINK)}: 3 wei + 21000 gas × 7000000000 wei` } },
    }, "geth's \"TO: VALUE wei + GAS gas × PRICE wei\" lines (a fee-market transaction's price is its maxFeePerGas)")

    // Hostile parameters.
    t.match(await rpcError('txpool_status', [1]), { code: -32602, message: /too many arguments/ })
    t.match(await rpcError('txpool_content', ['x']), { code: -32602 })
    t.match(await rpcError('txpool_inspect', [{}]), { code: -32602 })
    t.match(await rpcError('txpool_contentFrom', []), { code: -32602 })
    t.match(await rpcError('txpool_contentFrom', ['0x1234']), { code: -32602 })

    t.equal(await rpc(url, 'miner_start'), null)
    const left = (from: Hex) => rpc<{ pending: object; queued: object }>(url, 'txpool_contentFrom', [from])
    await waitFor(async () => Object.keys((await left(alice.address)).pending).length + Object.keys((await left(bob.address)).pending).length === 0, 'the pending transactions to be mined')
    t.same(Object.keys((await left(alice.address)).queued), [String(a + 3)], 'the gapped one stays queued')
  })

  t.test('txpool is its own namespace, open (no token), not served unless --rpc.api lists it (as geth)', async (t) => {
    t.ok((NAMESPACES as readonly string[]).includes('txpool'))
    t.notOk(DEFAULT_APIS.includes('txpool'), "not in the default --rpc.api, as geth's http.api")
    for (const m of ['txpool_status', 'txpool_content', 'txpool_contentFrom', 'txpool_inspect']) t.same(accessOf(m, []), { namespace: 'txpool', protected: false }, m)
    // The shared pool's counts are whatever the tests before left there; the shape and the gapped transaction above are this file's.
    const open = await rpc<{ pending: Hex; queued: Hex }>(url, 'txpool_status', [], { auth: false })
    t.same(Object.keys(open).sort(), ['pending', 'queued'], 'no token needed')
    t.ok(/^0x[0-9a-f]+$/.test(open.pending) && BigInt(open.queued) >= 1n, 'hex counts, the gapped transaction among the queued')
  })

  t.test('batches: viem http({ batch: true }) with 1000 queued requests; 1001 refused as geth; the response size flag', async (t) => {
    const batching = createPublicClient({ transport: http(url, { batch: true }) })
    const addresses = Array.from({ length: 1000 }, (_, i) => `0x${'de'.repeat(18)}${i.toString(16).padStart(4, '0')}` as Hex)
    const balances = await Promise.all(addresses.map((address) => batching.getBalance({ address })))
    t.equal(balances.length, 1000)
    t.ok(balances.every((x) => x === 0n), 'every request of the 1000-request batch answered')

    const post = async (body: unknown) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return (await res.json()) as Array<{ id: unknown; result?: unknown; error?: { code: number; message: string } }>
    }
    const tooMany = await post(Array.from({ length: 1001 }, (_, i) => ({ jsonrpc: '2.0', id: i + 7, method: 'eth_chainId', params: [] })))
    t.match(tooMany, [{ id: 7, error: { code: -32600, message: /^batch too large: 1001 requests, this node's limit is 1000/ } }])
    t.equal(tooMany.length, 1)

    // Genesis with full transactions is a few hundred bytes: 1000 of them pass --rpc.batch-response-max-size 100000.
    const big = await post(Array.from({ length: 1000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_getBlockByNumber', params: ['0x0', true] })))
    t.equal(big.length, 1000, 'every call answered')
    const answered = big.filter((r) => r.result !== undefined)
    const sizes = answered.map((r) => Buffer.byteLength(JSON.stringify(r.result)))
    const total = sizes.reduce((x, y) => x + y, 0)
    t.ok(total > 100_000 && total - sizes[sizes.length - 1]! <= 100_000, `answers stop at the call that passes 100000 bytes (${answered.length} answered, ${total} bytes)`)
    t.ok(big.slice(answered.length).every((r) => r.error?.code === -32003 && /^response too large/.test(r.error.message)), 'the rest: -32003 response too large')
    t.same(big.map((r) => r.id), big.map((_, i) => i), 'in order, with their ids')
    t.equal(await rpc(url, 'eth_chainId'), '0x539', 'and the node serves on')
  })
}
