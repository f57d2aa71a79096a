import t, { type Test } from 'tap'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createBlock } from '@ethereumjs/block'
import { createLegacyTx } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { WebSocket } from 'ws'
import { Network, WebSocketProvider, type Log } from 'ethers'
import { setLogSink } from '../../common/logger.ts'
import { toData } from '../../common/hex.ts'
import { createChainCommon } from '../../evm/index.ts'
import type { BlockBundle, RawLog } from '../../node/chain/types.ts'
import type { RpcConfig } from '../../node/config/index.ts'
import { DEFAULT_RPC } from '../../node/rpc/index.ts'
import { RpcError } from '../../node/rpc/errors.ts'
import { revertReason, revertedError } from '../../node/rpc/revert.ts'
import { formatHeader } from '../../node/rpc/format.ts'
import { createRpcServer } from '../../node/rpc/server.ts'
import { createSubscriptionHub, type SubscriptionHub } from '../../node/rpc/subscriptions.ts'
import type { RpcMethods, RpcServerTuning, WsConnection } from '../../node/rpc/types.ts'
import * as v from '../../node/rpc/validate.ts'
import { DEV_KEYS, addressOf } from '../helpers/chain.ts'

// ---- fixtures ----

const common = createChainCommon({ chainId: 1337n, period: 0, epoch: 30000n })
const key = DEV_KEYS[2]!
const topic = (b: number) => new Uint8Array(32).fill(b)
const addr = (b: number) => new Uint8Array(20).fill(b)

function bundle(number: bigint, logsPerTx: RawLog[][]): BlockBundle {
  const txs = logsPerTx.map((_, i) => createLegacyTx({ nonce: BigInt(i), gasLimit: 21000n, gasPrice: 10n, to: addr(0x11) }, { common }).sign(key))
  const block = createBlock({ header: { number, extraData: new Uint8Array(97), baseFeePerGas: 7n, gasLimit: 30_000_000n, timestamp: number, difficulty: 2n }, transactions: txs }, { common })
  return {
    block,
    receipts: logsPerTx.map((logs) => ({ status: 1, cumulativeGasUsed: 21000n, gasUsed: 21000n, logsBloom: new Uint8Array(256), logs, contractAddress: undefined, effectiveGasPrice: 10n })),
    senders: txs.map(() => new Address(addressOf(key))),
    totalDifficulty: number,
  }
}

const logLines: string[] = []
setLogSink((line) => logLines.push(line))

let notified = 0
let slowGate = Promise.withResolvers<void>()
const methods: RpcMethods = {
  echo: (p) => p,
  add: (p) => {
    v.params(p, 2, 2)
    return toData(new Uint8Array([Number(v.quantity(p[0], 0) + v.quantity(p[1], 1))]))
  },
  nothing: () => undefined,
  notify: () => void notified++,
  boom: () => {
    throw new Error('kaboom')
  },
  asyncBoom: async () => {
    await sleep(1)
    throw new TypeError('async kaboom')
  },
  server: () => {
    throw RpcError.server('nonce too low')
  },
  revert: () => {
    throw revertedError(new Uint8Array([1, 2]))
  },
  // Finishes only when a test lets it: an answer that comes first came from the call timeout.
  slow: () => slowGate.promise.then(() => 'late'),
  raw: () => ({ n: 255n, b: new Uint8Array([1, 2]), buf: Buffer.from([3]), neg: -2n }),
  transport: (_p, ctx) => ctx.transport,
}

// The fixture methods have no namespace prefix: each is its own namespace, all enabled here (auth.test.ts tests --rpc.api).
const BASE: RpcConfig = { ...DEFAULT_RPC, addr: '127.0.0.1', port: 0, corsOrigins: [], maxRequestBytes: 64 * 1024, batchRequestLimit: 5, apis: [...Object.keys(methods), 'eth'] }

