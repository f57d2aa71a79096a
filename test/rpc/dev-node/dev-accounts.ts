import { createCustomCommon, Mainnet } from '@ethereumjs/common'
import type { Test } from 'tap'
import { createPublicClient, createWalletClient, http, recoverMessageAddress, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createDevAccountMethods } from '../../../node/rpc/index.ts'
import { rpc, rpcRaw, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * The dev chain's unlocked accounts (eth_accounts, eth_sendTransaction, eth_sign, personal_sign)
 * against a real dev node, through viem's wallet client as a developer's script would; the
 * refusals: an address that is not a dev account, any account on a node without --dev, and a
 * hostile web page that tries to make the node sign. On the shared main node
 * (test/rpc/dev-node.test.ts): dev accounts 8 and 9 send here and nowhere else.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const dev = Array.from({ length: 10 }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }))
const SINK = '0x00000000000000000000000000000000000000f3' as const
const STRANGER = '0x00000000000000000000000000000000000000a1' as const

// No token: a tool that knows nothing of the node's JWT secret.
const open = { auth: false } as const

interface TxJson {
  from: Hex
  nonce: Hex
  gas: Hex
  type: Hex
  maxFeePerGas?: Hex
  maxPriorityFeePerGas?: Hex
  gasPrice: Hex
}

