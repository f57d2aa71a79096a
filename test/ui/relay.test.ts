/**
 * POST /api/gatekeeper (node/ui/relay.ts) on a real in-process node with its gatekeeper on HTTP:
 * a key held only in the browser reads its records through the app's origin. The node finds the
 * gatekeeper on chain and passes the reply on untouched; what a hostile page tries gains nothing:
 * a forged or unsigned request, another account's request, an endpoint of its own choosing, an
 * address that is not a relationship, oversize, non-JSON, cross-site bodies, a flood.
 */
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Address } from 'viem'
import { toData } from '../../common/index.ts'
import { createMedRecClient } from '../../contracts/client/index.ts'
import { REGISTRAR_ADDRESS } from '../../contracts/addresses.ts'
import { verifyRecords } from '../../gatekeeper/commitment.ts'
import { decryptWith } from '../../gatekeeper/ecies.ts'
import { DEFAULT_GATEKEEPER } from '../../gatekeeper/options.ts'
import { newRequest, signRequest } from '../../gatekeeper/request-digest.ts'
import type { RecordsPayload } from '../../gatekeeper/serve.ts'
import type { FhirResource } from '../../gatekeeper/types.ts'
import type { NodeConfig } from '../../node/config/index.ts'
import { createDevGenesis, devAccounts } from '../../node/genesis/index.ts'
import { startNode, type RunningNode } from '../../node/node.ts'
import { makeToken } from '../../node/rpc/access.ts'
import { DEFAULT_RPC, DEV_APIS, defaultJwtSecretPath, loadOrCreateJwtSecret } from '../../node/rpc/index.ts'
import { RELAY_BODY_BYTES } from '../../node/ui/relay.ts'
import { tempDir } from '../helpers/node-process.ts'
import { writeApp } from './ui-node.ts'

t.setTimeout(120_000)

const [dev0, alice, mallory] = devAccounts(3) as [{ address: Uint8Array; privateKey: Uint8Array }, { address: Uint8Array; privateKey: Uint8Array }, { address: Uint8Array; privateKey: Uint8Array }]
const CHAIN_ID = 1337n
const obs: FhirResource = { resourceType: 'Observation', id: 'bp-1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic' }] }, valueQuantity: { value: 120, unit: 'mmHg' } }

let node: RunningNode
let ui: string
let rel: Address
let secret: Uint8Array