async function start(t: Test, over: Partial<RpcConfig & RpcServerTuning> = {}, hub: SubscriptionHub = createSubscriptionHub()) {
  const server = createRpcServer({ ...BASE, callTimeoutMs: 300, ...over }, { methods, subscriptions: hub })
  const urls = await server.listen()
  t.teardown(() => server.close())
  return { ...urls, hub, server }
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(url, { method: 'POST', headers, body })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: text === '' ? undefined : (JSON.parse(text) as unknown) }
}
async function call(url: string, method: string, params: unknown[] = [], id: unknown = 1) {
  return (await post(url, JSON.stringify({ jsonrpc: '2.0', id, method, params }))).json as { id: unknown; result?: unknown; error?: { code: number; message: string; data?: unknown } }
}

// ---- HTTP ----

t.test('single requests, ids and results', async (t) => {
  const { url } = await start(t)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const r = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'echo', params: [1, 'a'] }))
  t.equal(r.status, 200)
  t.equal(r.headers.get('content-type'), 'application/json')
  t.equal(r.headers.get('keep-alive'), 'timeout=120', 'idle connections are kept 120 s (geth), not Node\'s 5 s that races pooled clients')
  t.same(r.json, { jsonrpc: '2.0', id: 7, result: [1, 'a'] })
  t.same((await call(url, 'echo', [], 'abc')).id, 'abc', 'string id echoed')
  t.same(await call(url, 'echo', [], null), { jsonrpc: '2.0', id: null, result: [] }, 'null id is a request, not a notification')
  t.same((await post(url, '{"jsonrpc":"2.0","id":1,"method":"echo"}')).json, { jsonrpc: '2.0', id: 1, result: [] }, 'absent params are []')
  t.same((await call(url, 'nothing')).result, null, 'undefined result becomes null')
  t.equal((await call(url, 'add', ['0x1', '0x2'])).result, '0x03')
  t.equal((await call(url, 'transport')).result, 'http')
  t.same((await call(url, 'raw')).result, { n: '0xff', b: '0x0102', buf: '0x03', neg: '-0x2' }, 'stray bigint/bytes are hex-encoded')
})

t.test('notifications get no response', async (t) => {
  const { url } = await start(t)
  const before = notified
  const r = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'notify', params: [] }))
  t.equal(r.status, 200)
  t.equal(r.text, '', 'empty body')
  t.equal(notified, before + 1, 'but the call ran')
  const errNote = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'boom' }))
  t.equal(errNote.text, '', 'a failing notification is not answered either')
})

t.test('batches', async (t) => {
  const { url } = await start(t)
  const batch = await post(
    url,
    JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'echo', params: ['x'] },
      { jsonrpc: '2.0', method: 'notify' },
      { jsonrpc: '2.0', id: 2, method: 'missing' },
      { jsonrpc: '1.0', id: 3, method: 'echo' },
      5,
    ]),
  )
  t.same(batch.json, [
    { jsonrpc: '2.0', id: 1, result: ['x'] },
    { jsonrpc: '2.0', id: 2, error: { code: -32601, message: 'the method missing does not exist/is not available' } },
    { jsonrpc: '2.0', id: 3, error: { code: -32600, message: 'invalid request: jsonrpc must be "2.0"' } },
    { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request: expected a request object, got number' } },
  ], 'each item answered on its own, notifications skipped')

  const empty = await post(url, '[]')
  t.same(empty.json, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request: empty batch' } }, 'empty batch: one error')
  const allNotes = await post(url, JSON.stringify([{ jsonrpc: '2.0', method: 'notify' }, { jsonrpc: '2.0', method: 'notify' }]))
  t.equal(allNotes.status, 200)
  t.equal(allNotes.text, '', 'all-notification batch: empty body')
  const big = await post(url, JSON.stringify(Array.from({ length: 6 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'echo' }))))
  t.same(big.json, [{ jsonrpc: '2.0', id: 0, error: { code: -32600, message: "batch too large: 6 requests, this node's limit is 5 (--rpc.batch-request-limit); send smaller batches" } }], "geth's answer: a batch of one error with the first call's id")
})