export default function devAccounts(t: Test, node: NodeProcess): void {
  const url = node.url
  const client = createPublicClient({ transport: http(url) })

  t.test('eth_accounts: the ten dev mnemonic accounts', async (t) => {
    t.same(await rpc(url, 'eth_accounts', [], open), dev.map((a) => a.address.toLowerCase()))
  })

  t.test('eth_sendTransaction from a dev account, fields filled as geth fills them, through viem', async (t) => {
    const wallet = createWalletClient({ account: dev[8]!.address, transport: http(url) })
    const chain = { id: 1337, name: 'dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [url] } } } as const
    const nonce = await client.getTransactionCount({ address: dev[8]!.address, blockTag: 'pending' })
    const base = (await client.getBlock()).baseFeePerGas!
    const [h1, h2] = [await wallet.sendTransaction({ chain, to: SINK, value: 7n }), await wallet.sendTransaction({ chain, to: SINK, value: 8n })]
    const [r1, r2] = await Promise.all([h1, h2].map((hash) => client.waitForTransactionReceipt({ hash, pollingInterval: 200 })))
    t.equal(r1!.status, 'success')
    t.equal(r2!.status, 'success')
    const [t1, t2] = await Promise.all([h1, h2].map((h) => rpc<TxJson>(url, 'eth_getTransactionByHash', [h])))
    t.equal(t1!.from, dev[8]!.address.toLowerCase(), 'signed by the dev account')
    t.same([Number(t1!.nonce), Number(t2!.nonce)], [nonce, nonce + 1], "nonces from the pool's pending count, back to back")
    t.equal(t1!.gas, '0x5208', 'gas by estimate: 21,000 for a transfer')
    t.equal(t1!.type, '0x2', 'a fee-market transaction')
    t.equal(BigInt(t1!.maxPriorityFeePerGas!), BigInt(await rpc<Hex>(url, 'eth_maxPriorityFeePerGas', [])), 'tip: the suggested one')
    t.ok(BigInt(t1!.maxFeePerGas!) >= BigInt(t1!.maxPriorityFeePerGas!) + base, 'fee cap: tip + 2 x base fee (>= tip + base fee)')
    t.equal(await client.getBalance({ address: SINK }), 15n, 'both values arrived')

    const legacy = await rpc<Hex>(url, 'eth_sendTransaction', [{ from: dev[8]!.address, to: SINK, value: '0x1', gasPrice: '0x3b9aca00' }], open)
    await client.waitForTransactionReceipt({ hash: legacy, pollingInterval: 200 })
    const lt = await rpc<TxJson>(url, 'eth_getTransactionByHash', [legacy])
    t.same([lt.type, lt.gasPrice], ['0x0', '0x3b9aca00'], 'gasPrice given: a legacy transaction at that price')
  })

  t.test('eth_sign and personal_sign: EIP-191 signatures a wallet library recovers, identical to a local signer', async (t) => {
    const message = 'hello medrec'
    const data = `0x${Buffer.from(message).toString('hex')}` as Hex
    const sig = await rpc<Hex>(url, 'eth_sign', [dev[2]!.address, data], open)
    t.equal(await recoverMessageAddress({ message, signature: sig }), dev[2]!.address, 'recovers to the account')
    t.equal(sig, await dev[2]!.signMessage({ message }), 'same bytes as viem signing locally (RFC 6979, v = 27/28)')
    t.equal(await rpc<Hex>(url, 'personal_sign', [data, dev[2]!.address], open), sig, 'personal_sign: parameters swapped, same signature')
    const wallet = createWalletClient({ account: dev[3]!.address, transport: http(url) })
    const viaWallet = await wallet.signMessage({ account: dev[3]!.address, message })
    t.equal(await recoverMessageAddress({ message, signature: viaWallet }), dev[3]!.address, "viem's wallet client (personal_sign over JSON-RPC)")
  })

  t.test('an address that is not a dev account: "unknown account", nothing sent', async (t) => {
    for (const [method, params] of [
      ['eth_sendTransaction', [{ from: STRANGER, to: SINK, value: '0x1' }]],
      ['eth_sendTransaction', [{ to: SINK, value: '0x1' }]],
      ['eth_sign', [STRANGER, '0x00']],
      ['personal_sign', ['0x00', STRANGER]],
    ] as const) {
      const r = await rpcRaw(url, method, [...params], open)
      t.same(r.error, { code: -32000, message: 'unknown account' }, `${method} ${JSON.stringify(params)}`)
    }
    const wrongChain = await rpcRaw(url, 'eth_sendTransaction', [{ from: dev[8]!.address, to: SINK, chainId: '0x1' }], open)
    t.match(wrongChain.error?.message, /chainId does not match node's \(have=1, want=1337\)/)
  })

  t.test('a hostile web page cannot make the node sign', async (t) => {
    const victim = dev[9]!.address
    const before = await rpc<Hex>(url, 'eth_getTransactionCount', [victim, 'pending'])
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendTransaction', params: [{ from: victim, to: SINK, value: '0x1' }] })
    // A form or fetch(no-cors) POST: text/plain is all a page can send without a preflight.
    const simple = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain', origin: 'https://evil.example' }, body })
    t.equal(simple.status, 415, 'a "simple" cross-site POST is refused unread')
    // A JSON POST from a page needs a preflight, which an origin outside --rpc.corsdomain fails.
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
    t.equal(preflight.status, 403, 'the preflight is refused')
    // DNS rebinding: the page's own name resolved to 127.0.0.1 still sends its Host.
    const u = new URL(url)
    const { request } = await import('node:http')
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/', headers: { host: 'evil.example', 'content-type': 'application/json' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end(body)
    })
    t.equal(rebound, 403, 'a rebound Host is refused')
    // Nothing was signed: the account's pending nonce did not move (the node answers this read only after the attempts above).
    t.equal(await rpc<Hex>(url, 'eth_getTransactionCount', [victim, 'pending']), before, 'no transaction from the victim account')
    await waitFor(async () => ((await client.getBlockNumber()) > 0n ? true : undefined), 'a block')
    t.equal(await rpc<Hex>(url, 'eth_getTransactionCount', [victim, 'latest']), before, 'none mined either')
  })

  t.test('a node without --dev has no unlocked account', async (t) => {
    // What node.ts wires for a node without --dev: no keys.
    const methods = createDevAccountMethods({ keys: [], common: createCustomCommon({ chainId: 1337 }, Mainnet), table: {} })
    t.same(await methods.eth_accounts!([], { transport: 'http' }), [])
    for (const [method, params] of [
      ['eth_sendTransaction', [{ from: dev[0]!.address, to: SINK }]],
      ['eth_sign', [dev[0]!.address, '0x00']],
      ['personal_sign', ['0x00', dev[0]!.address]],
    ] as const) {
      await t.rejects(async () => methods[method]!([...params], { transport: 'http' }), { message: 'unknown account' }, `${method}: even a dev mnemonic address is unknown`)
    }
  })
}
