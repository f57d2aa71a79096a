/**
 * Hostile pages in a real headless Chromium against the UI origin of a real node (in process):
 * a page from another site (evil.test) and one from another port of 127.0.0.1 (the same SITE
 * for cookies, another origin) try to read the session, call medrec_share / medrec_fetch /
 * clique_propose on /rpc, read /medrec/events and /api/metrics, and replay a used sign-in code;
 * a DNS-rebinding page (served under a name that then resolves to 127.0.0.1, on the UI's own
 * port) tries the same as "same-origin". Each refusal is asserted with the check that made it
 * (the UI server's own debug log: the browser hides refused answers from the page and from
 * DevTools alike), so each check is needed for the test to pass; afterwards the node shows that
 * no vote was cast, and the pages report they read nothing.
 */
import t from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'puppeteer-core'
import { setLogLevel, setLogSink } from '../../common/logger.ts'
import { bearer } from '../../node/rpc/access.ts'
import { makeSigninCode } from '../../node/ui/index.ts'
import { launchChromium } from '../helpers/browser.ts'
import { startUiNode, type UiNode } from './ui-node.ts'

t.setTimeout(180_000)

const VOTE = '0x90f79bf6eb2c4f870365e785982e1f101e93b906'

/** The attacker's page: runs every attack against cfg.ui, leaves what it could read in window.results. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>cute cats</title><script>
const cfg = JSON.parse(decodeURIComponent(location.hash.slice(1)))
const results = {}
const read = async (p) => { try { const r = await p; return { status: r.status, type: r.type, body: await r.text() } } catch (e) { return { error: String(e) } } }
const rpc = (method, params) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
async function run() {
  const u = cfg.ui
  results.session = await read(fetch(u + 'api/session'))
  results.sessionNoCors = await read(fetch(u + 'api/session', { mode: 'no-cors' }))
  results.metrics = await read(fetch(u + 'api/metrics', { mode: 'no-cors' }))
  results.events = await read(fetch(u + 'medrec/events', { mode: 'no-cors' }))
  results.share = await read(fetch(u + 'rpc', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: rpc('medrec_share', [{ relationship: '0x' + '11'.repeat(20), viewer: '${VOTE}', items: [{ pointerId: 0, fields: [0] }] }]) }))
  results.propose = await read(fetch(u + 'rpc', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: rpc('clique_propose', ['${VOTE}', true]) }))
  results.fetchJson = await read(fetch(u + 'rpc', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: rpc('medrec_fetch', [{ relationship: '0x' + '11'.repeat(20) }]) }))
  results.chainId = await read(fetch(u + 'rpc', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: rpc('eth_chainId', []) }))
  results.replay = await read(fetch(u + 'api/session', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ code: cfg.code }) }))
  results.replayJson = await read(fetch(u + 'api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code: cfg.code }) }))
  results.storage = String(sessionStorage.getItem('medrec.session'))
}
run().then(() => { window.results = results }, (e) => { window.results = { failed: String(e) } })
</script><p>Loading cats…</p>`

interface Seen {
  status?: number
  type?: string
  body?: string
  error?: string
}
/** A refusal as the UI server logged it. */
interface Answer {
  method: string
  path: string
  status: number
  error: string
}
/** What the UI server refused since the last attack began. */
let refusals: Answer[] = []

let n: UiNode
let browser: Browser
let page: { server: Server; port: number }
/** A code the patient already used to sign in (as her browser history would hold it). */
let usedCode: string
let token: string

function servePage(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(PAGE)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })))
}

async function attack(b: Browser, pageUrl: string, ui: string, opts: { intercept?: boolean } = {}): Promise<{ results: Record<string, Seen>; answers: Answer[] }> {
  const p = await b.newPage()
  refusals = []
  if (opts.intercept === true) {
    // DNS rebinding: the page came from the attacker's server under this name; now the name
    // resolves to 127.0.0.1 (--host-resolver-rules), so everything else reaches the node.
    await p.setRequestInterception(true)
    p.on('request', (req) => {
      if (req.url().split('#')[0] === pageUrl) void req.respond({ status: 200, contentType: 'text/html', body: PAGE })
      else void req.continue()
    })
  }
  await p.goto(`${pageUrl}#${encodeURIComponent(JSON.stringify({ ui, code: usedCode }))}`)
  await p.waitForFunction('window.results !== undefined', { timeout: 60_000 })
  const results = (await p.evaluate('window.results')) as Record<string, Seen>
  await p.close()
  return { results, answers: refusals }
}