t.test('malformed and invalid requests', async (t) => {
  const { url } = await start(t)
  const parse = (await post(url, '{"jsonrpc":"2.0","id":1,"method":')).json as { id: unknown; error: { code: number; message: string } }
  t.equal(parse.error.code, -32700)
  t.equal(parse.id, null)
  t.match(parse.error.message, /^parse error: /)
  const cases: Array<[string, string]> = [
    ['42', 'invalid request: expected a request object, got number'],
    ['null', 'invalid request: expected a request object, got null'],
    ['{"jsonrpc":"2.0","id":1}', 'invalid request: method must be a non-empty string'],
    ['{"jsonrpc":"2.0","id":1,"method":5}', 'invalid request: method must be a non-empty string'],
    ['{"id":1,"method":"echo"}', 'invalid request: jsonrpc must be "2.0"'],
    ['{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":1}}', 'invalid request: params must be an array (positional parameters)'],
    ['{"jsonrpc":"2.0","id":{},"method":"echo"}', 'invalid request: id must be a string, a number or null'],
  ]
  for (const [body, message] of cases) {
    const r = (await post(url, body)).json as { error: { code: number; message: string } }
    t.same(r.error, { code: -32600, message }, body)
  }
  const unknown = await call(url, 'eth_nope')
  t.same(unknown.error, { code: -32601, message: 'the method eth_nope does not exist/is not available' })
  for (const m of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) t.equal((await call(url, m)).error?.code, -32601, `${m} is not a method`)
  const wrongType = await call(url, 'add', [1, '0x2'])
  t.same(wrongType.error, { code: -32602, message: 'invalid argument 0: expected a quantity as a 0x-prefixed hex string, got number' })
  const arity = await call(url, 'add', ['0x1'])
  t.same(arity.error, { code: -32602, message: 'missing value for required argument 1' })
  t.same((await call(url, 'server')).error, { code: -32000, message: 'nonce too low' })
  t.same((await call(url, 'revert')).error, { code: 3, message: 'execution reverted', data: '0x0102' })
  t.same((await call(url, 'eth_subscribe', ['newHeads'])).error, { code: -32601, message: 'notifications not supported' }, 'no subscriptions over HTTP')
  t.same((await call(url, 'eth_unsubscribe', ['0x1'])).error, { code: -32601, message: 'notifications not supported' })
})

t.test('a throwing handler becomes -32603, is logged, and the server keeps serving', async (t) => {
  const { url } = await start(t)
  logLines.length = 0
  t.same((await call(url, 'boom')).error, { code: -32603, message: 'internal error: kaboom' })
  t.ok(logLines.some((l) => l.startsWith('ERROR') && l.includes('method=boom') && l.includes('kaboom')), 'logged with the method')
  t.same((await call(url, 'asyncBoom')).error, { code: -32603, message: 'internal error: async kaboom' })
  t.same((await call(url, 'echo', [1])).result, [1], 'next request is fine')
})

t.test('calls that run too long are answered with -32002', async (t) => {
  const { url } = await start(t)
  slowGate = Promise.withResolvers<void>()
  let finished = false
  // A fail-safe only: were the answer to wait for the handler, the test fails here instead of hanging.
  const failSafe = setTimeout(() => {
    finished = true
    slowGate.resolve()
  }, 30_000)
  t.teardown(() => clearTimeout(failSafe))
  t.same((await call(url, 'slow')).error, { code: -32002, message: 'request timed out' })
  t.notOk(finished, 'answered at the timeout while the handler is still running')
  slowGate.resolve()
})

t.test('oversized bodies are refused with 413 and the server keeps serving', async (t) => {
  const { url } = await start(t)
  const big = await post(url, Buffer.alloc(200 * 1024, 0x20))
  t.equal(big.status, 413)
  t.equal(big.headers.get('content-type'), 'application/json')
  t.same(big.json, { jsonrpc: '2.0', id: null, error: { code: -32005, message: 'request body too large: limit 65536 bytes' } })
  t.same((await call(url, 'echo', [1])).result, [1])

  // Without a Content-Length: buffering stops at the limit, the rest is discarded.
  const chunked = await streamPost(url, 10)
  t.equal(chunked.status, 413)
  t.match(chunked.body, /request body too large/)
  t.same((await call(url, 'echo', [2])).result, [2], 'still serving')

  // Far beyond the limit the connection is cut rather than drained.
  const absurd = await streamPost(url, 64).catch((err: Error) => ({ status: 0, body: err.message }))
  t.ok(absurd.status === 413 || absurd.status === 0, `refused (${absurd.status || absurd.body})`)
  t.same((await call(url, 'echo', [3])).result, [3], 'still serving')
  const declared = await post(url, Buffer.alloc(300 * 1024, 0x20)).catch(() => ({ status: 0 }))
  t.ok(declared.status === 413 || declared.status === 0, 'declared length far beyond the limit refused')
  t.same((await call(url, 'echo', [4])).result, [4], 'still serving')
})

