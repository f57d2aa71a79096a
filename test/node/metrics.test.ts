import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { newRequest, signRequest } from '../../gatekeeper/request.ts'
import { medrec } from '../cli/run-cli.ts'
import { ROOT, rpc, startNodeProcess, tempDir, waitFor, type NodeProcess } from '../helpers/node-process.ts'
import { pinnedFetch } from '../helpers/gatekeeper-tls.ts'
import { parseExposition, sampleSum, sampleValue, type MetricFamily } from '../../bench/harness/prometheus.ts'

/**
 * `medrec start --dev --metrics` as a real process: what /metrics says is checked against the
 * chain over JSON-RPC, and the whole exposition must pass the strict parser.
 */

const SENDER = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d') // dev account 1
const TO = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' // dev account 2
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

let node: NodeProcess
let metricsUrl: string
let dir: ReturnType<typeof tempDir>

async function scrape(): Promise<Map<string, MetricFamily>> {
  const res = await fetch(metricsUrl)
  if (res.status !== 200) throw new Error(`scrape answered ${res.status}`)
  return parseExposition(await res.text())
}

function transfer(nonce: number): Promise<Hex> {
  return SENDER.signTransaction({ chainId: 1337, type: 'eip1559', to: TO, value: 1n, nonce, gas: 21_000n, maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1n })
}

