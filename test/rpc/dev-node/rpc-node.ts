import type { Test } from 'tap'
import { Wallet } from 'ethers'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

const KEY0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
const QUANTITY = /^0x(0|[1-9a-f][0-9a-f]*)$/
const DATA = /^0x([0-9a-f]{2})*$/
const HASH = /^0x[0-9a-f]{64}$/

/**
 * The JSON-RPC server of a real node: bad input, the specification's shapes, the pool's refusals
 * with their reasons, and a burst of one sender's nonces. On test/rpc/dev-node.test.ts's node with
 * --rpc.evmtimeout 2s (no eth_call here): dev accounts 0 and 2 send here and nowhere else on it.
 */
export default function rpcNode(t: Test, node: NodeProcess): void {
  async function post(body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
    const res = await fetch(node.url, { method: 'POST', headers, body })
    const text = await res.text()
    return { status: res.status, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) }
  }

  async function stillServing(t: Test) {
    t.match(await rpc(node.url, 'eth_chainId'), '0x539', 'node still answers')
  }

  t.test('bad input gets a JSON-RPC error and the node keeps serving', async (t) => {
    const parse = await post('{"jsonrpc":"2.0","id":1,"method":')
    t.same((parse.json as { error: { code: number } }).error.code, -32700)
    t.equal((parse.json as { id: unknown }).id, null)
    await stillServing(t)

    const notObject = await post('42')
    t.equal((notObject.json as { error: { code: number } }).error.code, -32600)
    const noMethod = await post('{"jsonrpc":"2.0","id":2}')
    t.equal((noMethod.json as { error: { code: number } }).error.code, -32600)
    const unknown = await rpcRaw(node.url, 'eth_doesNotExist', [])
    t.equal(unknown.error?.code, -32601)
    t.match(unknown.error?.message, /does not exist/)

    const wrongType = await rpcRaw(node.url, 'eth_getBalance', [12, 'latest'])
    t.equal(wrongType.error?.code, -32602)
    const badHex = await rpcRaw(node.url, 'eth_getBlockByNumber', ['0xzz', false])
    t.equal(badHex.error?.code, -32602)
    const tooMany = await rpcRaw(node.url, 'eth_blockNumber', [1, 2, 3])
    t.equal(tooMany.error?.code, -32602)

    const big = await post(Buffer.alloc(6 * 1024 * 1024, 0x20))
    t.equal(big.status, 413, 'oversized body refused')
    await stillServing(t)

    for (const garbage of ['0x', '0xdeadbeef', '0x' + 'ff'.repeat(200), '0x02f8', 'not hex']) {
      const r = await rpcRaw(node.url, 'eth_sendRawTransaction', [garbage])
      t.ok(r.error !== undefined, `garbage raw tx ${garbage.slice(0, 12)} refused`)
      t.ok(r.error!.code === -32000 || r.error!.code === -32602, `with a JSON-RPC error code (${r.error!.code}: ${r.error!.message})`)
    }
    await stillServing(t)

    // Batches: mixed good and bad entries are answered one by one.
    const batch = await post(JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'nope', params: [] },
      { jsonrpc: '2.0', method: 'eth_chainId', params: [] },
    ]))
    const answers = batch.json as Array<{ id: number; result?: string; error?: { code: number } }>
    t.equal(answers.length, 2, 'notification gets no answer')
    t.equal(answers.find((a) => a.id === 1)?.result, '0x539')
    t.equal(answers.find((a) => a.id === 2)?.error?.code, -32601)
    t.equal(((await post('[]')).json as { error: { code: number } }).error.code, -32600, 'empty batch is invalid')
  })

  t.test('shapes follow the Ethereum JSON-RPC specification', async (t) => {
    t.equal(await rpc(node.url, 'eth_chainId'), '0x539')
    t.equal(await rpc(node.url, 'net_version'), '1337')
    t.match(await rpc(node.url, 'web3_clientVersion'), /^medrec\/v/)
    t.match(await rpc(node.url, 'eth_blockNumber'), QUANTITY)
    t.match(await rpc(node.url, 'eth_gasPrice'), QUANTITY)
    t.equal(await rpc(node.url, 'eth_syncing'), false)
    t.equal(await rpc(node.url, 'eth_getBlockByNumber', ['0xffffff', false]), null, 'unknown block is null')
    t.equal(await rpc(node.url, 'eth_getTransactionByHash', ['0x' + '11'.repeat(32)]), null)
    t.equal(await rpc(node.url, 'eth_getTransactionReceipt', ['0x' + '11'.repeat(32)]), null)
    const stateBeyondHead = await rpcRaw(node.url, 'eth_getBalance', ['0x' + '11'.repeat(20), '0xffffff'])
    t.equal(stateBeyondHead.error?.code, -32000)
    t.match(stateBeyondHead.error?.message, /header not found/)
    t.equal(await rpc(node.url, 'eth_getBalance', ['0x' + '11'.repeat(20), 'latest']), '0x0', 'zero is 0x0')

    const wallet = new Wallet(KEY0)
    const nonce = await rpc<string>(node.url, 'eth_getTransactionCount', [wallet.address, 'pending'])
    const raw = await wallet.signTransaction({ to: '0x' + '22'.repeat(20), value: 5n, nonce: Number(nonce), gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 1337n, type: 2 })
    const hash = await rpc<string>(node.url, 'eth_sendRawTransaction', [raw])
    t.match(hash, HASH)
    const again = await rpcRaw(node.url, 'eth_sendRawTransaction', [raw])
    t.ok(again.error !== undefined && /already known|nonce too low/.test(again.error.message), 'resending is refused with a reason')
    const receipt = await waitFor(() => rpc<Record<string, unknown> | null>(node.url, 'eth_getTransactionReceipt', [hash]), 'receipt')
    for (const k of ['blockNumber', 'cumulativeGasUsed', 'gasUsed', 'effectiveGasPrice', 'transactionIndex', 'status', 'type']) t.match(receipt[k], QUANTITY, `receipt.${k}`)
    t.equal(receipt.status, '0x1')
    t.equal(receipt.type, '0x2')
    t.equal(receipt.contractAddress, null)
    t.equal(receipt.from, wallet.address.toLowerCase())
    t.match(receipt.logsBloom, DATA)
    const tx = await rpc<Record<string, unknown>>(node.url, 'eth_getTransactionByHash', [hash])
    t.equal(tx.hash, hash)
    t.equal(tx.value, '0x5')
    t.match(tx.blockHash, HASH)
    const block = await rpc<Record<string, unknown>>(node.url, 'eth_getBlockByHash', [receipt.blockHash, false])
    t.same(block.transactions, [hash])
    for (const k of ['number', 'gasLimit', 'gasUsed', 'timestamp', 'difficulty', 'totalDifficulty', 'size', 'baseFeePerGas']) t.match(block[k], QUANTITY, `block.${k}`)
    t.equal((block.extraData as string).length, 2 + 97 * 2, 'EIP-225 extraData: vanity + seal')
    t.equal(await rpc(node.url, 'eth_getBlockTransactionCountByHash', [receipt.blockHash]), '0x1')
    // geth's header-only reads: the block's fields less its body (transactions, uncles) and size.
    const header = await rpc<Record<string, unknown>>(node.url, 'eth_getHeaderByHash', [receipt.blockHash])
    const { transactions: _txs, uncles: _uncles, size: _size, totalDifficulty: _td, ...fields } = block
    t.same(header, fields, 'eth_getHeaderByHash: the block less its body')
    t.same(await rpc(node.url, 'eth_getHeaderByNumber', [block.number]), header, 'eth_getHeaderByNumber: the same header')
    t.equal(await rpc(node.url, 'eth_getHeaderByHash', ['0x' + '11'.repeat(32)]), null, 'an unknown hash: null')
    t.equal(await rpc(node.url, 'eth_getHeaderByNumber', ['0xffffffff']), null, 'a future number: null')
    const history = await rpc<{ baseFeePerGas: string[]; gasUsedRatio: number[]; reward: string[][] }>(node.url, 'eth_feeHistory', ['0x2', 'latest', [50]])
    t.equal(history.baseFeePerGas.length, history.gasUsedRatio.length + 1)
    t.equal(history.reward.length, history.gasUsedRatio.length)
    t.equal(await rpc(node.url, 'eth_getTransactionCount', [wallet.address, 'latest']), '0x' + (Number(nonce) + 1).toString(16))
  })

  t.test('mempool rejections reach the caller with their reason', async (t) => {
    const wallet = new Wallet(KEY0)
    const base = { to: '0x' + '22'.repeat(20), gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 1337n, type: 2 } as const
    const low = await rpcRaw(node.url, 'eth_sendRawTransaction', [await wallet.signTransaction({ ...base, nonce: 0 })])
    t.equal(low.error?.code, -32000)
    t.match(low.error?.message, /nonce too low/)
    const chain = await rpcRaw(node.url, 'eth_sendRawTransaction', [await wallet.signTransaction({ ...base, nonce: 99, chainId: 1n })])
    t.match(chain.error?.message, /chain id/)
    const poor = new Wallet('0x' + '42'.repeat(32))
    const funds = await rpcRaw(node.url, 'eth_sendRawTransaction', [await poor.signTransaction({ ...base, nonce: 0 })])
    t.match(funds.error?.message, /insufficient funds/)
    const intrinsic = await rpcRaw(node.url, 'eth_sendRawTransaction', [await wallet.signTransaction({ ...base, nonce: 50, gasLimit: 20000n })])
    t.match(intrinsic.error?.message, /intrinsic gas too low/)
    const huge = await rpcRaw(node.url, 'eth_sendRawTransaction', [await wallet.signTransaction({ ...base, nonce: 50, gasLimit: 10n ** 12n })])
    // The dev chain runs Osaka: geth refuses a transaction above EIP-7825's 2^24 gas first.
    t.match(huge.error?.message, /transaction gas limit too high \(cap: 16777216, tx: 1000000000000\)|exceeds block gas limit|insufficient funds/)
  })

  // Regression: a burst from one sender, in flight while blocks are being committed, must all
  // be included (a state read during a block's commit once failed and left a nonce gap).
  t.test('a concurrent burst of one sender\'s nonces is included completely', async (t) => {
    const wallet = new Wallet('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a')
    const start = Number(await rpc<string>(node.url, 'eth_getTransactionCount', [wallet.address, 'latest']))
    const raws = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        wallet.signTransaction({ to: '0x' + '44'.repeat(20), value: 1n, nonce: start + i, gasLimit: 21000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, chainId: 1337n, type: 2 }),
      ),
    )
    // Reverse order: every transaction but the last one sent waits for a gap to fill.
    const results = await Promise.all(raws.reverse().map((raw) => rpcRaw(node.url, 'eth_sendRawTransaction', [raw])))
    t.same(results.filter((r) => r.error !== undefined), [], 'no submission failed')
    await waitFor(async () => Number(await rpc<string>(node.url, 'eth_getTransactionCount', [wallet.address, 'latest'])) === start + 60, 'all 60 included')
    t.pass('all included')
  })
}