/** POSTs `chunks` x 16 KiB with chunked encoding (no Content-Length). */
function streamPost(url: string, chunks: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    let sent = 0
    const write = () => {
      while (sent < chunks) {
        sent++
        if (!req.write(Buffer.alloc(16 * 1024, 0x20))) return void req.once('drain', write)
      }
      req.end()
    }
    write()
  })
}

t.test('paths and HTTP methods', async (t) => {
  const { url } = await start(t)
  const get = await fetch(url)
  t.equal(get.status, 405)
  t.match(await get.text(), /POST/)
  t.equal(get.headers.get('allow'), 'POST, OPTIONS')
  const put = await fetch(url, { method: 'PUT', body: '{}' })
  t.equal(put.status, 405)
  const nf = await fetch(url + '/foo', { method: 'POST', body: '{}' })
  t.equal(nf.status, 404)
  t.match(await nf.text(), /served at \//)
  t.same((await post(url + '/?x=1', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo' }))).json, { jsonrpc: '2.0', id: 1, result: [] }, 'a query string is fine')
})

t.test('CORS', async (t) => {
  const origin = 'https://app.example'
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo' })

  const off = await start(t)
  const r = await post(off.url, body, { 'content-type': 'application/json', origin })
  t.equal(r.status, 200)
  t.equal(r.headers.get('access-control-allow-origin'), null, 'CORS off: no header')
  const pre = await fetch(off.url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } })
  t.equal(pre.status, 403)
  t.equal(pre.headers.get('access-control-allow-origin'), null)
  t.equal(pre.headers.get('access-control-allow-methods'), null)
  t.match(await pre.text(), /--rpc\.corsdomain/)

  const on = await start(t, { corsOrigins: [origin] })
  const ok = await post(on.url, body, { 'content-type': 'application/json', origin })
  t.equal(ok.headers.get('access-control-allow-origin'), origin)
  t.equal(ok.headers.get('vary'), 'Origin')
  const other = await post(on.url, body, { 'content-type': 'application/json', origin: 'https://evil.example' })
  t.equal(other.headers.get('access-control-allow-origin'), null, 'unlisted origin: no header')
  const preOk = await fetch(on.url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
  t.equal(preOk.status, 204)
  t.equal(preOk.headers.get('access-control-allow-origin'), origin)
  t.match(preOk.headers.get('access-control-allow-methods'), /POST/)
  t.equal(preOk.headers.get('access-control-allow-headers'), 'content-type')

  const plain = await fetch(on.url, { method: 'OPTIONS' })
  t.equal(plain.status, 204, 'OPTIONS without Origin is not a preflight')
  t.equal(plain.headers.get('access-control-allow-origin'), null)

  const star = await start(t, { corsOrigins: ['*'] })
  t.equal((await post(star.url, body, { 'content-type': 'application/json', origin: 'https://any.example' })).headers.get('access-control-allow-origin'), '*')
  t.equal((await post(star.url, body)).headers.get('access-control-allow-origin'), null, 'no Origin, no CORS header')
})

// ---- WebSocket ----

interface Client {
  ws: WebSocket
  messages: unknown[]
  send(obj: unknown): void
  next(pred?: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  request(method: string, params?: unknown[]): Promise<Record<string, unknown>>
  closed: Promise<number>
}

let wsId = 1000
async function connect(t: Test, wsUrl: string, headers: Record<string, string> = {}): Promise<Client> {
  const ws = new WebSocket(wsUrl, { headers })
  const messages: unknown[] = []
  const waiters: Array<() => void> = []
  ws.on('message', (d) => {
    messages.push(JSON.parse(d.toString()))
    for (const w of waiters.splice(0)) w()
  })
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  t.teardown(() => ws.terminate())
  const client: Client = {
    ws,
    messages,
    closed,
    send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
    async next(pred = () => true, timeoutMs = 3000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const i = messages.findIndex((m) => pred(m as Record<string, unknown>))
        if (i >= 0) return messages.splice(i, 1)[0] as Record<string, unknown>
        if (Date.now() > end) throw new Error('no matching WebSocket message')
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 50)
        })
      }
    },
    async request(method, params = []) {
      const id = ++wsId
      client.send({ jsonrpc: '2.0', id, method, params })
      return client.next((m) => m.id === id)
    },
  }
  return client
}

