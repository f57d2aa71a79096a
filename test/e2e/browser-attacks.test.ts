/**
 * A hostile web page in a real headless Chromium against a real node with its gatekeeper: the
 * patient visits the page, and the page tries to grant itself her records (CSRF: a cross-origin
 * POST the browser sends without a preflight; a CORS-allowed origin without a token; a WebSocket)
 * and to read them through a DNS-rebound name. None may work; afterwards the authenticated RPC
 * shows that no grant was made, and the page reports that it read nothing.
 */
import t from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, HTTPResponse } from 'puppeteer-core'
import { launchChromium } from '../helpers/browser.ts'
import { createTestNetwork, gatekeeperArgs, type TestNetwork } from '../helpers/network.ts'
import { rpc, waitFor, type NodeProcess } from '../helpers/node-process.ts'

t.setTimeout(240_000)

const ATTACKER = '0x90f79bf6eb2c4f870365e785982e1f101e93b906' // dev account 3
const REBIND = 'rebind.test'

/**
 * The attacker's page. It reads its targets from the URL fragment, runs every attack, and leaves
 * what it saw in window.results (what a real page would send home).
 */
const PAGE = `<!doctype html><meta charset="utf-8"><title>cute cats</title><script>
const cfg = JSON.parse(decodeURIComponent(location.hash.slice(1)))
const results = {}
const text = async (p) => { try { const r = await p; return { status: r.status, type: r.type, body: await r.text() } } catch (e) { return { error: String(e) } } }
const ws = (url, payload) => new Promise((resolve) => {
  let s
  try { s = new WebSocket(url) } catch (e) { return resolve({ error: String(e) }) }
  const got = []
  s.onopen = () => s.send(JSON.stringify(payload))
  s.onmessage = (m) => { got.push(m.data); s.close() }
  s.onerror = () => got.push('error')
  s.onclose = (e) => resolve({ code: e.code, got })
})
async function run() {
  const share = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'medrec_share', params: [cfg.share] })
  const read = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'medrec_relationships', params: [{}] })
  if (cfg.mode === 'csrf') {
    // The classic: a "simple" request, sent without asking; its answer is opaque, but the side effect is the point.
    results.textPlain = await text(fetch(cfg.rpc, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: share }))
    results.blob = await text(fetch(cfg.rpc, { method: 'POST', mode: 'no-cors', body: new Blob([share]) }))
    results.form = await text(fetch(cfg.rpc, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: share }))
    // This origin is in --rpc.corsdomain (a dapp the operator allowed): JSON passes, the token is missing.
    results.corsJson = await text(fetch(cfg.rpc, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: share }))
    results.ws = await ws(cfg.ws, JSON.parse(share))
  } else {
    // After rebinding, this page and the node share an origin: only the Host header gives the page away.
    results.read = await text(fetch(cfg.rpc, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: read }))
    results.share = await text(fetch(cfg.rpc, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: share }))
    results.events = await text(fetch(cfg.rpc + '/medrec/events'))
    results.ws = await ws(cfg.ws, JSON.parse(read))
  }
}
run().then(() => { window.results = results }, (e) => { window.results = { failed: String(e) } })
</script><p>Loading cats…</p>`

function servePage(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end(PAGE)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })))
}

interface Seen {
  status?: number
  type?: string
  body?: string
  error?: string
  code?: number
  got?: string[]
}

/** Opens the page in `browser` with `cfg`, waits for its report, and returns it with the node's answers as the browser received them. */
async function visit(browser: Browser, pageUrl: string, cfg: Record<string, unknown>, rpcOrigin: string): Promise<{ results: Record<string, Seen>; answers: { method: string; status: number; contentType: string | undefined }[] }> {
  const page = await browser.newPage()
  const answers: { method: string; status: number; contentType: string | undefined }[] = []
  // The browser's own record of what the node answered (opaque to the page for no-cors requests).
  page.on('response', (r: HTTPResponse) => {
    if (r.url().startsWith(rpcOrigin)) answers.push({ method: r.request().method(), status: r.status(), contentType: r.request().headers()['content-type'] })
  })
  await page.goto(`${pageUrl}#${encodeURIComponent(JSON.stringify(cfg))}`)
  await page.waitForFunction('window.results !== undefined', { timeout: 60_000 })
  const results = (await page.evaluate('window.results')) as Record<string, Seen>
  await page.close()
  return { results, answers }
}

let net: TestNetwork
/** The patient's node: the one her browser can reach on 127.0.0.1. */
let node: NodeProcess
let pagePort: number
let relationship: string
const share = () => ({ relationship, viewer: ATTACKER, items: [{ pointerId: 0, fields: [0] }] })