t.before(async () => {
  dir = tempDir('medrec-metrics-')
  node = await startNodeProcess(['--dev', '--dev.period', '1', '--metrics', '--metrics.port', '0', '--gatekeeper', '--gatekeeper.http.port', '0'], { datadir: dir.path })
  // Logged before the JSON-RPC line the helper waits for.
  const m = /Prometheus metrics listening.*url=(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(node.output())
  if (m === null) throw new Error(`no metrics URL in the log:\n${node.output()}`)
  metricsUrl = m[1]!
})
t.teardown(async () => {
  await node?.stop()
  dir?.remove()
})

t.test('the scrape agrees with the chain, the pool and the node', async (t) => {
  const sent: Hex[] = []
  for (let nonce = 0; nonce < 5; nonce++) {
    const raw = await transfer(nonce)
    sent.push(await rpc<Hex>(node.url, 'eth_sendRawTransaction', [raw]))
  }
  // A nonce gap: queued for good. And a resubmission: refused.
  await rpc(node.url, 'eth_sendRawTransaction', [await transfer(10)])
  await t.rejects(rpc(node.url, 'eth_sendRawTransaction', [await transfer(0)]), 'the same transaction again is refused')
  await waitFor(async () => (await rpc(node.url, 'eth_getTransactionReceipt', [sent[4]])) !== null, 'the transfers to be mined')

  const fams = await waitFor(async () => {
    const f = await scrape()
    return sampleValue(f, 'medrec_mempool_pending') === 0 ? f : undefined
  }, 'the pool to settle')
  const head = Number(BigInt(await rpc<string>(node.url, 'eth_blockNumber')))
  const v = (name: string, labels?: Record<string, string>) => sampleValue(fams, name, labels)

  const scrapedHead = v('medrec_chain_head_number')!
  t.ok(Math.abs(scrapedHead - head) <= 1, `head ${scrapedHead} is eth_blockNumber ${head} within a block`)
  const block = await rpc<{ timestamp: string; totalDifficulty: string }>(node.url, 'eth_getBlockByNumber', [`0x${scrapedHead.toString(16)}`, false])
  t.equal(v('medrec_chain_head_timestamp_seconds'), Number(BigInt(block.timestamp)), 'head timestamp is that block’s')
  t.equal(v('medrec_chain_head_total_difficulty'), Number(BigInt(block.totalDifficulty)), 'total difficulty is that block’s')
  const produced = v('medrec_chain_blocks_produced_total')!
  t.ok(produced > 0 && Math.abs(produced - scrapedHead) <= 1, `a fresh dev chain: every block produced here (${produced}, head ${scrapedHead})`)
  const observed = v('medrec_chain_block_transactions_count')!
  t.ok(Math.abs(observed - produced) <= 1, `one transactions-per-block observation per block (${observed}, ${produced} produced)`)
  t.ok(v('medrec_chain_transactions_total')! >= 5, `the transfers are counted in blocks (${v('medrec_chain_transactions_total')})`)
  t.ok(v('medrec_chain_gas_used_total')! >= 5 * 21_000, 'and their gas')
  t.equal(sampleSum(fams, 'medrec_chain_blocks_imported_total'), 0, 'a lone node imports nothing')

  t.equal(v('medrec_mempool_pending'), 0, 'pending: all mined')
  t.equal(v('medrec_mempool_queued'), 1, 'queued: the nonce-gap transaction')
  t.ok(v('medrec_mempool_transactions_added_total')! >= 6, 'the six accepted transactions were added')
  t.ok(sampleSum(fams, 'medrec_mempool_transactions_refused_total') >= 1, 'the resubmission was refused')

  t.equal(v('medrec_node_info', { engine: 'poa', chain_id: '1337', version: VERSION }), 1, 'node info labels')
  t.equal(v('medrec_sealing_active'), 1, 'eth_mining')
  t.equal(await rpc(node.url, 'eth_mining'), true)
  t.equal(v('medrec_sealing_hashrate'), 0, 'no hashing under PoA')
  t.equal(v('medrec_consensus_signers'), 1, 'one dev signer')
  t.equal(v('medrec_p2p_peers'), 0, 'a dev node is alone')
  t.ok(v('medrec_process_resident_memory_bytes')! > 10_000_000, 'resident memory')
  t.ok(v('medrec_process_cpu_seconds_total')! > 0, 'cpu time')
  t.ok(v('medrec_process_event_loop_lag_max_seconds')! >= 0, 'event-loop lag')
  for (const f of fams.values()) {
    t.ok(f.name.startsWith('medrec_') && f.help !== undefined, `${f.name}: prefixed, with HELP`)
    t.equal(f.name.endsWith('_total'), f.type === 'counter', `${f.name}: a counter's name ends in _total, no other's does`)
  }
})

t.test('gatekeeper requests are counted by method and outcome', async (t) => {
  const info = await rpc<{ url: string; account: Address; tlsFingerprint?: string }>(node.url, 'medrec_gatekeeperInfo')
  const post = (body: unknown) => pinnedFetch(info.tlsFingerprint)(`${info.url}/v1/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await post({ nonsense: true })).status, 400)
  const req = newRequest({ gatekeeper: info.account, method: 'records', relationship: '0x00000000000000000000000000000000000000aa', pointerIds: [0n], fieldMasks: [1n] })
  const key = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a' // dev account 3
  t.equal((await post(signRequest(key, 1337n, req))).status, 404)
  const fams = await scrape()
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'unknown', outcome: 'GATEKEEPER_BAD_REQUEST' }), 1, 'the unparseable request')
  t.equal(sampleValue(fams, 'medrec_gatekeeper_requests_total', { method: 'records', outcome: 'GATEKEEPER_NOT_FOUND' }), 1, 'the records request for a relationship not served here')
  t.equal(sampleValue(fams, 'medrec_gatekeeper_request_duration_seconds_count', { method: 'records' }), 1, 'and its time')
})

t.test('GET /metrics only: content type, HEAD, 404 elsewhere, 405 for other methods', async (t) => {
  const ok = await fetch(metricsUrl)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  await ok.text()
  const head = await fetch(metricsUrl, { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(await head.text(), '', 'HEAD has no body')
  const base = metricsUrl.replace(/\/metrics$/, '')
  for (const path of ['/', '/metricsx', '/metrics/extra', '/debug']) t.equal((await fetch(base + path)).status, 404, `GET ${path}`)
  t.equal((await fetch(`${metricsUrl}?name[]=x`)).status, 200, 'a query string is fine')
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await fetch(metricsUrl, { method, body: method === 'DELETE' ? undefined : 'x' })
    t.equal(r.status, 405, method)
    t.equal(r.headers.get('allow'), 'GET, HEAD')
  }
})

t.test('a metrics port in use or an address not of this host stops the start, naming the flag (exit 1)', async (t) => {
  const port = new URL(metricsUrl).port
  const other = tempDir('medrec-metrics-2-')
  t.teardown(other.remove)
  const inUse = await medrec(['start', '--dev', '--datadir', other.path, '--rpc.port', '0', '--metrics', '--metrics.port', port])
  t.equal(inUse.code, 1, 'exit 1')
  t.match(inUse.stderr, `Error: metrics port 127.0.0.1:${port} is already in use: stop the other process or pass --metrics.port\n`)
  t.equal((await fetch(metricsUrl)).status, 200, 'the first node still serves')
  // 192.0.2.1 is TEST-NET-1: no interface here has it.
  const foreign = await medrec(['start', '--dev', '--datadir', other.path, '--rpc.port', '0', '--metrics', '--metrics.addr', '192.0.2.1', '--metrics.port', '0'])
  t.equal(foreign.code, 1, 'exit 1')
  t.match(foreign.stderr, /Error: cannot serve metrics on 192\.0\.2\.1:0: .*\(check --metrics\.addr\)\n/)
})