t.test('WebSocket request/response, batches and errors', async (t) => {
  const { wsUrl } = await start(t)
  t.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/)
  const c = await connect(t, wsUrl)
  t.same(await c.request('echo', [1]), { jsonrpc: '2.0', id: wsId, result: [1] })
  t.equal((await c.request('transport')).result, 'ws')
  t.same((await c.request('boom')).error, { code: -32603, message: 'internal error: kaboom' })
  c.send([{ jsonrpc: '2.0', id: 'a', method: 'echo' }, { jsonrpc: '2.0', method: 'notify' }, { jsonrpc: '2.0', id: 'b', method: 'nope' }])
  const batch = await c.next((m) => Array.isArray(m))
  t.same(batch, [
    { jsonrpc: '2.0', id: 'a', result: [] },
    { jsonrpc: '2.0', id: 'b', error: { code: -32601, message: 'the method nope does not exist/is not available' } },
  ])
  c.send('{not json')
  t.equal(((await c.next((m) => m.id === null)).error as { code: number }).code, -32700)
  t.same((await c.request('echo', [2])).result, [2], 'connection still usable')
})

t.test('WebSocket subscriptions: newHeads, logs with topic filters, unsubscribe', async (t) => {
  const { wsUrl, hub } = await start(t)
  const c = await connect(t, wsUrl)
  const heads = (await c.request('eth_subscribe', ['newHeads'])).result as string
  t.match(heads, /^0x[1-9a-f][0-9a-f]{0,31}$/, 'id is a 16-byte hex quantity')
  const logsAll = (await c.request('eth_subscribe', ['logs'])).result as string
  const logsT2 = (await c.request('eth_subscribe', ['logs', { address: '0x' + 'aa'.repeat(20), topics: [null, toData(topic(2))] }])).result as string
  const logsOr = (await c.request('eth_subscribe', ['logs', { topics: [[toData(topic(9)), toData(topic(1))]] }])).result as string
  const pending = (await c.request('eth_subscribe', ['newPendingTransactions'])).result as string
  t.equal(new Set([heads, logsAll, logsT2, logsOr, pending]).size, 5, 'distinct ids')
  t.equal(hub.size(), 5)

  const l1: RawLog = [addr(0xaa), [topic(1), topic(2)], new Uint8Array([1])]
  const l2: RawLog = [addr(0xaa), [topic(1), topic(3)], new Uint8Array([2])]
  const l3: RawLog = [addr(0xbb), [topic(1), topic(2)], new Uint8Array([3])]
  const b = bundle(8n, [[l1, l2], [l3]])
  hub.publishHead(b)
  hub.publishPendingTx(topic(0x77))

  const sub = (id: string) => (m: Record<string, unknown>) => m.method === 'eth_subscription' && (m.params as { subscription: string }).subscription === id
  const head = await c.next(sub(heads))
  t.same(head, { jsonrpc: '2.0', method: 'eth_subscription', params: { subscription: heads, result: formatHeader(b.block.header) } }, 'newHeads carries the formatted header')
  const all: Array<{ data: string; logIndex: string; transactionIndex: string }> = []
  for (let i = 0; i < 3; i++) all.push((await c.next(sub(logsAll))).params as never)
  t.same(all.map((p) => (p as unknown as { result: { data: string } }).result.data), ['0x01', '0x02', '0x03'], 'one notification per log, in order')
  const t2 = (await c.next(sub(logsT2))).params as { result: { data: string; logIndex: string; transactionHash: string } }
  t.equal(t2.result.data, '0x01', 'address + second-topic filter picks l1 only')
  t.equal(t2.result.logIndex, '0x0')
  t.equal(t2.result.transactionHash, toData(b.block.transactions[0]!.hash()))
  const or = [(await c.next(sub(logsOr))).params, (await c.next(sub(logsOr))).params, (await c.next(sub(logsOr))).params] as Array<{ result: { data: string } }>
  t.same(or.map((p) => p.result.data), ['0x01', '0x02', '0x03'], 'OR list on the first topic')
  t.same((await c.next(sub(pending))).params, { subscription: pending, result: toData(topic(0x77)) })
  // A barrier, not a wait: the hub writes notifications as it publishes, so a reply to a later request comes after any of them.
  await c.request('echo', ['barrier'])
  t.equal(c.messages.filter((m) => sub(logsT2)(m as Record<string, unknown>)).length, 0, 'no extra log notifications')

  t.equal((await c.request('eth_unsubscribe', [heads])).result, true)
  t.equal((await c.request('eth_unsubscribe', [heads])).result, false, 'second unsubscribe is false')
  t.equal((await c.request('eth_unsubscribe', ['0xdead'])).result, false)
  hub.publishHead(bundle(9n, []))
  await c.request('echo', ['barrier'])
  t.equal(c.messages.filter((m) => sub(heads)(m as Record<string, unknown>)).length, 0, 'no notifications after unsubscribe')

  const other = await connect(t, wsUrl)
  t.equal((await other.request('eth_unsubscribe', [logsAll])).result, false, 'another connection cannot cancel it')

  t.same((await c.request('eth_subscribe', ['syncingX'])).error, { code: -32601, message: 'no "syncingX" subscription in eth namespace' })
  t.same((await c.request('eth_subscribe', [])).error, { code: -32602, message: 'invalid argument 0: expected a subscription name (newHeads, logs, newPendingTransactions, syncing, medrecNotifications)' })
  t.same((await c.request('eth_subscribe', ['logs', { topics: ['0x12'] }])).error, {
    code: -32602,
    message: 'invalid argument 1: field topics[0]: hex string has length 2, want 64 for common.Hash',
  })
  t.same((await c.request('eth_subscribe', ['newHeads', {}])).error, { code: -32602, message: 'too many arguments, want at most 1' })
  t.same((await c.request('eth_subscribe', ['newPendingTransactions', 'yes'])).error, {
    code: -32602,
    message: 'invalid argument 1: expected true or false, got string',
  })
  t.same((await c.request('eth_unsubscribe', [5])).error, { code: -32602, message: 'invalid argument 0: expected a filter id string, got number' })

  t.equal(hub.size(), 4)
  c.ws.close()
  await c.closed
  for (const end = Date.now() + 3000; hub.size() > 0 && Date.now() < end; ) await sleep(20)
  t.equal(hub.size(), 0, 'subscriptions die with their connection')
})