async function rpc<T>(method: string, params: unknown[]): Promise<T> {
  const res = await fetch(node.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await makeToken(secret)}` }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })
  const body = (await res.json()) as { result?: T; error?: { message: string } }
  if (body.error !== undefined) throw new Error(body.error.message)
  return body.result as T
}

const relay = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${ui}api/gatekeeper`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

/** A records request for pointer 0 of `rel`, all its fields, signed by `key` (as the app does in the browser). */
function recordsRequest(key: Uint8Array, relationship: Address = rel) {
  return signRequest(key, CHAIN_ID, newRequest({ gatekeeper: toData(dev0.address) as Address, method: 'records', relationship, pointerIds: [0n], fieldMasks: [7n] }))
}

t.before(async () => {
  const dir = tempDir('medrec-relay-')
  const datadir = join(dir.path, 'node')
  mkdirSync(datadir, { mode: 0o700 })
  secret = await loadOrCreateJwtSecret(defaultJwtSecretPath(datadir))
  const config: NodeConfig = {
    datadir,
    genesis: createDevGenesis({ period: 0 }),
    rpc: { ...DEFAULT_RPC, port: 0, apis: [...DEV_APIS], jwtSecret: secret, callWorkers: 1 },
    authority: dev0,
    logLevel: 'warn',
    dev: true,
    p2p: undefined,
    gatekeeper: { options: { dir: join(datadir, 'gatekeeper'), k: DEFAULT_GATEKEEPER.k, maxRequestLifetime: DEFAULT_GATEKEEPER.maxRequestLifetime, delegates: false, http: { host: '127.0.0.1', port: 0 } }, account: dev0 },
    ui: { addr: '127.0.0.1', port: 0, vhosts: [...DEFAULT_RPC.vhosts], assetsDir: writeApp(join(dir.path, 'app')) },
    priceLimit: 0n,
  }
  node = await startNode(config)
  t.teardown(async () => {
    await node.close()
    dir.remove()
  })
  ui = node.uiUrl!
  await rpc('medrec_addPatient', [{ identity: 'alice', address: toData(alice.address) }])
  const created = await rpc<{ relationship: Address }>('medrec_addRecord', [{ identity: 'alice', resources: [obs], query: { resourceType: 'Observation', fields: ['status', 'code', 'valueQuantity'] } }])
  rel = created.relationship
  await createMedRecClient({ rpcUrl: node.rpcUrl, privateKey: toData(alice.privateKey) as Address, pollMs: 50 }).summary().accept(rel)
})

t.test('a browser-signed request reaches the gatekeeper found on chain; only its signer reads the reply', async (t) => {
  const res = await relay({ relationship: rel, request: recordsRequest(alice.privateKey) })
  t.equal(res.status, 200)
  const reply = (await res.json()) as { ok: boolean; encrypted: unknown }
  t.equal(reply.ok, true, 'the gatekeeper served it')
  t.throws(() => decryptWith(mallory.privateKey, reply.encrypted), { code: 'GATEKEEPER_DECRYPT_FAILED' }, 'the relayed reply is useless to anyone but the signer')
  const payload = JSON.parse(new TextDecoder().decode(decryptWith(alice.privateKey, reply.encrypted))) as RecordsPayload
  const got = payload.pointers[0]!
  const onChain = await createMedRecClient({ rpcUrl: node.rpcUrl, privateKey: toData(alice.privateKey) as Address }).relationship(rel).pointer(0)
  t.ok(verifyRecords({ fields: ['status', 'code', 'valueQuantity'], resources: got.bundle.entry.map((e) => e.resource as FhirResource), granted: got.fields, proof: got.proof, dataHash: onChain.dataHash }), 'the records verify against the chain')
})

t.test('a forged, unsigned or foreign request gains nothing', async (t) => {
  const forged = recordsRequest(mallory.privateKey)
  const asAlice = { ...forged, from: toData(alice.address) }
  for (const [what, request] of [
    ['signed by mallory, claiming to be alice', asAlice],
    ['unsigned (zero signature)', { ...recordsRequest(alice.privateKey), signature: `0x${'00'.repeat(65)}` }],
    ["mallory's own, on alice's relationship", forged],
  ] as const) {
    const res = await relay({ relationship: rel, request })
    const body = (await res.json()) as { ok?: boolean; encrypted?: unknown; error?: unknown }
    t.not(body.ok, true, `${what}: refused`)
    t.equal(body.encrypted, undefined, `${what}: no records`)
  }
  const mismatch = await relay({ relationship: toData(dev0.address), request: recordsRequest(alice.privateKey) })
  t.equal(mismatch.status, 400, 'a request about another relationship than the one named is not forwarded')
})

t.test('the page cannot choose where the node sends: its endpoint is refused, a non-relationship is refused', async (t) => {
  let hits = 0
  const trap = createServer((_req, res) => {
    hits++
    res.end('{"ok":true,"encrypted":{}}')
  })
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => trap.close(() => r())))
  const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`
  const withEndpoint = await relay({ relationship: rel, request: recordsRequest(alice.privateKey), endpoint: trapUrl })
  t.equal(withEndpoint.status, 400)
  t.match(((await withEndpoint.json()) as { message: string }).message, /unknown key.*endpoint.*found on chain/)
  // A plain account, the Registrar (a contract, not a relationship) and an unused address: never forwarded anywhere.
  for (const address of [toData(mallory.address), REGISTRAR_ADDRESS, '0x0000000000000000000000000000000000001001']) {
    const res = await relay({ relationship: address, request: recordsRequest(alice.privateKey, address as Address) })
    t.equal(res.status, 404, `${address} is not a relationship`)
    t.equal(((await res.json()) as { error: string }).error, 'GATEKEEPER_NOT_FOUND')
  }
  t.equal(hits, 0, 'the page-supplied endpoint was never contacted')
})

t.test('the same refusals as the other API routes: size, type, site, origin, method, rate', async (t) => {
  const big = await relay({ relationship: rel, request: { pad: 'x'.repeat(RELAY_BODY_BYTES) } })
  t.equal(big.status, 413, 'oversize')
  const plain = await fetch(`${ui}api/gatekeeper`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ relationship: rel, request: recordsRequest(alice.privateKey) }) })
  t.equal(plain.status, 415, 'a text/plain (simple cross-origin) body is never read')
  t.equal((await relay({ relationship: rel, request: recordsRequest(alice.privateKey) }, { 'sec-fetch-site': 'cross-site' })).status, 403, 'cross-site')
  t.equal((await relay({ relationship: rel, request: recordsRequest(alice.privateKey) }, { origin: 'http://evil.example' })).status, 403, 'a foreign origin')
  t.equal((await fetch(`${ui}api/gatekeeper`)).status, 405, 'GET')
  t.equal((await relay('not json')).status, 400)
  const statuses: number[] = []
  for (let i = 0; i < 40; i++) statuses.push((await relay({ relationship: 'junk' })).status)
  t.ok(statuses.includes(429), 'a flood is rate-limited')
  const limited = await relay({ relationship: 'junk' })
  t.equal(limited.status, 429)
  t.match(limited.headers.get('retry-after') ?? '', /^[0-9]+$/, 'with Retry-After')
})

