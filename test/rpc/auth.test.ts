/**
 * The JSON-RPC port's access rules, attacked the way a hostile web page or local client would:
 * a no-preflight cross-origin POST, a DNS-rebound Host, a foreign WebSocket origin, signing
 * methods without a token or with a forged, stale or `alg: none` token, disabled namespaces.
 */
import t, { type Test } from 'tap'
import { request } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { SignJWT } from 'jose'
import type { RpcConfig } from '../../node/config/index.ts'
import { DEFAULT_RPC } from '../../node/rpc/index.ts'
import { hostAllowed, loadOrCreateJwtSecret, makeToken, originAllowed, readJwtSecret } from '../../node/rpc/auth.ts'
import { createRpcServer } from '../../node/rpc/server.ts'
import { createSubscriptionHub } from '../../node/rpc/subscriptions.ts'
import type { RpcMethods } from '../../node/rpc/types.ts'

const SECRET = new Uint8Array(32).fill(7)
const OTHER_SECRET = new Uint8Array(32).fill(8)

/** What ran: a refused call must leave no trace here. */
let ran: string[] = []
const methods: RpcMethods = {
  eth_chainId: () => '0x539',
  medrec_share: () => (ran.push('medrec_share'), { granted: true }),
  medrec_fetch: () => (ran.push('medrec_fetch'), { records: ['secret'] }),
  clique_propose: () => (ran.push('clique_propose'), null),
  clique_getSigners: () => [],
  admin_addPeer: () => (ran.push('admin_addPeer'), true),
  miner_stop: () => (ran.push('miner_stop'), null),
}

async function start(t: Test, over: Partial<RpcConfig> = {}) {
  const hub = createSubscriptionHub()
  const routes = { '/medrec/events': (_req: unknown, res: import('node:http').ServerResponse) => (ran.push('events'), res.writeHead(200, { 'content-type': 'text/event-stream' }), res.end('data: {}\n\n')) }
  const server = createRpcServer({ ...DEFAULT_RPC, port: 0, apis: ['eth', 'clique', 'admin', 'miner', 'medrec'], jwtSecret: SECRET, ...over }, { methods, subscriptions: hub, routes })
  const urls = await server.listen()
  t.teardown(() => server.close())
  ran = []
  return urls
}

const body = (method: string, params: unknown[] = [{}]) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })

/** A raw HTTP request, so the Host header can be anything (fetch will not let a page or a test set it). */
function raw(url: string, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: opts.method ?? 'POST', path: opts.path ?? '/', headers: opts.headers }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }))
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

async function post(url: string, method: string, headers: Record<string, string> = {}, params?: unknown[]) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: body(method, params) })
  return { status: res.status, json: (await res.json()) as { result?: unknown; error?: { code: number; message: string } } }
}

const bearer = async (secret = SECRET, iat?: number) => ({ authorization: `Bearer ${await makeToken(secret, iat)}` })
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

t.test('a cross-origin "simple" POST (no preflight) is refused before anything runs: 415', async (t) => {
  const { url } = await start(t)
  for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
    const r = await raw(url, { headers: { 'content-type': type, origin: 'https://evil.example', ...(await bearer()) }, body: body('medrec_share') })
    t.equal(r.status, 415, `${type}: 415`)
    t.match(r.text, /only application\/json is supported: send the request with the header Content-Type: application\/json/)
  }
  const none = await raw(url, { headers: { origin: 'https://evil.example' }, body: body('medrec_share') })
  t.equal(none.status, 415, 'no content type at all (a Blob body) is refused too')
  t.same(ran, [], 'medrec_share never ran, even with a valid token')
  const ok = await post(url, 'eth_chainId', { 'content-type': 'application/json; charset=utf-8' })
  t.equal(ok.json.result, '0x539', 'application/json with parameters is served')
})