t.test('ethers WebSocketProvider receives blocks and logs through the hub', async (t) => {
  const { wsUrl, hub } = await start(t)
  const provider = new WebSocketProvider(wsUrl, Network.from(1337), { staticNetwork: true })
  t.teardown(() => provider.destroy())
  const address = toData(addr(0xaa))
  const block = new Promise<number>((resolve) => void provider.on('block', (n: number) => resolve(n)))
  const log = new Promise<Log>((resolve) => void provider.on({ address, topics: [toData(topic(2))] }, (l: Log) => resolve(l)))
  const deadline = Date.now() + 3000
  while (hub.size() < 2 && Date.now() < deadline) await sleep(20)
  t.equal(hub.size(), 2, 'ethers subscribed newHeads and logs')
  const b = bundle(42n, [[[addr(0xaa), [topic(1)], new Uint8Array()], [addr(0xaa), [topic(2)], new Uint8Array([5])]]])
  hub.publishHead(b)
  t.equal(await block, 42)
  const l = await log
  t.equal(l.data, '0x05')
  t.equal(l.index, 1)
  t.equal(l.blockNumber, 42)
  t.equal(l.transactionHash, toData(b.block.transactions[0]!.hash()))
})

t.test('a subscription id is sent before any of its notifications', async (t) => {
  const hub = createSubscriptionHub()
  const { wsUrl } = await start(t, {}, hub)
  const c = await connect(t, wsUrl)
  // Publish as soon as the subscription exists, before the reply can have been written.
  const original = hub.subscribe.bind(hub)
  hub.subscribe = (conn, params) => {
    const s = original(conn, params)
    hub.publishPendingTx(topic(1))
    return s
  }
  c.send({ jsonrpc: '2.0', id: 'sub', method: 'eth_subscribe', params: ['newPendingTransactions'] })
  const deadline = Date.now() + 3000
  while (c.messages.length < 2 && Date.now() < deadline) await sleep(20)
  const [first, second] = c.messages as Array<Record<string, unknown>>
  t.equal(first?.id, 'sub', 'the reply with the id comes first')
  t.equal(second?.method, 'eth_subscription', 'then the held notification')
  t.equal((second?.params as { subscription?: unknown } | undefined)?.subscription, first?.result)
})

