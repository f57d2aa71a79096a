import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createMedRecClient, type MedRecClient } from '../../contracts/client/index.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import { GatekeeperErrorCode } from '../../gatekeeper/errors.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import { certFingerprint, createSelfSigned } from '../../gatekeeper/tls.ts'
import { pinnedRequest } from '../../gatekeeper/tls-pin.ts'
import { rpc, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'

/**
 * The gatekeeper's HTTP API in transit, on real nodes: it speaks TLS only (with its generated
 * development certificate, or the operator's), publishes the certificate's SHA-256 fingerprint in
 * its Registrar entry, and MedRec's requester reads records over HTTPS pinned to that fingerprint.
 * A man in the middle at the published URL, presenting another certificate, is refused before a
 * byte of the request reaches it; plain HTTP to the TLS port gets nothing; an entry that
 * publishes no fingerprint leaves the CA store to judge, which a self-signed certificate fails.
 */

const MNEMONIC = 'test test test test test test test test test test test junk'
const keyOf = (i: number): Hex => toHex(mnemonicToAccount(MNEMONIC, { addressIndex: i }).getHdKey().privateKey!)
const addr = (i: number): Address => mnemonicToAccount(MNEMONIC, { addressIndex: i }).address
const [AUTHORITY, ALICE] = [0, 1] as const
const CHAIN_ID = 1337n
const tmp = tempDir('medrec-tls-')
const dirG = join(tmp.path, 'generated')
const dirS = join(tmp.path, 'supplied')

/** A free TCP port on 127.0.0.1 (released at once for the node to bind). */
async function freePort(): Promise<number> {
  const s = createNetServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** The certificate a TLS server at `url` presents, by fingerprint. */
async function presented(url: string): Promise<string> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      resolve(certFingerprint(s.getPeerX509Certificate()!.raw))
      s.destroy()
    })
    s.on('error', reject)
  })
}

/** A plain HTTP POST (no TLS); what came back, or the error. */
function plainPost(url: string, body: string): Promise<{ status?: number; text?: string; error?: string }> {
  const u = new URL(url)
  return new Promise((resolve) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: '/v1/requests', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode, text }))
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    req.end(body)
  })
}

/**
 * The network between requesters and node S's gatekeeper, at the URL S publishes: honest, it
 * passes bytes through to the gatekeeper (TLS end to end); attacking, it terminates TLS itself
 * with its own certificate and relays what it reads to the real gatekeeper, as a real
 * interceptor would. It counts what it got.
 */