t.before(async () => {
  const page = await servePage()
  t.teardown(() => new Promise<void>((resolve) => page.server.close(() => resolve())))
  pagePort = page.port
  // A provider (authority, gatekeeper) and the patient's own node with its gatekeeper.
  net = await createTestNetwork(2, { authorities: 1, period: 1 })
  t.teardown(() => net.close())
  const [provider, patient] = net.members as [TestNetwork['members'][number], TestNetwork['members'][number]]
  await net.start(0, { args: gatekeeperArgs(provider) })
  // The patient's operator allowed one browser origin for HTTP (a dapp): it still gets nothing without a token.
  await net.start(1, { sealer: false, args: gatekeeperArgs(patient, ['--rpc.corsdomain', `http://127.0.0.1:${pagePort}`]) })
  node = patient.node!
  await rpc(provider.node!.url, 'medrec_addPatient', [{ identity: 'victim-1980', address: patient.address }])
  const added = await rpc<{ relationship: string }>(provider.node!.url, 'medrec_addRecord', [{ identity: 'victim-1980', resources: [{ resourceType: 'Observation', id: 'hiv-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests' }] }, valueString: 'positive' }] }])
  relationship = added.relationship
  await waitFor(async () => (await rpc<{ relationship: string }[]>(node.url, 'medrec_relationships')).some((r) => r.relationship === relationship.toLowerCase()), "the relationship at the patient's node", 60_000)
  await rpc(node.url, 'medrec_accept', [{ relationship }])
})

t.test('CSRF: a hostile page cannot make the node grant it the records', async (t) => {
  const browser = await launchChromium()
  t.teardown(() => browser.close())
  const rpcOrigin = node.url
  const { results, answers } = await visit(browser, `http://127.0.0.1:${pagePort}/`, { mode: 'csrf', rpc: node.url, ws: node.wsUrl, share: share() }, rpcOrigin)

  // The browser did send the simple requests (no preflight); the node refused them unread.
  const posts = answers.filter((a) => a.method === 'POST')
  t.same(posts.filter((a) => a.contentType !== 'application/json').map((a) => a.status), [415, 415, 415], 'text/plain, typeless Blob and form POSTs reached the node and got 415')
  t.equal(results.textPlain!.type, 'opaque', 'the page could not even see that answer')
  const cors = JSON.parse(results.corsJson!.body!) as { error?: { code: number; message: string } }
  t.equal(cors.error?.code, -32001, 'the CORS-allowed origin with JSON: unauthorized (no token)')
  t.match(cors.error?.message, /Authorization: Bearer/)
  t.equal(results.ws!.got!.includes('error') || results.ws!.code !== 1000, true, 'the WebSocket from the page did not open')
  t.notOk(results.ws!.got!.some((m) => m.includes('grantId')), 'and granted nothing')

  // No grant was made: the patient's own first grant, now, is grant #1 (the contract counts from 1).
  const first = await rpc<{ grantId: number }>(node.url, 'medrec_share', [share()])
  t.equal(first.grantId, 1, 'the payload the page sent was valid, and it is the first grant: the page made none')
})

t.test('DNS rebinding: a page on a rebound name reads nothing', async (t) => {
  // --host-resolver-rules: rebind.test resolves to 127.0.0.1, as after the attacker's DNS flip.
  // --disable-web-security: after a real rebinding the page is served from the node's own origin
  // (rebind.test:8545), so the same-origin policy does not stand in the way; the page here comes
  // from another port, and this flag gives it that same-origin reach. Only the node's Host check is left.
  const browser = await launchChromium([`--host-resolver-rules=MAP ${REBIND} 127.0.0.1`, '--disable-web-security'])
  t.teardown(() => browser.close())
  const rpcPort = new URL(node.url).port
  const rpcUrl = `http://${REBIND}:${rpcPort}`
  const { results, answers } = await visit(browser, `http://${REBIND}:${pagePort}/`, { mode: 'rebind', rpc: rpcUrl, ws: `ws://${REBIND}:${rpcPort}`, share: share() }, rpcUrl)

  t.ok(answers.length >= 3, 'the requests reached the node')
  t.ok(answers.every((a) => a.status === 403), `every one refused with 403 (${answers.map((a) => a.status).join(', ')})`)
  for (const k of ['read', 'share', 'events'] as const) {
    t.equal(results[k]!.status, 403, `${k}: 403`)
    t.match(results[k]!.body, /^invalid host specified: "rebind\.test:\d+" is not in --rpc\.vhosts/, `${k}: the Host refusal`)
    t.notMatch(results[k]!.body, /victim|hiv|positive|relationship"/i, `${k}: no record data`)
  }
  t.notOk(results.ws!.got!.some((m) => m.includes('result')), 'the WebSocket got no answer')
  const grants = await rpc<{ grantId: number }>(node.url, 'medrec_share', [{ ...share(), viewer: '0x15d34aaf54267db7d7c367839aaf71a00a2c6a65' }])
  t.equal(grants.grantId, 2, 'the only grants are the patient\'s own')
})
