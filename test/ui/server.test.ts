/**
 * The UI server (node/ui) of a real in-process node: the app's files with the security headers
 * on every answer, the sign-in exchange (wrong, used, expired, foreign and RPC-token codes), the
 * session, /rpc through the node's own method table and access rules, notifications, metrics,
 * and the refusals a hostile client gets (foreign Host, foreign Origin, another site, non-JSON
 * and oversize bodies, path traversal, symlinks, a rate of sign-in attempts).
 */
import t from 'tap'
import { request } from 'node:http'
import { symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { makeToken } from '../../node/rpc/access.ts'
import { CSP, SIGNIN_TTL_S, createUiServer, makeSigninCode, createMetricsSampler } from '../../node/ui/index.ts'
import { createSubscriptionHub } from '../../node/rpc/index.ts'
import { medrec } from '../cli/run-cli.ts'
import { waitFor } from '../helpers/node-process.ts'
import { APP_JS, INDEX_HTML, startUiNode, type UiNode } from './ui-node.ts'

t.setTimeout(120_000)

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json(): Record<string, unknown>
}

/** One raw HTTP request (the path sent as given, any Host), read to the end. */
function http(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  const u = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> })
      })
    })
    req.on('error', reject)
    if (opts.body !== undefined) req.end(opts.body)
    else req.end()
  })
}
const postJson = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  http(base, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
const rpcCall = (base: string, method: string, params: unknown[] = [], headers: Record<string, string> = {}) => postJson(base, '/rpc', { jsonrpc: '2.0', id: 1, method, params }, headers)

let n: UiNode
/** Every answer the tests got, for the header check at the end. */
const seen: Array<{ what: string; a: Answer }> = []
const keep = (what: string, a: Answer): Answer => (seen.push({ what, a }), a)

async function signIn(): Promise<string> {
  const r = keep('sign-in', await postJson(n.ui, '/api/session', { code: await makeSigninCode(n.secret) }))
  if (r.status !== 200) throw new Error(`sign-in failed: ${r.status} ${r.body}`)
  return r.json().token as string
}

t.before(async () => {
  n = await startUiNode(t)
})

t.test('the app: index.html and known assets only, never a path outside them', async (t) => {
  const index = keep('index', await http(n.ui, '/'))
  t.equal(index.status, 200)
  t.equal(index.body, INDEX_HTML)
  t.match(index.headers['content-type'], /^text\/html/)
  t.equal(index.headers['cache-control'], 'no-store', 'the page is never cached')
  const js = keep('asset', await http(n.ui, '/assets/app.js'))
  t.equal(js.body, APP_JS)
  t.match(js.headers['content-type'], /^text\/javascript/)
  // Things in and next to the assets dir that must not be served.
  writeFileSync(join(n.assets, 'assets', 'secret.key'), 'not for you')
  symlinkSync(join(n.datadir, 'jwtsecret'), join(n.assets, 'assets', 'link.js'))
  for (const path of ['/assets/../../node/jwtsecret', '/assets/%2e%2e/%2e%2e/node/jwtsecret', '/assets/..%2f..%2fnode%2fjwtsecret', '/assets/', '/assets', '/assets/secret.key', '/assets/link.js', '//etc/passwd', '/index.html/..']) {
    const r = keep(path, await http(n.ui, path))
    t.equal(r.status, 404, `${path}: 404`)
    t.notMatch(r.body, /[0-9a-f]{64}|not for you|root:/, `${path}: nothing of the file`)
  }
})

t.test('the app not built: 503 naming the fix', async (t) => {
  const methods = {}
  const ui = createUiServer(
    { addr: '127.0.0.1', port: 0, vhosts: ['127.0.0.1'], assetsDir: join(n.assets, 'missing'), jwtSecret: n.secret, apis: ['eth'], maxRequestBytes: 1000, batchRequestLimit: 10, batchResponseMaxSize: 10_000 },
    { methods, subscriptions: createSubscriptionHub({ pendingTx: () => undefined, syncing: () => false }), identity: () => ({ account: null, chainId: 1, roles: ['operator'] }), metrics: createMetricsSampler(() => ({ head: 0, peers: 0, pending: 0, queued: 0 })) },
  )
  const { url } = await ui.listen()
  t.teardown(() => ui.close())
  const r = keep('not built', await http(url, '/'))
  t.equal(r.status, 503)
  t.match(r.body, /npm install/)
})

t.test('Host, Origin and Sec-Fetch-Site', async (t) => {
  const port = new URL(n.ui).port
  const rebound = keep('rebound host', await http(n.ui, '/', { headers: { host: `rebind.test:${port}` } }))
  t.equal(rebound.status, 403, 'a DNS-rebound name gets nothing, not even the page')
  t.equal(rebound.json().error, 'FORBIDDEN_HOST')
  t.match(rebound.json().message, /--ui\.vhosts/)
  const reboundRpc = keep('rebound rpc', await rpcCall(n.ui, 'eth_chainId', [], { host: `rebind.test:${port}` }))
  t.equal(reboundRpc.status, 403)
  t.equal((await http(n.ui, '/', { headers: { host: `localhost:${port}` } })).status, 200, 'localhost is a default vhost')

  // Another port of the same host is another origin (same site).
  const foreign = keep('foreign origin', await rpcCall(n.ui, 'eth_chainId', [], { origin: 'http://127.0.0.1:1' }))
  t.equal(foreign.status, 403)
  t.equal(foreign.json().error, 'FORBIDDEN_ORIGIN')
  t.notOk(foreign.headers['access-control-allow-origin'], 'no CORS header, ever')
  const own = await rpcCall(n.ui, 'eth_chainId', [], { origin: `http://127.0.0.1:${port}` })
  t.equal(own.json().result, '0x539', 'its own origin passes')
  const site = keep('same-site', await http(n.ui, '/api/metrics', { headers: { 'sec-fetch-site': 'same-site' } }))
  t.equal(site.status, 403)
  t.equal(site.json().error, 'FORBIDDEN_SITE')
  t.equal((await http(n.ui, '/', { headers: { 'sec-fetch-site': 'cross-site' } })).status, 200, 'a link from elsewhere may open the page itself')
})

t.test('sign-in: wrong, foreign, RPC-token, expired, pre-start and used codes are refused', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const refuse = async (what: string, code: string, error: string) => {
    const r = keep(what, await postJson(n.ui, '/api/session', { code }))
    t.equal(r.status, 401, `${what}: 401`)
    t.equal(r.json().error, error, `${what}: ${error}`)
    t.match(r.json().message, /medrec ui signin/, `${what}: names the fix`)
    t.notOk('token' in r.json())
  }
  await refuse('garbage', 'not-a-jwt', 'UI_BAD_CODE')
  await refuse('other secret', await makeSigninCode(new Uint8Array(32).fill(7)), 'UI_BAD_CODE')
  await refuse('an RPC token', await makeToken(n.secret), 'UI_BAD_CODE')
  const forged = await new SignJWT({ purpose: 'ui-signin', jti: 'x' }).setProtectedHeader({ alg: 'HS512' }).setIssuedAt(now).sign(n.secret)
  await refuse('another algorithm', forged, 'UI_BAD_CODE')
  await refuse('expired', await makeSigninCode(n.secret, now - SIGNIN_TTL_S - 5), 'UI_CODE_EXPIRED')
  await refuse('made before the node started', await makeSigninCode(n.secret, now - 200), 'UI_CODE_EXPIRED')

  const code = await makeSigninCode(n.secret)
  const ok = keep('sign-in', await postJson(n.ui, '/api/session', { code }))
  t.equal(ok.status, 200)
  const s = ok.json()
  t.match(s.token, /^[0-9a-f]{64}$/)
  t.equal(s.chainId, 1337)
  t.match(s.account, /^0x[0-9a-fA-F]{40}$/)
  t.ok((s.roles as string[]).includes('operator') && (s.roles as string[]).includes('patient') && (s.roles as string[]).includes('provider'))
  t.ok((s.expires as number) > Date.now() + 11 * 3600_000, 'a 12 h session')
  await refuse('used', code, 'UI_CODE_USED')

  // The code is no RPC token either (node/rpc/auth.ts refuses tokens with a purpose).
  const asBearer = await fetch(n.node.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await makeSigninCode(n.secret)}` }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'medrec_gatekeeperInfo', params: [] }) })
  const err = ((await asBearer.json()) as { error?: { code: number; message: string } }).error
  t.equal(err?.code, -32001, 'a sign-in code does not authenticate on the RPC port')
  t.match(err?.message, /not an RPC token/)
})

t.test('sign-in bodies: JSON only, small, with a code', async (t) => {
  const plain = keep('text/plain', await http(n.ui, '/api/session', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ code: await makeSigninCode(n.secret) }) }))
  t.equal(plain.status, 415)
  const big = keep('oversize', await postJson(n.ui, '/api/session', { code: 'x'.repeat(10_000) }))
  t.equal(big.status, 413)
  const none = keep('no code', await postJson(n.ui, '/api/session', { nope: 1 }))
  t.equal(none.status, 400)
})

t.test('the session: read, used, ended', async (t) => {
  const token = await signIn()
  const auth = { authorization: `Bearer ${token}` }
  const got = keep('session', await http(n.ui, '/api/session', { headers: auth }))
  t.equal(got.status, 200)
  t.equal(got.json().chainId, 1337)
  t.equal(keep('no session', await http(n.ui, '/api/session')).status, 401)
  t.equal((await http(n.ui, '/api/session', { headers: { authorization: `Bearer ${'0'.repeat(64)}` } })).status, 401, 'a made-up token')
  // A valid JWT for the RPC port is not a UI session.
  const jwt = { authorization: `Bearer ${await makeToken(n.secret)}` }
  t.equal((await http(n.ui, '/api/session', { headers: jwt })).status, 401)
  const jwtRpc = await rpcCall(n.ui, 'medrec_gatekeeperInfo', [], jwt)
  t.equal((jwtRpc.json().error as { code: number }).code, -32001, 'the RPC bearer token opens nothing on the UI origin')

  const gone = await http(n.ui, '/api/session', { method: 'DELETE', headers: auth })
  t.equal(gone.status, 204)
  t.equal((await http(n.ui, '/api/session', { headers: auth })).status, 401, 'signed out')
  t.equal(((await rpcCall(n.ui, 'medrec_gatekeeperInfo', [], auth)).json().error as { code: number }).code, -32001, 'and its token no longer calls protected methods')
})

t.test('/rpc: the node\'s own table and access rules', async (t) => {
  const open = await rpcCall(n.ui, 'eth_chainId')
  t.equal(open.json().result, '0x539', 'chain reads need no session')
  const refused = keep('protected', await rpcCall(n.ui, 'medrec_gatekeeperInfo'))
  const e = refused.json().error as { code: number; message: string }
  t.equal(e.code, -32001, 'a protected method without a session')
  t.match(e.message, /sign in/)
  const propose = await rpcCall(n.ui, 'clique_propose', ['0x90f79bf6eb2c4f870365e785982e1f101e93b906', true])
  t.equal((propose.json().error as { code: number }).code, -32001, 'a vote without a session')
  const token = await signIn()
  const auth = { authorization: `Bearer ${token}` }
  const info = await rpcCall(n.ui, 'medrec_gatekeeperInfo', [], auth)
  t.match((info.json().result as { account: string }).account, /^0x/i, 'with a session')
  const batch = await http(n.ui, '/rpc', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }, { jsonrpc: '2.0', id: 2, method: 'medrec_gatekeeperInfo', params: [] }]) })
  const replies = JSON.parse(batch.body) as Array<{ id: number; result?: unknown; error?: unknown }>
  t.same(replies.map((r) => [r.id, r.error === undefined]), [[1, true], [2, true]], 'a batch')
  t.equal((await rpcCall(n.ui, 'debug_traceTransaction', ['0x' + '00'.repeat(32)], auth)).json().error !== undefined, true)
  const plain = keep('rpc text/plain', await http(n.ui, '/rpc', { method: 'POST', headers: { 'content-type': 'text/plain', ...auth }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'medrec_relationships', params: [] }) }))
  t.equal(plain.status, 415, 'a "simple" cross-origin POST body type is never read')
  const form = await http(n.ui, '/rpc', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth }, body: 'a=b' })
  t.equal(form.status, 415)
  const big = keep('rpc oversize', await http(n.ui, '/rpc', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: Buffer.alloc(5 * 1024 * 1024 + 10, 32) }))
  t.equal(big.status, 413)
  t.equal(keep('rpc GET', await http(n.ui, '/rpc')).status, 405)
})

t.test('/medrec/events and /api/metrics need a session', async (t) => {
  t.equal(keep('events, no session', await http(n.ui, '/medrec/events')).status, 401)
  t.equal(keep('metrics, no session', await http(n.ui, '/api/metrics')).status, 401)
  const token = await signIn()
  const auth = { authorization: `Bearer ${token}` }
  const ac = new AbortController()
  const events = await fetch(new URL('/medrec/events', n.ui), { headers: auth, signal: ac.signal })
  t.equal(events.status, 200)
  t.match(events.headers.get('content-type'), /^text\/event-stream/)
  t.equal(events.headers.get('content-security-policy'), CSP)
  ac.abort()
  const snap = await waitFor(async () => {
    const m = (await http(n.ui, '/api/metrics', { headers: auth })).json() as { interval: number; samples: Array<Record<string, number>> }
    return m.samples.some((s) => (s.head ?? 0) > 0) ? m : undefined
  }, 'a metrics sample with a head', 20_000)
  t.equal(snap.interval, 2000)
  const s = snap.samples.at(-1)!
  for (const k of ['t', 'head', 'peers', 'pending', 'queued', 'blocks', 'blockTxs', 'blockGas', 'sealed', 'imported', 'importMs', 'served', 'refused']) t.type(s[k], 'number', k)
})

t.test('medrec ui signin prints a link that signs in once', async (t) => {
  const r = await medrec(['ui', 'signin', '--datadir', n.datadir, '--ui.url', n.ui, '--json'])
  t.equal(r.code, 0, r.stderr)
  const { link } = JSON.parse(r.stdout) as { link: string }
  t.ok(link.startsWith(`${n.ui}#signin=`), 'the code is in the fragment')
  const code = new URL(link).hash.slice('#signin='.length)
  t.equal((await postJson(n.ui, '/api/session', { code })).status, 200)
  t.equal((await postJson(n.ui, '/api/session', { code })).status, 401)
  // Without --ui.url: the URL the running node recorded in its data dir (its port is a random one here).
  const recorded = await medrec(['ui', 'signin', '--datadir', n.datadir, '--json'])
  t.equal(recorded.code, 0, recorded.stderr)
  t.ok((JSON.parse(recorded.stdout) as { link: string }).link.startsWith(`${n.ui}#signin=`), 'links to the port the node listens on, not the default 8550')
  const none = await medrec(['ui', 'signin', '--datadir', join(n.assets, 'nowhere')])
  t.equal(none.code, 1)
  t.match(none.stderr, /no JWT secret/)
})

// Last: it spends the sign-in budget.
t.test('sign-in attempts are rate-limited', async (t) => {
  let limited: Answer | undefined
  for (let i = 0; i < 40 && limited === undefined; i++) {
    const r = await postJson(n.ui, '/api/session', { code: 'guess' })
    if (r.status === 429) limited = keep('rate', r)
  }
  t.ok(limited, 'a burst of guesses is cut off')
  t.match(limited?.headers['retry-after'], /^[1-9][0-9]*$/)
})

t.test('every answer carries the security headers, and never a CORS header', async (t) => {
  t.ok(seen.length > 30)
  for (const { what, a } of seen) {
    t.equal(a.headers['content-security-policy'], CSP, `${what}: CSP`)
    t.equal(a.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
    t.equal(a.headers['referrer-policy'], 'no-referrer', `${what}: no referrer`)
    t.equal(a.headers['cross-origin-opener-policy'], 'same-origin', `${what}: COOP`)
    t.equal(a.headers['cross-origin-resource-policy'], 'same-origin', `${what}: CORP`)
    t.notOk(a.headers['access-control-allow-origin'], `${what}: no CORS`)
  }
})
