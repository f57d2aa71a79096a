/**
 * The gatekeeper under load: a dev node with --gatekeeper serving one patient's records over
 * HTTP; requests are signed up front (the requester's cost is not the gatekeeper's), then sent
 * by 1 and by 16 concurrent keep-alive clients. Each answer is a full authorised read: signature
 * check, replay check, permission reads on chain state, the SQL query, field commitments,
 * encryption to the requester and an audit append.
 */
import { Agent, request } from 'node:http'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { toHex, type Address, type Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { createMedRecClient } from '../../contracts/client/index.ts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import type { GatekeeperInfo } from '../../gatekeeper/api.ts'
import type { SignedRequestJson } from '../../gatekeeper/types.ts'
import { percentile, type Row } from './report.ts'
import { startNodeProcess, tempDir } from '../harness/process.ts'
import { rpc } from '../harness/rpc.ts'

const MNEMONIC = 'test test test test test test test test test test test junk'

function post(agent: Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, path: '/v1/requests', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function drive(url: URL, bodies: string[], clients: number): Promise<{ seconds: number; latencies: number[]; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients })
  const latencies: number[] = []
  let next = 0
  let failed = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!
        const t0 = performance.now()
        if ((await post(agent, url, body)) !== 200) failed++
        latencies.push(performance.now() - t0)
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  agent.destroy()
  return { seconds, latencies, failed }
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

export async function runGatekeeperBench(o: { requests: number; records: number }): Promise<Row[]> {
  const dir = tempDir('medrec-bench-gk-')
  const prof = process.env.MEDREC_BENCH_CPU_PROF
  const env = prof === undefined ? undefined : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${prof}` }
  const node = await startNodeProcess({ args: ['--dev', '--dev.period', '1', '--log.level', 'warn', '--gatekeeper', '--gatekeeper.http.port', '0'], datadir: dir.path, env })
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
    await drive(url, await sign(50), 4) // warm-up: JIT, caches, connections
    const rows: Row[] = [{ metric: 'records per answer', value: String(o.records) }]
    for (const clients of [1, 16]) {
      const bodies = await sign(clients === 1 ? Math.ceil(o.requests / 4) : o.requests)
      const r = await drive(url, bodies, clients)
      rows.push(
        { metric: `${clients} client(s): authorised requests/s`, value: (bodies.length / r.seconds).toFixed(0) },
        { metric: `${clients} client(s): latency p50 / p99 ms`, value: `${percentile(r.latencies, 50).toFixed(1)} / ${percentile(r.latencies, 99).toFixed(1)}` },
        { metric: `${clients} client(s): refused or failed`, value: String(r.failed) },
      )
    }
    rows.push({ metric: 'secp256k1 recover/s (one core, this process)', value: recoverRate().toFixed(0) })
    return rows
  } finally {
    // A clean stop writes the CPU profile when one was asked for.
    await (prof === undefined ? node.kill() : node.stop())
    dir.remove()
  }
}