t.test('WebSocket limits: message size, origin', async (t) => {
  const { wsUrl } = await start(t)
  const big = await connect(t, wsUrl)
  big.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'echo', params: ['x'.repeat(70 * 1024)] }))
  t.equal(await big.closed, 1009, 'oversized message closes with 1009 (message too big)')
  await t.rejects(connect(t, wsUrl, { origin: 'https://evil.example' }), /403/, 'browser origin not listed: upgrade refused')
  await t.rejects(connect(t, wsUrl + '/other'), /404/, 'WebSocket only at /')
  const on = await start(t, { wsOrigins: ['https://app.example'] })
  const ok = await connect(t, on.wsUrl, { origin: 'https://app.example' })
  t.same((await ok.request('echo', [1])).result, [1], 'origin listed in --ws.origins may connect')
})

function pauseReading(c: Client): void {
  ;(c.ws as unknown as { _socket: { pause(): void } })._socket.pause()
}

t.test('a slow consumer is dropped instead of buffered without end', async (t) => {
  const { wsUrl, hub } = await start(t, { wsMaxQueueBytes: 256 * 1024 })
  const slow = await connect(t, wsUrl)
  const fast = await connect(t, wsUrl)
  await slow.request('eth_subscribe', ['newPendingTransactions'])
  pauseReading(slow)
  logLines.length = 0
  let sent = 0
  while (hub.size() > 0 && sent < 500_000) {
    hub.publishPendingTx(topic(sent & 0xff))
    sent++
    if (sent % 1000 === 0) await sleep(1)
  }
  t.equal(hub.size(), 0, `dropped after ${sent} notifications`)
  t.ok(logLines.some((l) => l.includes('Dropping slow WebSocket client')), 'and it is logged')
  t.same((await fast.request('echo', [1])).result, [1], 'other clients unaffected')
})

t.test('keepalive drops peers that stop answering pings', async (t) => {
  const { wsUrl, hub } = await start(t, { wsPingIntervalMs: 100 })
  const dead = await connect(t, wsUrl)
  await dead.request('eth_subscribe', ['newHeads'])
  const live = await connect(t, wsUrl)
  await live.request('eth_subscribe', ['newHeads'])
  t.equal(hub.size(), 2)
  pauseReading(dead)
  const deadline = Date.now() + 3000
  while (hub.size() > 1 && Date.now() < deadline) await sleep(20)
  t.equal(hub.size(), 1, 'the silent peer was cut off')
  // Several ping rounds, counted as they arrive (the ws client answers each with a pong by itself).
  await new Promise<void>((resolve) => {
    let pings = 0
    live.ws.on('ping', () => void (++pings === 3 && resolve()))
  })
  t.same((await live.request('echo', [3])).result, [3], 'a live client survives several ping rounds')
  t.equal(hub.size(), 1)
})

t.test('close() ends WebSocket clients and stops listening', async (t) => {
  const hub = createSubscriptionHub()
  const server = createRpcServer({ ...BASE }, { methods, subscriptions: hub })
  const { url, wsUrl } = await server.listen()
  const c = await connect(t, wsUrl)
  await c.request('eth_subscribe', ['newHeads'])
  await server.close()
  t.equal(await c.closed, 1001, 'going away')
  t.equal(hub.size(), 0)
  await t.rejects(fetch(url, { method: 'POST', body: '{}' }), 'no longer listening')
  await server.close()
  t.pass('close is idempotent')
})