const mitmCert = await createSelfSigned(['localhost', '127.0.0.1'], Date.now() - 60_000, Date.now() + 86_400_000)
const mitmFingerprint = certFingerprint(new X509Certificate(mitmCert.cert).raw)
const path = { mode: 'honest' as 'honest' | 'attack', passed: 0, intercepted: 0, requestBytes: 0, requests: 0, target: 0, targetFingerprint: '0x' as Hex }
const interceptor = createHttpsServer({ cert: mitmCert.cert, key: mitmCert.key }, (req, res) => {
  path.requests++
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    pinnedRequest(`https://127.0.0.1:${path.target}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers: { 'content-type': 'application/json' }, body: Buffer.concat(chunks), fingerprint: path.targetFingerprint, timeoutMs: 10_000 })
      .then((r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.text))
      .catch(() => res.writeHead(502).end())
  })
})
interceptor.on('secureConnection', (s) => {
  s.on('data', (c: Buffer) => (path.requestBytes += c.length))
})
const network = createNetServer((socket: Socket) => {
  if (path.mode === 'attack') {
    path.intercepted++
    return void interceptor.emit('connection', socket)
  }
  path.passed++
  const upstream = netConnect(path.target, '127.0.0.1')
  socket.pipe(upstream).pipe(socket)
  upstream.on('error', () => socket.destroy())
  socket.on('error', () => upstream.destroy())
})
await new Promise<void>((r) => network.listen(0, '127.0.0.1', () => r()))
const publishedUrl = `https://127.0.0.1:${(network.address() as AddressInfo).port}`

// The operator's certificate for node S, and its real listen port behind the network.
const supplied = await createSelfSigned(['localhost', '127.0.0.1'], Date.now() - 60_000, Date.now() + 30 * 86_400_000)
const suppliedFingerprint = certFingerprint(new X509Certificate(supplied.cert).raw)
writeFileSync(join(tmp.path, 'op.crt'), supplied.cert, { mode: 0o600 })
writeFileSync(join(tmp.path, 'op.key'), supplied.key, { mode: 0o600 })
path.target = await freePort()
path.targetFingerprint = suppliedFingerprint

let nodeG: NodeProcess
let nodeS: NodeProcess
let infoG: GatekeeperInfo
let infoS: GatekeeperInfo
const rel: { g?: Address; s?: Address } = {}
let aliceG: MedRecClient
let aliceS: MedRecClient

/** Alice's records at the node's gatekeeper: a relationship she accepted. */
async function provision(node: NodeProcess, alice: MedRecClient): Promise<Address> {
  await rpc(node.url, 'medrec_addPatient', [{ identity: 'alice', address: addr(ALICE) }])
  const obs = { resourceType: 'Observation', id: 'bp-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mmHg' } }
  const added = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'alice', resources: [obs], query: { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity'] } }])
  await alice.summary().accept(added.relationship)
  return added.relationship
}

/** Waits until the node's gatekeeper has published its entry (at start, asynchronously). */
async function publishedEntry(node: NodeProcess, account: string, fingerprint: string | undefined) {
  const client = createMedRecClient({ rpcUrl: node.url, privateKey: keyOf(ALICE), pollMs: 100 })
  await waitFor(async () => (await client.registrar.provider(account)).tlsFingerprint === fingerprint, 'the gatekeeper entry with its fingerprint in the Registrar', 30_000)
  return client.registrar.provider(account)
}

t.before(async () => {
  ;[nodeG, nodeS] = await Promise.all([
    startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', '0'], { datadir: dirG }),
    startNodeProcess(['--dev', '--dev.period', '0', '--gatekeeper', '--gatekeeper.http.port', String(path.target), '--gatekeeper.url', publishedUrl, '--gatekeeper.tls.cert', join(tmp.path, 'op.crt'), '--gatekeeper.tls.key', join(tmp.path, 'op.key')], { datadir: dirS }),
  ])
  ;[infoG, infoS] = await Promise.all([rpc<GatekeeperInfo>(nodeG.url, 'medrec_gatekeeperInfo'), rpc<GatekeeperInfo>(nodeS.url, 'medrec_gatekeeperInfo')])
  aliceG = createMedRecClient({ rpcUrl: nodeG.url, privateKey: keyOf(ALICE), pollMs: 100 })
  aliceS = createMedRecClient({ rpcUrl: nodeS.url, privateKey: keyOf(ALICE), pollMs: 100 })
  ;[rel.g, rel.s] = await Promise.all([provision(nodeG, aliceG), provision(nodeS, aliceS)])
})

t.teardown(async () => {
  await Promise.all([nodeG?.kill(), nodeS?.kill()])
  network.close()
  interceptor.close()
  tmp.remove()
})

t.test('by default the API speaks TLS with the development certificate made at init, whose fingerprint is in the Registrar', async (t) => {
  t.match(infoG.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the URL is https')
  const certPath = join(dirG, 'gatekeeper', 'tls', 'cert.pem')
  t.equal(statSync(certPath).mode & 0o777, 0o600, 'DIR/gatekeeper/tls/cert.pem, 0600')
  t.equal(statSync(join(dirG, 'gatekeeper', 'tls', 'key.pem')).mode & 0o777, 0o600, 'DIR/gatekeeper/tls/key.pem, 0600')
  const onDisk = certFingerprint(new X509Certificate(readFileSync(certPath)).raw)
  t.equal(await presented(infoG.url!), onDisk, 'the server presents that certificate')
  t.equal(infoG.tlsFingerprint, onDisk, 'medrec_gatekeeperInfo names its fingerprint')
  const entry = await publishedEntry(nodeG, infoG.account, onDisk)
  t.equal(entry.url, infoG.url, 'the Registrar entry has the https URL')
  t.equal(entry.tlsFingerprint, onDisk, '…and the fingerprint to pin')
})

t.test("a requester reads records over HTTPS pinned to the Registrar's fingerprint", async (t) => {
  const alice = createRequester({ client: aliceG, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const res = await alice.fetchRecords(rel.g!, undefined, 'http')
  t.equal(res.transport, 'http')
  t.equal(res.pointers[0]?.status, 'verified', 'verified against the hash on chain')
  t.equal(res.pointers[0]?.bundle.entry.length, 1)
})

t.test('plain HTTP to the TLS port gets nothing', async (t) => {
  for (const [name, url] of [['generated', infoG.url!], ['supplied', `https://127.0.0.1:${path.target}`]] as const) {
    const r = await plainPost(url.replace(/^https:/, 'http:'), JSON.stringify({ request: {}, from: addr(ALICE), signature: '0x' }))
    t.ok(r.error !== undefined || (r.status !== undefined && r.status >= 400), `${name}: the exchange fails (${r.error ?? r.status})`)
    t.notMatch(r.text ?? '', /"ok"/, `${name}: no gatekeeper answer in clear`)
  }
})

t.test("the operator's certificate and key are served and published", async (t) => {
  t.equal(infoS.url, publishedUrl, 'the published URL is the one given')
  t.equal(infoS.tlsFingerprint, suppliedFingerprint, "medrec_gatekeeperInfo names the operator's certificate")
  t.equal(await presented(`https://127.0.0.1:${path.target}`), suppliedFingerprint, 'the server presents it')
  const entry = await publishedEntry(nodeS, infoS.account, suppliedFingerprint)
  t.equal(entry.url, publishedUrl)
  t.equal(entry.tlsFingerprint, suppliedFingerprint, 'the Registrar entry pins it')
  t.notOk(statSync(join(dirS, 'gatekeeper', 'tls', 'cert.pem'), { throwIfNoEntry: false }), 'no development certificate is made')
  const alice = createRequester({ client: aliceS, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const passed = path.passed
  const res = await alice.fetchRecords(rel.s!, undefined, 'http')
  t.equal(res.pointers[0]?.status, 'verified', 'read through the published URL, TLS end to end')
  t.ok(path.passed > passed, 'the honest network carried it')
})

t.test('a man in the middle at the published URL, with another certificate, is refused and gets nothing', async (t) => {
  path.mode = 'attack'
  t.teardown(() => void (path.mode = 'honest'))
  // The interceptor works: a client that trusted its certificate would be served through it.
  const trusting = await pinnedRequest(`${publishedUrl}/v1/info`, { method: 'GET', fingerprint: mitmFingerprint, timeoutMs: 10_000 })
  t.equal(trusting.status, 200, 'the interceptor relays to the real gatekeeper')
  const before = { intercepted: path.intercepted, requestBytes: path.requestBytes, requests: path.requests }

  const alice = createRequester({ client: aliceS, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  const refused = await alice.fetchRecords(rel.s!, undefined, 'http').then(
    () => undefined,
    (err: unknown) => err as { code?: string; message?: string },
  )
  t.equal(refused?.code, GatekeeperErrorCode.TLS_PIN_MISMATCH, 'refused by the pin')
  t.match(refused?.message ?? '', new RegExp(`presented a TLS certificate with SHA-256 fingerprint ${mitmFingerprint}, but the Registrar publishes ${suppliedFingerprint}`), 'naming both fingerprints')
  t.match(refused?.message ?? '', /nothing was sent .*retry once the Registrar entry shows the new fingerprint/, 'and what to do')
  t.ok(path.intercepted > before.intercepted, 'the requester did reach the interceptor')
  t.equal(path.requests, before.requests, 'which received no request')
  t.equal(path.requestBytes, before.requestBytes, 'not a byte of application data')

  path.mode = 'honest'
  const res = await alice.fetchRecords(rel.s!, undefined, 'http')
  t.equal(res.pointers[0]?.status, 'verified', 'once the path is honest again, the same requester reads')
})

t.test('an entry without a fingerprint leaves the CA store to judge: a self-signed certificate is refused', async (t) => {
  const authority = createMedRecClient({ rpcUrl: nodeG.url, privateKey: keyOf(AUTHORITY), pollMs: 100 })
  const entry = await authority.registrar.provider(infoG.account)
  t.teardown(() => authority.registrar.setProvider({ name: entry.name, url: entry.url, multiaddr: entry.multiaddr, encryptionKey: entry.encryptionKey, tlsFingerprint: entry.tlsFingerprint }))
  await authority.registrar.setProvider({ name: entry.name, url: entry.url, multiaddr: entry.multiaddr, encryptionKey: entry.encryptionKey })
  t.equal((await authority.registrar.provider(infoG.account)).tlsFingerprint, undefined, 'the entry names no certificate')
  const alice = createRequester({ client: aliceG, privateKey: keyOf(ALICE), chainId: CHAIN_ID })
  await t.rejects(alice.fetchRecords(rel.g!, undefined, 'http'), { code: GatekeeperErrorCode.UNREACHABLE, message: /cannot reach the gatekeeper at https:.*self-signed certificate/ }, 'no pin, no trusted CA: refused')
})
