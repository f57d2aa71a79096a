/**
 * The gatekeeper under load: a dev node with --gatekeeper serving one patient's records over
 * HTTP; requests are signed up front (the requester's cost is not the gatekeeper's), then sent
 * by 1 and by 16 concurrent keep-alive clients. Each answer is a full authorised read: signature
 * check, replay check, permission reads on chain state, the SQL query, field commitments,
 * encryption to the requester and an audit append.
 *
 * Beside it, in the same run, the FHIR API with a SMART access token (one launch, then the token
 * reused, as an app does): token check, permission reads on chain state (cached per head), the
 * SQL query, projection to the readable fields, an audit append (group-committed per event-loop
 * turn), a searchset Bundle as JSON. Last, the audit append itself both ways (auditCommitBench).
 */
import { existsSync, readFileSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createMedRecClient } from '../../contracts/client/index.ts'
import { createAuditLog, type AuditInput } from '../../gatekeeper/audit.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { openStateDb } from '../../gatekeeper/state.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import type { SignedRequestJson } from '../../gatekeeper/types.ts'
import { percentile, type Row } from './report.ts'
import { startNodeProcess, tempDir } from '../harness/process.ts'
import { rpc } from '../harness/rpc.ts'
import { registerBenchClient, smartLaunch, type HttpsGet } from './smart-launch.ts'

const MNEMONIC = 'test test test test test test test test test test test junk'

/** One HTTPS exchange over `agent`; `discard`: the body is read and dropped (the load driver's side costs as little as it can). */
function exchange(agent: Agent, url: URL, method: string, headers: Record<string, string>, body?: string, discard = false): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      const chunks: Buffer[] = []
      if (discard) res.resume()
      else res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: discard ? '' : Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

interface BenchRequest {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: string
}

/** `clients` kept-alive connections send all `requests`; each counts as failed unless answered 200. */
async function drive(url: URL, requests: BenchRequest[], clients: number, ca: string): Promise<{ seconds: number; latencies: number[]; failed: number }> {
  // HTTPS as requesters reach it, trusting the gatekeeper's own development certificate; kept-alive connections pay the handshake once.
  const agent = new Agent({ keepAlive: true, maxSockets: clients, ca })
  const latencies: number[] = []
  let next = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests.length) {
        const r = requests[next++]!
        const t0 = performance.now()
        if ((await exchange(agent, new URL(r.path, url), r.method, r.headers, r.body, true)).status !== 200) failed++
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  agent.destroy()
  return { seconds, latencies, failed }
}

/**
 * CPU seconds the node process (all its threads) has used, from /proc (Linux; undefined elsewhere):
 * per read, a figure that holds on a busy machine, where reads/s depends on what else runs.
 */