t.before(async () => {
  n = await startUiNode(t)
  // The UI server's refusals, from its debug log; the rest of the node's lines as usual.
  setLogLevel('debug')
  setLogSink((line) => {
    const m = /UI refused a request\s+module=ui status=(\d+) error=(\S+) method=(\S+) path=(\S+)/.exec(line)
    if (m !== null) refusals.push({ status: Number(m[1]), error: m[2]!, method: m[3]!, path: m[4]! })
    else if (/^(WARN|ERROR)/.test(line)) process.stderr.write(line + '\n')
  })
  page = await servePage()
  t.teardown(() => new Promise<void>((resolve) => page.server.close(() => resolve())))
  browser = await launchChromium(['--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1'])
  t.teardown(() => browser.close())
  // The patient signs in in her browser, as the app does: the code from the link, posted from the UI's own page.
  const own = await browser.newPage()
  await own.goto(n.ui)
  usedCode = await makeSigninCode(n.secret)
  const r = (await own.evaluate(async (code: string) => {
    const res = await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }) })
    const body = (await res.json()) as { token?: string }
    if (body.token !== undefined) sessionStorage.setItem('medrec.session', body.token)
    return { status: res.status, token: body.token }
  }, usedCode)) as { status: number; token?: string }
  if (r.status !== 200 || r.token === undefined) throw new Error(`the patient's own sign-in failed: ${r.status}`)
  token = r.token
  // The same link opened again (history, a shoulder-surfer, a second tab): used.
  const again = (await own.evaluate(async (code: string) => {
    const res = await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ code }) })
    return { status: res.status, body: await res.text() }
  }, usedCode)) as { status: number; body: string }
  if (again.status !== 401 || !again.body.includes('UI_CODE_USED')) throw new Error(`a used code was not refused: ${again.status} ${again.body}`)
  await own.close()
})

for (const where of ['evil.test', '127.0.0.1']) {
  t.test(`a page from ${where === 'evil.test' ? 'another site' : 'another port of 127.0.0.1 (same site)'} gets nothing`, async (t) => {
    const { results, answers } = await attack(browser, `http://${where}:${page.port}/`, n.ui)
    t.notOk(results.failed, 'the page ran')
    // What the page could read: nothing (no CORS header; opaque or a network error).
    // (no-cors ones too: Cross-Origin-Resource-Policy same-origin makes the browser drop even the opaque answer.)
    for (const k of ['session', 'sessionNoCors', 'metrics', 'events', 'share', 'propose', 'fetchJson', 'chainId', 'replay', 'replayJson']) {
      t.ok(results[k]!.error !== undefined || (results[k]!.type === 'opaque' && results[k]!.body === ''), `${k}: the page read nothing`)
    }
    t.equal(results.storage, 'null', "the session token in the UI origin's sessionStorage is out of the page's reach")

    // Why, in the page's order, from the server's log. A request with an Origin header (every
    // cross-origin one but a no-cors GET; CORS preflights too) meets the Origin check; a no-cors
    // GET carries none, and its Sec-Fetch-Site (cross-site, or same-site from another port) gives it away.
    const O = 'FORBIDDEN_ORIGIN'
    const S = 'FORBIDDEN_SITE'
    t.same(
      answers.map((a) => `${a.method} ${a.path} ${a.status} ${a.error}`),
      [
        `GET /api/session 403 ${O}`,
        `GET /api/session 403 ${S}`,
        `GET /api/metrics 403 ${S}`,
        `GET /medrec/events 403 ${S}`,
        `POST /rpc 403 ${O}`,
        `POST /rpc 403 ${O}`,
        `OPTIONS /rpc 403 ${O}`,
        `OPTIONS /rpc 403 ${O}`,
        `POST /api/session 403 ${O}`,
        `OPTIONS /api/session 403 ${O}`,
      ],
      'each request refused by the check meant for it (the share, the vote, the JSON calls\' preflights, the replayed code)',
    )
  })
}

t.test('DNS rebinding: a page on a rebound name at the UI\'s own port reads nothing', async (t) => {
  const uiPort = new URL(n.ui).port
  const ui = `http://rebind.test:${uiPort}/`
  // Chromium's own Local Network Access checks would stop this page (it came from a "public"
  // server); other browsers, older ones, or a page served from a LAN address are not stopped.
  const b = await launchChromium(['--host-resolver-rules=MAP rebind.test 127.0.0.1', '--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights'])
  t.teardown(() => b.close())
  const { results, answers } = await attack(b, `${ui}cats.html`, ui, { intercept: true })
  t.notOk(results.failed, 'the page ran')
  // Same origin now, so the browser would let it read: the node's Host check is all that stands.
  t.ok(answers.length >= 10, 'the requests reached the node')
  for (const a of answers) t.same([a.status, a.error], [403, 'FORBIDDEN_HOST'], `${a.method} ${a.path}: refused for its Host`)
  t.equal(results.chainId!.status, 403, 'even a chain read')
  t.notMatch(JSON.stringify(results), /"result"|0x539|"token"|"samples"/, 'nothing of the node in what the page read')
})

t.test('afterwards: no vote was cast, and the patient\'s session still works', async (t) => {
  const res = await fetch(n.node.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: await bearer(n.secret) }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'clique_proposals', params: [] }) })
  t.same(((await res.json()) as { result: unknown }).result, {}, 'no proposal: clique_propose never ran')
  const s = await fetch(new URL('/api/session', n.ui), { headers: { authorization: `Bearer ${token}` } })
  t.equal(s.status, 200)
})
