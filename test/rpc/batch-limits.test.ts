import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { RpcConfig } from '../../node/config/index.ts'
import { DEFAULT_RPC, RpcError, createRpcServer, createSubscriptionHub, type RpcMethods } from '../../node/rpc/index.ts'

/**
 * --rpc.batch-request-limit and --rpc.batch-response-max-size on a real HTTP/WebSocket server,
 * answered as geth's rpc/handler.go answers them: a batch over the request limit is refused
 * whole with a batch of one -32600 "batch too large" carrying the first call's id; once a batch's
 * answers (result or error members) pass the size limit, its later calls are not run and are
 * each answered -32003 "response too large".
 */

let ran = 0
const methods: RpcMethods = {
  // A result of n bytes of JSON: a string of n - 2 characters plus its quotes.
  bytes: (p) => (ran++, 'x'.repeat(Number(p[0]) - 2)),
  count: () => ++ran,
  fail: () => {
    ran++
    throw RpcError.server('y'.repeat(200))
  },
}

const BASE: RpcConfig = { ...DEFAULT_RPC, addr: '127.0.0.1', port: 0, apis: ['bytes', 'count', 'fail'] }

async function start(t: Test, over: Partial<RpcConfig> = {}) {
  const server = createRpcServer({ ...BASE, ...over }, { methods, subscriptions: createSubscriptionHub() })
  const urls = await server.listen()
  t.teardown(() => server.close())
  return urls
}

interface Reply {
  jsonrpc: '2.0'
  id: unknown
  result?: unknown
  error?: { code: number; message: string }
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Reply | Reply[] | undefined }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as Reply | Reply[]) }
}

const req = (id: unknown, method: string, params: unknown[] = []) => ({ jsonrpc: '2.0', id, method, params })
const note = (method: string, params: unknown[] = []) => ({ jsonrpc: '2.0', method, params })

t.test("geth's defaults: 1000 requests, 25,000,000 bytes", async (t) => {
  t.equal(DEFAULT_RPC.batchRequestLimit, 1000)
  t.equal(DEFAULT_RPC.batchResponseMaxSize, 25_000_000)
  const { url } = await start(t)
  const full = await post(url, Array.from({ length: 1000 }, (_, i) => req(i, 'count')))
  t.equal(full.status, 200)
  t.equal((full.json as Reply[]).length, 1000, 'a batch of exactly 1000 is answered in full')
  t.ok((full.json as Reply[]).every((r, i) => r.id === i && typeof r.result === 'number'))
})

t.test('a batch over the request limit: none of it runs, one -32600 error in a batch, the first call\'s id', async (t) => {
  const { url } = await start(t)
  const before = ran
  // A notification first: the error carries the id of the first *call*, as geth.
  const batch = [note('count'), ...Array.from({ length: 1000 }, (_, i) => req(`c${i}`, 'count'))]
  const r = await post(url, batch)
  t.equal(r.status, 200, 'HTTP 200, as geth')
  t.same(r.json, [
    { jsonrpc: '2.0', id: 'c0', error: { code: -32600, message: "batch too large: 1001 requests, this node's limit is 1000 (--rpc.batch-request-limit); send smaller batches" } },
  ])
  t.equal(ran, before, 'not one call of the batch ran')

  const noCalls = await post(url, Array.from({ length: 1001 }, () => note('count')))
  t.same(noCalls.json, [{ jsonrpc: '2.0', id: null, error: { code: -32600, message: "batch too large: 1001 requests, this node's limit is 1000 (--rpc.batch-request-limit); send smaller batches" } }], 'no call in it: id null')
  t.equal(ran, before)

  const junk = await post(url, [5, 'x', ...Array.from({ length: 10 }, (_, i) => req(i + 1, 'count'))].concat(Array.from({ length: 990 }, () => 7)))
  t.same((junk.json as Reply[])[0]!.id, 1, 'invalid entries are skipped when looking for the first call')
})

t.test('--rpc.batch-request-limit N and 0 (no limit)', async (t) => {
  const small = await start(t, { batchRequestLimit: 3 })
  t.equal(((await post(small.url, [req(1, 'count'), req(2, 'count'), req(3, 'count')])).json as Reply[]).length, 3)
  t.match(await post(small.url, [req(1, 'count'), req(2, 'count'), req(3, 'count'), req(4, 'count')]), { json: [{ id: 1, error: { code: -32600, message: /^batch too large: 4 requests, this node's limit is 3/ } }] })
  const open = await start(t, { batchRequestLimit: 0 })
  const r = await post(open.url, Array.from({ length: 1500 }, (_, i) => req(i, 'count')))
  t.equal((r.json as Reply[]).length, 1500, 'limit 0: any size')
})

t.test('a batch whose answers pass the size limit: answers so far stand, the rest are -32003 and do not run', async (t) => {
  const { url } = await start(t, { batchResponseMaxSize: 100 })
  const before = ran
  const r = await post(url, [req(1, 'bytes', [60]), req(2, 'bytes', [40]), req(3, 'bytes', [2]), note('count'), req('four', 'count'), 9])
  const TOO_LARGE = { code: -32003, message: "response too large: this batch's answers passed 100 bytes (--rpc.batch-response-max-size), so this call was not run; send it again in a smaller batch" }
  t.same(r.json, [
    { jsonrpc: '2.0', id: 1, result: 'x'.repeat(58) },
    { jsonrpc: '2.0', id: 2, result: 'x'.repeat(38) },
    { jsonrpc: '2.0', id: 3, result: '' },
    { jsonrpc: '2.0', id: 'four', error: TOO_LARGE },
    { jsonrpc: '2.0', id: null, error: TOO_LARGE },
  ], 'exactly 100 bytes is within the limit; the call that passes it (102) is answered, the later calls get -32003, the notification nothing')
  t.equal(ran, before + 3, 'the calls after the limit did not run (nor the notification)')

  const errs = await post(url, [req(1, 'fail'), req(2, 'count')])
  t.match(errs.json, [{ id: 1, error: { code: -32000 } }, { id: 2, error: { code: -32003 } }], 'error members count towards the size too, as geth')

  const single = await post(url, req(1, 'bytes', [5000]))
  t.equal((single.json as Reply).result, 'x'.repeat(4998), 'a single request is not a batch: no size limit (geth)')

  const open = await start(t, { batchResponseMaxSize: 0 })
  const big = await post(open.url, [req(1, 'bytes', [200_000]), req(2, 'bytes', [200_000])])
  t.ok((big.json as Reply[]).every((x) => typeof x.result === 'string'), 'limit 0: no limit')
})

t.test('the same limits over WebSocket', async (t) => {
  const { wsUrl } = await start(t, { batchRequestLimit: 2, batchResponseMaxSize: 50 })
  const ws = new WebSocket(wsUrl)
  t.teardown(() => ws.terminate())
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const ask = (body: unknown) =>
    new Promise<Reply[]>((resolve) => {
      ws.once('message', (data: Buffer) => resolve(JSON.parse(data.toString('utf8')) as Reply[]))
      ws.send(JSON.stringify(body))
    })
  t.match(await ask([req(1, 'count'), req(2, 'count'), req(3, 'count')]), [{ id: 1, error: { code: -32600, message: /^batch too large/ } }])
  t.match(await ask([req(1, 'bytes', [60]), req(2, 'count')]), [{ id: 1, result: 'x'.repeat(58) }, { id: 2, error: { code: -32003 } }])
})