function cpuSeconds(pid: number): number | undefined {
  const path = `/proc/${pid}/stat`
  if (!existsSync(path)) return undefined
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th (clock ticks, 100 per second).
  const fields = readFileSync(path, 'utf8').slice(readFileSync(path, 'utf8').lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** secp256k1 recoveries per second in this process: the floor a signed request pays. */
function recoverRate(): number {
  const key = secp256k1.utils.randomSecretKey()
  const hashes = Array.from({ length: 300 }, (_, i) => keccak_256(new Uint8Array([i & 255, i >> 8])))
  const sigs = hashes.map((h) => secp256k1.sign(h, key, { prehash: false, format: 'recovered' }))
  const t0 = performance.now()
  for (let i = 0; i < sigs.length; i++) secp256k1.recoverPublicKey(sigs[i]!, hashes[i]!, { prehash: false })
  return sigs.length / ((performance.now() - t0) / 1000)
}

/** `only`: 'fhir' or 'signed' runs that half alone (a profile of one path). */
/**
 * The audit append in this process, on a state database as the node opens it (WAL, synchronous
 * NORMAL): one transaction per entry (`append`, the signed path) against the group commit of 16
 * entries asked for in one turn (`appendSoon`, the FHIR reads), alternated. Wall time counts: the
 * node's one main thread waits out each commit's writes (and the checkpoints they bring) whether
 * or not they cost it CPU.
 */
async function auditCommitBench(): Promise<Row[]> {
  const dir = tempDir('medrec-bench-audit-')
  const db = openStateDb(join(dir.path, 'state.sqlite'))
  try {
    const log = createAuditLog(db)
    const input: AuditInput = { requester: `0x${'ab'.repeat(20)}`, method: 'records', relationship: `0x${'cd'.repeat(20)}`, patient: `0x${'ef'.repeat(20)}`, pointerIds: ['0'], fieldMasks: ['31'], decision: 'granted', reason: 'FHIR search-type Observation (token 0123456789abcdefghijkl, client bench-app)', nonce: '', remote: '' }
    const n = 3200
    const one = async () => {
      for (let i = 0; i < n; i++) log.append(input)
    }
    const grouped = async () => {
      for (let i = 0; i < n; i += 16) await Promise.all(Array.from({ length: 16 }, () => log.appendSoon(input)))
    }
    const time = async (run: () => Promise<void>) => {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await run()
      const c = process.cpuUsage(c0)
      return { wall: ((performance.now() - t0) * 1000) / n, cpu: (c.user + c.system) / n }
    }
    await time(one) // warm-up
    await time(grouped)
    const a = [await time(one), await time(one)]
    const b = [await time(grouped), await time(grouped)]
    const mean = (xs: { wall: number; cpu: number }[], k: 'wall' | 'cpu') => xs.reduce((s, x) => s + x[k], 0) / xs.length
    return [
      { metric: 'audit append, a transaction per entry: wall / CPU µs per entry', value: `${mean(a, 'wall').toFixed(0)} / ${mean(a, 'cpu').toFixed(0)}` },
      { metric: 'audit group commit of 16: wall / CPU µs per entry', value: `${mean(b, 'wall').toFixed(0)} / ${mean(b, 'cpu').toFixed(0)}` },
    ]
  } finally {
    db.close()
    dir.remove()
  }
}

export async function runGatekeeperBench(o: { requests: number; records: number; only?: string }): Promise<Row[]> {
  if (o.only !== undefined && o.only !== 'fhir' && o.only !== 'signed') throw new Error(`gatekeeper bench: --only takes fhir or signed, got "${o.only}"`)
  const dir = tempDir('medrec-bench-gk-')
  const prof = process.env.MEDREC_BENCH_CPU_PROF
  const env = prof === undefined ? undefined : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${prof}` }
  // No per-requester rate limit: every request below is a full read (the limiter answers a flood with cheap 429s, which would flatter the figure).
  const node = await startNodeProcess({ args: ['--dev', '--dev.period', '1', '--log.level', 'warn', '--gatekeeper', '--gatekeeper.http.port', '0', '--gatekeeper.ratelimit', '0'], datadir: dir.path, env })
  try {
    const info = await rpc<GatekeeperInfo>(node.url, 'medrec_gatekeeperInfo')
    const alice = mnemonicToAccount(MNEMONIC, { addressIndex: 1 })
    const aliceKey = toHex(alice.getHdKey().privateKey!) as Hex
    await rpc(node.url, 'medrec_addPatient', [{ identity: 'bench-alice', address: alice.address }])
    const resources = Array.from({ length: o.records }, (_, i) => ({
      resourceType: 'Observation',
      id: `obs-${i}`,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: i % 2 === 0 ? '8480-6' : '4548-4' }] },
      valueQuantity: { value: 100 + i, unit: 'mmHg' },
      effectiveDateTime: '2026-01-01T00:00:00Z',
    }))
    const added = await rpc<{ relationship: Address }>(node.url, 'medrec_addRecord', [{ identity: 'bench-alice', resources }])
    await createMedRecClient({ rpcUrl: node.url, privateKey: aliceKey, pollMs: 100 }).summary().accept(added.relationship)
    const sign = async (n: number): Promise<string[]> => {
      const out: SignedRequestJson[] = []
      for (let i = 0; i < n; i++) {
        const req = newRequest({ gatekeeper: info.account as Address, method: 'records', relationship: added.relationship, pointerIds: [0n], fieldMasks: [0b11111n], ttlSeconds: 300 })
        out.push(signRequest(aliceKey, BigInt(info.chainId), req))
      }
      return out.map((s) => JSON.stringify(s))
    }
    const url = new URL(info.url!)
    const ca = readFileSync(join(dir.path, 'gatekeeper', 'tls', 'cert.pem'), 'utf8')
    const signedRequests = async (n: number): Promise<BenchRequest[]> => (await sign(n)).map((body) => ({ method: 'POST', path: '/v1/requests', headers: { 'content-type': 'application/json' }, body }))
    await drive(url, await signedRequests(50), 4, ca) // warm-up: JIT, caches, connections
    const rows: Row[] = [{ metric: 'records per answer', value: String(o.records) }]
    const measure = async (label: string, clients: number, requests: BenchRequest[]): Promise<void> => {
      const cpu0 = cpuSeconds(node.pid)
      const driver0 = process.cpuUsage()
      const r = await drive(url, requests, clients, ca)
      const driver = process.cpuUsage(driver0)
      const cpu1 = cpuSeconds(node.pid)
      if (cpu0 !== undefined && cpu1 !== undefined) rows.push({ metric: `${label}, ${clients} client(s): node CPU ms per read`, value: (((cpu1 - cpu0) * 1000) / requests.length).toFixed(2) })
      // The load driver shares the machine's cores: what it spends is not the node's to use.
      rows.push({ metric: `${label}, ${clients} client(s): driver CPU ms per read`, value: ((driver.user + driver.system) / 1000 / requests.length).toFixed(2) })
      rows.push(
        { metric: `${label}, ${clients} client(s): authorised reads/s`, value: (requests.length / r.seconds).toFixed(0) },
        { metric: `${label}, ${clients} client(s): latency p50 / p99 ms`, value: `${percentile(r.latencies, 50).toFixed(1)} / ${percentile(r.latencies, 99).toFixed(1)}` },
        { metric: `${label}, ${clients} client(s): refused or failed`, value: String(r.failed) },
      )
    }
    const count = (clients: number) => (clients === 1 ? Math.ceil(o.requests / 4) : o.requests)
    if (o.only !== 'fhir') for (const clients of [1, 16]) await measure('signed request', clients, await signedRequests(count(clients)))

    if (o.only === 'signed') return rows
    // The FHIR API with a SMART token: one launch as the patient, then the token on every read.
    registerBenchClient(dir.path, 'bench-app')
    const launchAgent = new Agent({ ca })
    const send: HttpsGet = (method, u, headers, body) => exchange(launchAgent, new URL(u), method, headers, body)
    const tok = await smartLaunch({ base: url.origin, clientId: 'bench-app', account: alice, scope: 'launch/patient patient/Observation.rs', send })
    launchAgent.destroy()
    const fhirReads = (n: number): BenchRequest[] => Array.from({ length: n }, () => ({ method: 'GET', path: `/fhir/Observation?patient=${encodeURIComponent(tok.patient)}`, headers: { authorization: `Bearer ${tok.access_token}`, accept: 'application/fhir+json' } }))
    await drive(url, fhirReads(50), 4, ca) // warm-up
    for (const clients of [1, 16]) await measure('FHIR search, SMART token', clients, fhirReads(count(clients)))
    rows.push({ metric: 'secp256k1 recover/s (one core, this process)', value: recoverRate().toFixed(0) })
    rows.push(...(await auditCommitBench()))
    return rows
  } finally {
    // A clean stop writes the CPU profile when one was asked for.
    await (prof === undefined ? node.kill() : node.stop())
    dir.remove()
  }
}