t.test('a foreign Host (DNS rebinding) is refused on HTTP, routes and WebSocket: 403', async (t) => {
  const { url, wsUrl } = await start(t)
  const port = new URL(url).port
  const r = await raw(url, { headers: { host: `rebind.example:${port}`, 'content-type': 'application/json', ...(await bearer()) }, body: body('medrec_fetch') })
  t.equal(r.status, 403)
  t.match(r.text, /^invalid host specified: "rebind\.example:\d+" is not in --rpc\.vhosts \(localhost,127\.0\.0\.1,\[::1\]\); .*--rpc\.vhosts localhost,127\.0\.0\.1,\[::1\],rebind\.example/)
  t.equal((await raw(url, { method: 'GET', path: '/medrec/events', headers: { host: 'rebind.example', ...(await bearer()) } })).status, 403, 'the event stream too')
  t.equal((await raw(url, { method: 'OPTIONS', headers: { host: 'rebind.example' } })).status, 403, 'and a preflight')
  t.same(ran, [], 'nothing ran')
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `LOCALHOST`, `[::1]:${port}`]) {
    t.equal((await raw(url, { headers: { host, 'content-type': 'application/json' }, body: body('eth_chainId', []) })).status, 200, `${host} is a default vhost (port ignored)`)
  }
  const ws = new WebSocket(wsUrl, { headers: { host: `rebind.example:${port}` } })
  const refused = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)))
  t.equal(refused, 403, 'WebSocket upgrade with a foreign Host: 403')

  const named = await start(t, { vhosts: ['medrec.hospital.example'] })
  t.equal((await raw(named.url, { headers: { host: 'medrec.hospital.example:8545', 'content-type': 'application/json' }, body: body('eth_chainId', []) })).status, 200, '--rpc.vhosts admits its names')
  t.equal((await raw(named.url, { headers: { host: '127.0.0.1', 'content-type': 'application/json' }, body: body('eth_chainId', []) })).status, 403, 'and only those')
  const any = await start(t, { vhosts: ['*'] })
  t.equal((await raw(any.url, { headers: { host: 'whatever.example', 'content-type': 'application/json' }, body: body('eth_chainId', []) })).status, 200, '* admits any Host')
})

t.test('host and origin matching', async (t) => {
  const d = ['localhost', '127.0.0.1', '[::1]']
  t.ok(hostAllowed('[::1]:8545', d))
  t.ok(hostAllowed('[::1]', ['::1']), 'a bare IPv6 list entry')
  t.notOk(hostAllowed(undefined, d), 'no Host header')
  t.notOk(hostAllowed('localhost.evil.example', d))
  t.notOk(hostAllowed('127.0.0.1.nip.io', d))
  t.ok(originAllowed('http://localhost:3000', ['http://localhost']), 'entry without port: any port')
  t.notOk(originAllowed('http://localhost:3000', ['http://localhost:3001']))
  t.ok(originAllowed('https://app.example', ['app.example']), 'entry without scheme: any scheme')
  t.notOk(originAllowed('https://app.example.evil', ['app.example']))
  t.notOk(originAllowed('null', ['http://localhost']), 'an opaque origin (sandboxed page, file:) matches nothing')
  t.ok(originAllowed('null', ['*']))
})

function wsOpen(wsUrl: string, headers: Record<string, string>): Promise<{ ws: WebSocket; status?: number }> {
  const ws = new WebSocket(wsUrl, { headers })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (_req, res) => resolve({ ws, status: res.statusCode! }))
    ws.once('error', reject)
  })
}
function wsCall(ws: WebSocket, method: string, params: unknown[] = [{}]): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
  const id = Math.floor(Math.random() * 1e9)
  return new Promise((resolve) => {
    const onMessage = (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { id: number; result?: unknown; error?: { code: number; message: string } }
      if (m.id !== id) return
      ws.off('message', onMessage)
      resolve(m)
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }))
  })
}

