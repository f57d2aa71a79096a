import type { Test } from 'tap'
import { createPublicClient, http, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { WebSocket } from 'ws'
import type { AuthorizationJson } from '../../../node/rpc/format.ts'
import { createSubscriptionHub, type SyncStatus, type WsConnection } from '../../../node/rpc/index.ts'
import { rpc, waitFor, type NodeProcess } from '../../helpers/node-process.ts'

/**
 * geth's subscription shapes and EIP-7702 transaction objects against a real dev node: an
 * EIP-7702 transaction's authorizationList in eth_getTransactionByHash (pending and mined), in
 * blocks with full transactions and in `newPendingTransactions` with `true`; the `syncing`
 * subscription through the hub the node runs, with the progress it is given. On the shared main
 * node (test/rpc/dev-node.test.ts): dev accounts 6 and 7 are this file's.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const sender = mnemonicToAccount(MNEMONIC, { addressIndex: 6 })
const authority = mnemonicToAccount(MNEMONIC, { addressIndex: 7 })
const GWEI = 1_000_000_000n
const DELEGATE = '0x00000000000000000000000000000000000000d7' as const

interface TxJson {
  hash: Hex
  type: Hex
  blockHash: Hex | null
  authorizationList?: AuthorizationJson[]
}

/** A WebSocket JSON-RPC client that keeps every message. */
async function wsClient(url: string): Promise<{ request(method: string, params: unknown[]): Promise<unknown>; next(sub: string): Promise<unknown>; close(): void }> {
  const ws = new WebSocket(url)
  const messages: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  ws.on('message', (d) => {
    messages.push(JSON.parse(d.toString()) as Record<string, unknown>)
    for (const w of waiters.splice(0)) w()
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  let id = 0
  async function take(pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    return waitFor(async () => {
      const i = messages.findIndex(pred)
      if (i >= 0) return messages.splice(i, 1)[0]
      // Woken by the next message, or after a while so that waitFor's deadline is checked.
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 200).unref()
      })
      return undefined
    }, 'a WebSocket message')
  }
  return {
    async request(method, params) {
      const mine = ++id
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: mine, method, params }))
      const m = await take((x) => x.id === mine)
      if (m.error !== undefined) throw new Error(`${method}: ${JSON.stringify(m.error)}`)
      return m.result
    },
    async next(sub) {
      const m = await take((x) => x.method === 'eth_subscription' && (x.params as { subscription: string }).subscription === sub)
      return (m.params as { result: unknown }).result
    },
    close: () => ws.terminate(),
  }
}

export default function subscriptionsGeth(t: Test, node: NodeProcess): void {
  t.test('an EIP-7702 transaction: authorizationList in geth shape, pending and mined, and in full pending notifications', async (t) => {
    const client = createPublicClient({ transport: http(node.url) })
    const ws = await wsClient(node.wsUrl)
    t.teardown(() => ws.close())
    const full = (await ws.request('eth_subscribe', ['newPendingTransactions', true])) as string
    const hashes = (await ws.request('eth_subscribe', ['newPendingTransactions'])) as string
    const syncing = (await ws.request('eth_subscribe', ['syncing'])) as string
    t.match(syncing, /^0x[0-9a-f]+$/, 'the syncing subscription exists')

    const authNonce = await client.getTransactionCount({ address: authority.address })
    const auth = await authority.signAuthorization!({ chainId: 1337, address: DELEGATE, nonce: authNonce })
    const raw = await sender.signTransaction({
      type: 'eip7702',
      chainId: 1337,
      nonce: await client.getTransactionCount({ address: sender.address, blockTag: 'pending' }),
      to: authority.address,
      gas: 100_000n,
      maxFeePerGas: 10n * GWEI,
      maxPriorityFeePerGas: GWEI,
      authorizationList: [auth],
    })
    const hash = await rpc<Hex>(node.url, 'eth_sendRawTransaction', [raw])
    const expected: AuthorizationJson = {
      chainId: '0x539',
      address: DELEGATE,
      nonce: `0x${authNonce.toString(16)}`,
      yParity: `0x${auth.yParity!.toString(16)}`,
      r: `0x${BigInt(auth.r).toString(16)}`,
      s: `0x${BigInt(auth.s).toString(16)}`,
    }

    t.equal(await ws.next(hashes), hash, 'without the flag: the hash')
    const note = (await ws.next(full)) as TxJson
    t.equal(note.hash, hash, 'with true: the whole transaction')
    t.equal(note.blockHash, null, 'pending: no block yet')
    t.same(note.authorizationList, [expected], 'its authorization list, every number a quantity')

    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 200 })
    t.equal(receipt.status, 'success')
    const mined = await rpc<TxJson>(node.url, 'eth_getTransactionByHash', [hash])
    t.equal(mined.type, '0x4')
    t.same(mined.authorizationList, [expected], 'eth_getTransactionByHash (mined)')
    const block = await rpc<{ transactions: TxJson[] }>(node.url, 'eth_getBlockByHash', [receipt.blockHash, true])
    t.same(block.transactions.find((x) => x.hash === hash)?.authorizationList, [expected], 'blocks with full transactions')
    const viaViem = await client.getTransaction({ hash })
    t.same(viaViem.authorizationList?.map((a) => ({ address: a.address.toLowerCase(), chainId: a.chainId, nonce: a.nonce })), [{ address: DELEGATE, chainId: 1337, nonce: authNonce }], 'viem parses it')
    t.equal(await client.getCode({ address: authority.address }), `0xef0100${DELEGATE.slice(2)}`, 'the delegation took effect')
  })

}

/** A WsConnection recording frames, to drive the hub the node runs. */
function recorder(): WsConnection & { frames: unknown[] } {
  const c = {
    id: 1,
    closed: false,
    frames: [] as unknown[],
    send(text: string) {
      c.frames.push((JSON.parse(text) as { params?: { result: unknown } }).params?.result)
      return true
    },
    onClose() {},
    close() {
      c.closed = true
    },
  }
  return c
}

export function syncingHub(t: Test): void {
  t.test('syncing: announced when a sync starts, false when it ends', async (t) => {
    let progress: SyncStatus | false = false
    const hub = createSubscriptionHub({ syncing: () => progress, syncPollMs: 10 })
    const conn = recorder()
    t.teardown(() => conn.close())
    hub.subscribe(conn, ['syncing']).activate()
    progress = { startingBlock: 5n, currentBlock: 9n, highestBlock: 100n }
    await waitFor(async () => (conn.frames.length >= 1 ? true : undefined), 'the start')
    t.same(conn.frames[0], { syncing: true, status: { startingBlock: 5, currentBlock: 9, highestBlock: 100, pulledStates: 0, knownStates: 0 } }, "geth's shape")
    progress = false
    await waitFor(async () => (conn.frames.length >= 2 ? true : undefined), 'the end')
    t.equal(conn.frames[1], false, 'false once caught up')
    // A subscriber that arrives while a sync runs hears it at once.
    progress = { startingBlock: 0n, currentBlock: 1n, highestBlock: 2n }
    const late = recorder()
    hub.subscribe(late, ['syncing']).activate()
    t.same(late.frames, [{ syncing: true, status: { startingBlock: 0, currentBlock: 1, highestBlock: 2, pulledStates: 0, knownStates: 0 } }])
    late.close()
  })
}