t.test('error objects: revert reasons and JSON shape', async (t) => {
  // Error(string) "Store: value too large", as solc encodes require(false, reason).
  const reason = 'Store: value too large'
  const enc = Buffer.concat([
    Buffer.from('08c379a0', 'hex'),
    Buffer.from((32).toString(16).padStart(64, '0'), 'hex'),
    Buffer.from(reason.length.toString(16).padStart(64, '0'), 'hex'),
    Buffer.from(Buffer.from(reason).toString('hex').padEnd(64, '0'), 'hex'),
  ])
  t.equal(revertReason(enc), reason)
  const e = revertedError(enc)
  t.same(e.toJSON(), { code: 3, message: `execution reverted: ${reason}`, data: toData(enc) })
  t.equal(e.code, 'RPC_REVERTED')
  t.equal(revertReason(enc.subarray(0, 60)), undefined, 'truncated data is not decoded')
  t.equal(revertReason(Buffer.from('e94fe3af' + '00'.repeat(64), 'hex')), undefined, 'custom errors are not Error(string)')
  const lying = Buffer.from(enc)
  lying[4 + 31] = 0xff // offset pointing past the end
  t.equal(revertReason(lying), undefined)
  t.same(revertedError(new Uint8Array()).toJSON(), { code: 3, message: 'execution reverted', data: '0x' })
  t.same(RpcError.server('header not found').toJSON(), { code: -32000, message: 'header not found' }, 'no data member when there is none')
  t.same(RpcError.limit('x').toJSON(), { code: -32005, message: 'x' })
  t.same(RpcError.parse('bad').toJSON(), { code: -32700, message: 'parse error: bad' })
})

/** A WsConnection that records frames, for driving the hub directly. */
function fakeConn(id: number): WsConnection & { frames: string[]; closedWith?: number; fire(): void } {
  const fns: Array<() => void> = []
  const c = {
    id,
    closed: false,
    frames: [] as string[],
    closedWith: undefined as number | undefined,
    send(text: string) {
      if (c.closed) return false
      c.frames.push(text)
      return true
    },
    onClose(fn: () => void) {
      fns.push(fn)
    },
    close(code?: number) {
      c.closedWith = code
      c.fire()
    },
    fire() {
      c.closed = true
      for (const fn of fns.splice(0)) fn()
    },
  }
  return c
}

t.test('subscription hub limits', async (t) => {
  const hub = createSubscriptionHub({ maxPerConnection: 2, maxHeld: 3 })
  const a = fakeConn(1)
  hub.subscribe(a, ['newHeads']).activate()
  const held = hub.subscribe(a, ['newPendingTransactions'])
  try {
    hub.subscribe(a, ['newHeads'])
    t.fail('expected the per-connection limit')
  } catch (err) {
    t.equal((err as RpcError).rpcCode, -32005)
    t.equal((err as RpcError).message, 'too many subscriptions on this connection (limit 2): unsubscribe unused ones')
  }
  hub.publishPendingTx(topic(1))
  hub.publishPendingTx(topic(2))
  t.equal(a.frames.length, 0, 'held until activation')
  held.activate()
  t.equal(a.frames.length, 2, 'released in order on activation')
  t.match(a.frames[0], /"result":"0x0101/)
  t.equal(a.closedWith, undefined)

  const b = fakeConn(2)
  hub.subscribe(b, ['newPendingTransactions'])
  for (let i = 0; i < 4; i++) hub.publishPendingTx(topic(i))
  t.equal(b.closedWith, 1008, 'backlog beyond maxHeld before activation drops the connection')
  t.equal(hub.size(), 2, 'and its subscription')

  a.fire()
  t.equal(hub.size(), 0, 'closing a connection ends its subscriptions')
  try {
    hub.subscribe(a, ['newHeads'])
    t.fail('expected refusal on a closed connection')
  } catch (err) {
    t.equal((err as RpcError).rpcCode, -32000)
    t.equal((err as RpcError).message, 'connection closed')
  }
})