t.test('WebSocket from a browser origin not in --ws.origins is refused: 403', async (t) => {
  const { wsUrl } = await start(t, { corsOrigins: ['https://app.example'] })
  const evil = await wsOpen(wsUrl, { origin: 'https://evil.example', ...(await bearer()) })
  t.equal(evil.status, 403, 'foreign origin, even with a token')
  const cors = await wsOpen(wsUrl, { origin: 'https://app.example' })
  t.equal(cors.status, 403, '--rpc.corsdomain is for HTTP; WebSocket origins are --ws.origins')
  const local = await wsOpen(wsUrl, { origin: 'http://localhost:3000' })
  t.equal(local.status, 403, 'by default no browser origin at all (geth admits http://localhost)')
  const listed = await start(t, { wsOrigins: ['https://app.example'] })
  const ok = await wsOpen(listed.wsUrl, { origin: 'https://app.example' })
  t.equal(ok.status, undefined, 'a listed origin connects')
  t.teardown(() => ok.ws.terminate())
  t.equal((await wsCall(ok.ws, 'eth_chainId', [])).result, '0x539')
  t.equal((await wsCall(ok.ws, 'medrec_fetch')).error?.code, -32001, 'but a browser has no token: protected methods stay closed')
})

t.test('signing and record methods need a valid bearer token', async (t) => {
  const { url } = await start(t)
  for (const m of ['medrec_share', 'medrec_fetch', 'clique_propose', 'admin_addPeer', 'miner_stop']) {
    const r = await post(url, m)
    t.equal(r.json.error?.code, -32001, `${m} without a token: -32001`)
  }
  const missing = await post(url, 'medrec_share')
  t.match(missing.json.error!.message, /^unauthorized: missing token: the medrec CLI sends a token when given --datadir DIR .* or --rpc\.jwtsecret FILE; other clients send "Authorization: Bearer <JWT>", a JWT signed with HS256 over \{"iat": <unix seconds now>\} with the 32-byte hex secret in DIR\/jwtsecret/)

  const forged = async (header: Record<string, string>, why: RegExp, what: string) => {
    const r = await post(url, 'medrec_share', header)
    t.equal(r.json.error?.code, -32001, what)
    t.match(r.json.error?.message, why, `${what}: says why`)
  }
  await forged(await bearer(OTHER_SECRET), /invalid token \(signature verification failed\)/, 'signed with another secret')
  await forged(await bearer(SECRET, now() - 120), /stale token: its "iat" is 1[12]\d s in the past, more than 60 s/, 'expired (iat 2 minutes ago)')
  await forged(await bearer(SECRET, now() + 120), /stale token: its "iat" is 1[12]\d s in the future/, 'from the future')
  await forged({ authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iat: now() })}.` }, /algorithm "none" is not accepted, only HS256/, 'alg: none')
  const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setIssuedAt().sign(new Uint8Array(64).fill(7))
  await forged({ authorization: `Bearer ${hs512}` }, /algorithm "HS512" is not accepted/, 'another algorithm')
  const noIat = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(SECRET)
  await forged({ authorization: `Bearer ${noIat}` }, /no "iat" claim/, 'no iat')
  await forged({ authorization: 'Bearer not.a.jwt' }, /invalid token/, 'garbage')
  await forged({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /not "Bearer <JWT>"/, 'another scheme')
  t.same(ran, [], 'no refused call ran')

  const ok = await post(url, 'medrec_share', await bearer())
  t.same(ok.json.result, { granted: true }, 'a fresh token signed with the secret is served')
  t.equal((await post(url, 'medrec_share', await bearer(SECRET, now() - 50))).json.error, undefined, 'iat 50 s ago is within the leeway')
  t.equal((await post(url, 'clique_getSigners', {}, [])).json.error, undefined, 'read-only chain methods need no token')

  const batch = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `[${body('eth_chainId', [])},${body('medrec_fetch')}]` })
  const replies = (await batch.json()) as Array<{ result?: unknown; error?: { code: number } }>
  t.equal(replies[0]!.result, '0x539', 'in a batch, the public call is served')
  t.equal(replies[1]!.error?.code, -32001, 'and the protected one refused')

  const none = await start(t, { jwtSecret: undefined })
  t.match((await post(none.url, 'medrec_share', await bearer())).json.error?.message, /this node has no JWT secret/, 'a server without a secret refuses every protected call')
})

t.test('WebSocket: the token comes with the upgrade; medrecNotifications needs it', async (t) => {
  const { wsUrl } = await start(t)
  const anon = await wsOpen(wsUrl, {})
  t.teardown(() => anon.ws.terminate())
  t.equal((await wsCall(anon.ws, 'medrec_fetch')).error?.code, -32001, 'no token: refused')
  const sub = await wsCall(anon.ws, 'eth_subscribe', ['medrecNotifications'])
  t.equal(sub.error?.code, -32001, 'eth_subscribe medrecNotifications without a token: refused')
  t.equal((await wsCall(anon.ws, 'eth_subscribe', ['newHeads'])).error, undefined, 'newHeads is public')
  const stale = await wsOpen(wsUrl, await bearer(SECRET, now() - 600))
  t.teardown(() => stale.ws.terminate())
  t.match((await wsCall(stale.ws, 'medrec_fetch')).error?.message, /stale token/, 'a stale token at the upgrade: refused, saying why')
  const authed = await wsOpen(wsUrl, await bearer())
  t.teardown(() => authed.ws.terminate())
  t.same((await wsCall(authed.ws, 'medrec_fetch')).result, { records: ['secret'] }, 'with a token: served')
  t.match((await wsCall(authed.ws, 'eth_subscribe', ['medrecNotifications'])).result, /^0x/, 'and may subscribe to notifications')
})

t.test('namespaces not in --rpc.api do not exist for remote callers', async (t) => {
  const { url, wsUrl } = await start(t, { apis: ['eth', 'net', 'web3'] })
  const r = await post(url, 'medrec_share', await bearer())
  t.equal(r.json.error?.code, -32601)
  t.equal(r.json.error?.message, 'the method medrec_share does not exist/is not available: its namespace "medrec" is not enabled on this node; start it with --rpc.api eth,net,web3,medrec')
  t.match((await post(url, 'admin_addPeer', await bearer())).json.error?.message, /namespace "admin" is not enabled/)
  t.equal((await post(url, 'nope_x')).json.error?.message, 'the method nope_x does not exist/is not available', 'an unknown method reads as before')
  const events = await raw(url, { method: 'GET', path: '/medrec/events', headers: await bearer() })
  t.equal(events.status, 404, 'the medrec event stream is off with the namespace')
  t.match(events.text, /--rpc\.api eth,net,web3,medrec/)
  const ws = await wsOpen(wsUrl, await bearer())
  t.teardown(() => ws.ws.terminate())
  t.match((await wsCall(ws.ws, 'eth_subscribe', ['medrecNotifications'])).error?.message, /namespace "medrec" is not enabled/, 'nor its subscription')
  t.same(ran, [])
})

t.test('/medrec/events needs the token', async (t) => {
  const { url } = await start(t)
  const anon = await raw(url, { method: 'GET', path: '/medrec/events' })
  t.equal(anon.status, 401)
  t.equal(anon.headers['www-authenticate'], 'Bearer')
  t.match(anon.text, /missing token: the medrec CLI sends a token when given --datadir DIR/)
  t.equal((await raw(url, { method: 'GET', path: '/medrec/events', headers: await bearer(OTHER_SECRET) })).status, 401, 'forged token')
  t.same(ran, [])
  const ok = await raw(url, { method: 'GET', path: '/medrec/events', headers: await bearer() })
  t.equal(ok.status, 200)
  t.same(ran, ['events'])
})

t.test('the secret file: made once, owner-only, hex; a bad one is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'medrec-jwt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'jwtsecret')
  const made = await loadOrCreateJwtSecret(file)
  t.equal(made.length, 32)
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600')
  t.match(readFileSync(file, 'utf8'), /^0x[0-9a-f]{64}$/, 'hex, as geth writes it')
  t.same(await loadOrCreateJwtSecret(file), made, 'kept across starts')
  t.same(await readJwtSecret(file), made)
  writeFileSync(file, 'not hex')
  await t.rejects(loadOrCreateJwtSecret(file), { code: 'RPC_BAD_SECRET', message: /is not a JWT secret: expected 32 bytes as 64 hex digits/ })
  await t.rejects(readJwtSecret(join(dir, 'absent')), { code: 'RPC_NO_SECRET', message: /no JWT secret at .*absent: the node makes DIR\/jwtsecret when it starts/ })
})
