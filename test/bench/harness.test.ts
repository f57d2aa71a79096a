import t from 'tap'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { NOTHING_SELECTOR, type BenchResult } from '../../bench/harness/index.ts'
import { medrec, medrecBatch, tempDir, type CliResult } from '../cli/run-cli.ts'
import { rpc, startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'
import { DEV_MNEMONIC, deriveKey } from '../../node/keys/index.ts'

/**
 * `medrec bench run` as users run it (a real process starting real nodes), then its counts
 * checked against the chain it left behind: one of the kept data dirs is restarted on its own
 * and every block the harness counted is read back with eth_getBlockByNumber.
 */

t.setTimeout(180_000)
// The runs' result directories outlive their tests: the last test compares them.
const results = tempDir('medrec-bench-results-')
t.teardown(() => results.remove())

// The --rpc test's dev node starts with the file, while the first test's run starts its own nodes:
// its start-up then costs that test no time (idle, it seals an empty block a second).
const devDir = tempDir('medrec-bench-rpc-')
const devNode = startNodeProcess(['--dev', '--dev.period', '1'], { datadir: join(devDir.path, 'dev'), timeoutMs: 60_000 })
devNode.catch(() => {}) // a failed start is reported by the test that awaits it
t.teardown(async () => {
  await (await devNode.catch(() => undefined))?.kill()
  devDir.remove()
})

interface RpcBlock { hash: string; transactions: string[] }
const polylines = (svg: string): string[] => [...svg.matchAll(/<polyline\b[^>]*\bpoints="([^"]*)"/g)].map((m) => m[1]!)

t.test('bench run: 2 PoA nodes, transfers; the counted blocks match the chain', async (t) => {
  const tmp = tempDir('medrec-bench-test-')
  const out = join(results.path, 'poa2')
  let node: NodeProcess | undefined
  let kept: string | undefined
  t.teardown(async () => {
    await node?.kill()
    if (kept !== undefined) rmSync(kept, { recursive: true, force: true })
    tmp.remove()
  })
  const r = await medrec(['bench', 'run', '--nodes', '2', '--consensus', 'poa', '--period', '1', '--workload', 'transfer', '--rate', '10', '--duration', '4', '--warmup', '1', '--confirmations', '3', '--out', out, '--keep', '--json'])
  t.equal(r.code, 0, `exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  for (const line of ['starting 2 nodes', 'warm-up 1 s…', 'sending 10/s for 4 s…', 'draining…', 'data dirs kept in']) t.match(r.stderr, line, `progress: ${line}`)

  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as BenchResult
  t.same(JSON.parse(r.stdout), result.summary, '--json prints the summary written to result.json')
  const s = result.summary
  t.same([result.config.nodes, result.config.consensus, result.config.period, result.config.rate, result.config.duration, result.config.warmup], [2, 'poa', 1, 10, 4, 1], 'the config is recorded')
  t.equal(s.total.sent, 50, '10/s for 1 + 4 s is 50 transactions')
  t.equal(s.total.accepted, 50, 'the nodes accepted all of them')
  t.equal(s.total.neverIncluded, 0, 'and all reached the chain')
  t.ok(s.submitted >= 39 && s.submitted <= 41, `about 40 sent in the measured window (${s.submitted})`)
  t.equal(s.latencyMs.count, s.submittedIncluded, 'one latency per included transaction of the window')
  t.ok(s.latencyMs.min > 0 && s.latencyMs.p50 <= s.latencyMs.p99 && s.latencyMs.p99 <= s.latencyMs.max, 'latencies are positive and ordered')
  t.ok(s.latencyMs.max < 10_000, `latencies are in block times, not the run's length (max ${s.latencyMs.max} ms)`)
  t.equal(s.forks.orphaned, 0, 'no forks between two PoA nodes at this load')

  // The counted blocks against the chain in node 0's data dir, restarted alone.
  t.equal(result.dataDirs?.length, 2, 'both data dirs are listed')
  kept = dirname(result.dataDirs![0]!)
  node = await startNodeProcess(['--p2p.maxpeers', '0'], { datadir: result.dataDirs![0]!, timeoutMs: 60_000 })
  const numbers = result.blocks.map((b) => b.number)
  t.same(numbers, Array.from({ length: numbers.length }, (_, i) => numbers[0]! + i), 'the recorded blocks are consecutive')
  let chainTotal = 0
  let countedOnChain = 0
  for (const b of result.blocks) {
    const onChain = await rpc<RpcBlock | null>(node.url, 'eth_getBlockByNumber', [`0x${b.number.toString(16)}`, false])
    t.ok(onChain !== null, `block ${b.number} is in the kept chain`)
    if (onChain === null) continue
    t.equal(onChain.hash, b.hash, `block ${b.number}: same hash`)
    t.equal(onChain.transactions.length, b.txs, `block ${b.number}: ${b.txs} transactions, as counted`)
    chainTotal += onChain.transactions.length
    if (b.counted) countedOnChain += onChain.transactions.length
  }
  t.equal(chainTotal, 50, 'the blocks since the load started hold exactly the 50 workload transactions')
  t.equal(s.included, countedOnChain, 'included = the transactions of the counted blocks, read from the chain')
  t.ok(s.included > 0, 'some blocks fell in the measured window')
  t.equal(s.blocks, result.blocks.filter((b) => b.counted).length)
  t.ok(Math.abs(s.includedTps - s.included / 4) < 1e-9, 'included tx/s is over the 4 s window')

  // The series adds up to the same blocks.
  const seriesTxs = result.series.reduce((a, p) => a + p.txs, 0)
  t.equal(seriesTxs, result.blocks.filter((b) => b.seenMs !== null).reduce((a, b) => a + b.txs, 0), 'the per-second series holds every seen block')
  t.equal(result.series.reduce((a, p) => a + p.submitted, 0), 50, 'and every send')
  t.same(result.series.slice(0, 5).map((p) => p.phase), ['warmup', 'measure', 'measure', 'measure', 'measure'])
  t.ok(result.series.some((p) => p.cpu.every((c) => c !== null && c > 0)), 'node CPU is sampled')

  // The files a person reads.
  for (const f of ['throughput.svg', 'latency-cdf.svg']) {
    const svg = readFileSync(join(out, f), 'utf8')
    t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${f} is an SVG`)
    t.ok(svg.trimEnd().endsWith('</svg>'), `${f} is closed`)
    const lines = polylines(svg)
    t.equal(lines.length, 1, `${f} has one polyline`)
    t.ok((lines[0] ?? '').split(' ').length >= 2 && /^[\d.]+,[\d.]+( [\d.]+,[\d.]+)*$/.test(lines[0] ?? ''), `${f}: the polyline has points`)
  }
  // K confirmations, propagation, the histogram and the scraped metrics, against the chain.
  const l = s.latencyMs
  const k = s.confirmedLatencyMs
  t.equal(s.confirmations, 3)
  t.equal(k.count, s.submittedIncluded, 'every included transaction of the window reached 3 confirmations (the run settles K−1 blocks)')
  t.ok(k.min >= l.min && k.p50 >= l.p50 && k.p95 >= l.p95 && k.p99 >= l.p99 && k.max >= l.max, `K-confirmation latency is never below inclusion (p50 ${k.p50} vs ${l.p50})`)
  t.ok(k.p50 - l.p50 >= 1000, 'two more 1 s blocks on top take at least a second')
  t.ok(l.p50 <= l.p95 && l.p95 <= l.p99, 'p95 between p50 and p99')
  const seen = result.blocks.filter((b) => b.seenMs !== null)
  t.same(result.propagation.map((p) => p.number), seen.map((b) => b.number), 'a propagation record per seen final-chain block')
  t.ok(result.propagation.every((p) => p.delaysMs.length === 2 && p.delaysMs[p.firstNode] === 0 && p.delaysMs.every((d) => d !== null && d >= 0 && d < 5000)), 'both nodes had every block, within seconds of the first')
  t.ok(s.propagationMs.count >= s.blocks - 1 && s.propagationMs.p50 <= s.propagationMs.p99, `propagation p50 ${s.propagationMs.p50} ms over ${s.propagationMs.count} blocks`)
  const bars = result.blockIntervalHistogram
  t.equal(bars.reduce((a, b) => a + b.count, 0), s.blockIntervalMs.count, 'the histogram holds every interval of the window')
  const histogramSvg = readFileSync(join(out, 'block-intervals.svg'), 'utf8')
  t.equal([...histogramSvg.matchAll(/<rect class="bar"/g)].length, bars.filter((b) => b.count > 0).length, 'block-intervals.svg draws a bar per non-empty bin')
  t.ok(bars.filter((b) => b.count > 0).length > 0, 'and there is at least one')
  t.equal(result.series.filter((p) => p.latencyP50Ms !== null).length > 0, true, 'the per-second latency series has points')
  t.equal(polylines(readFileSync(join(out, 'latency-series.svg'), 'utf8')).length, 1, 'latency-series.svg is drawn')
  t.equal(result.metrics?.length, 2, 'metrics scraped from both nodes')
  const head = result.blocks.at(-1)!.number
  for (const m of result.metrics ?? []) {
    t.ok(m.points.length >= 5, `node ${m.node}: a reading a second (${m.points.length})`)
    const last = m.points.at(-1)!
    t.ok(last.head !== null && last.head <= head && last.head >= head - 1, `node ${m.node}: the scraped head series ends at the chain's head (${last.head} vs ${head})`)
    t.ok(m.points.every((p) => p.peers === 1), `node ${m.node}: one peer throughout`)
    t.ok(m.points.some((p) => p.mempoolPending !== null) && m.points.some((p) => p.eventLoopLagMs !== null), `node ${m.node}: mempool and event-loop lag series`)
  }
  t.ok((result.metrics ?? []).some((m) => m.points.some((p) => p.importMs !== null && p.importMs > 0)), 'import times from the histogram')
  t.equal(polylines(readFileSync(join(out, 'mempool.svg'), 'utf8')).length, 2, 'mempool.svg: a line per node')

  const md = readFileSync(join(out, 'report.md'), 'utf8')
  t.match(md, '| figure | value |', 'report.md has the summary table')
  t.match(md, '| latency submit→3 confirmations p50 / p95 / p99 (ms) |', 'with the K-confirmation latency')
  t.match(md, `| included tx/s | ${s.includedTps.toFixed(1)} |`, 'with the included rate')
  t.match(md, '--workload transfer --rate 10', 'and the command')
})

t.test('bench run --rpc: donothing against a node the harness did not start; every call succeeds on its chain', async (t) => {
  const dev = await devNode
  const keyFile = join(devDir.path, 'key.hex')
  writeFileSync(keyFile, Buffer.from(deriveKey(DEV_MNEMONIC, 0).privateKey).toString('hex') + '\n')
  const out = join(results.path, 'rpc')
  const r = await medrec(['bench', 'run', '--rpc', dev.url, '--rpc.key', keyFile, '--period', '1', '--workload', 'donothing', '--rate', '10', '--duration', '2', '--warmup', '0', '--confirmations', '2', '--out', out])
  t.equal(r.code, 0, `exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  t.match(r.stderr, `running against 1 endpoint (chain id 1337): ${dev.url}`)
  t.notMatch(r.stderr, /starting|warm-up/, 'no nodes started, no warm-up line with --warmup 0')
  t.match(r.stdout, /included tx\/s\s+[\d.]+/, 'the summary table on stdout')
  t.match(r.stdout, /node CPU mean \(% of a core\), per node\s+not measured/, 'CPU is not measured')
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as BenchResult
  const s = result.summary
  t.same([result.config.consensus, result.config.rpc, result.config.nodes, result.config.clients, result.config.rate, result.config.chainId], ['external', [dev.url], 1, null, 10, '1337'])
  t.match(result.config.contract, /^0x[0-9a-f]{40}$/, 'the DoNothing address is recorded')
  t.equal(result.metrics, null, 'no metrics scraped')
  t.same([s.total.sent, s.total.neverIncluded], [20, 0])
  t.equal(s.confirmedLatencyMs.count, s.submittedIncluded, 'K confirmations reached')
  let calls = 0
  for (const b of result.blocks) {
    const full = await rpc<{ hash: string; transactions: Array<{ hash: string; to: string; input: string }> }>(dev.url, 'eth_getBlockByNumber', [`0x${b.number.toString(16)}`, true])
    t.equal(full.hash, b.hash, `block ${b.number}: same hash`)
    t.equal(full.transactions.length, b.txs, `block ${b.number}: ${b.txs} transactions, as counted`)
    for (const tx of full.transactions) {
      const receipt = await rpc<{ status: string }>(dev.url, 'eth_getTransactionReceipt', [tx.hash])
      if (tx.to !== result.config.contract || tx.input !== NOTHING_SELECTOR || receipt.status !== '0x1') t.fail(`${tx.hash}: to ${tx.to}, input ${tx.input}, status ${receipt.status}`)
      else calls++
    }
  }
  t.equal(calls, 20, 'the chain since the load started holds exactly the 20 workload transactions, all successful nothing() calls')
})

t.test('bench run: bad values are usage errors naming the flag, before any node starts', async (t) => {
  const tmp = tempDir('medrec-bench-usage-')
  t.teardown(() => tmp.remove())
  const full = join(tmp.path, 'full')
  mkdirSync(full)
  writeFileSync(join(full, 'result.json'), '{}')
  const cases: Array<[string[], RegExp]> = [
    [['--nodes', '0'], /invalid value for --nodes: expected an integer from 1 to 16, got "0"/],
    [['--nodes', '17'], /--nodes/],
    [['--consensus', 'pbft'], /invalid value for --consensus: expected poa or pow, got "pbft"/],
    [['--workload', 'ycsb'], /invalid value for --workload: expected one of transfer, donothing(, \w+)*, got "ycsb"/],
    [['--rate', '0'], /invalid value for --rate/],
    [['--period', '0'], /invalid value for --period/],
    [['--duration', 'ten'], /invalid value for --duration/],
    [['--warmup', '-1'], /--warmup/],
    [['--rate', '10', '--clients', '4'], /--rate and --clients exclude each other/],
    [['--rpc', 'http://127.0.0.1:1'], /--rpc needs --rpc\.key FILE/],
    [['--rpc.key', full], /--rpc\.key needs --rpc URL/],
    [['--rpc', 'http://127.0.0.1:1', '--rpc.key', join(full, 'result.json')], /invalid value for --rpc\.key: .* must hold one 32-byte private key in hex/],
    [['--rpc', 'http://127.0.0.1:1', '--nodes', '2', '--rpc.key', full], /--nodes cannot be used with --rpc/],
  ]
  // All end in parsing, before any node starts: one process for them (medrecBatch), not one each.
  const batch = await medrecBatch([...cases.map(([args]) => ['bench', 'run', ...args, '--out', join(tmp.path, 'new')]), ['bench', 'run', '--nodes', '2'], ['bench', 'run', '--out', full]])
  for (const [i, [args, error]] of cases.entries()) {
    const r = batch[i]!
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, error)
    t.match(r.stderr, 'Run "medrec bench run --help" for usage.')
  }
  const [missing, taken] = batch.slice(cases.length) as [(typeof batch)[number], (typeof batch)[number]]
  t.equal(missing.code, 2)
  t.match(missing.stderr, 'missing --out DIR')
  t.equal(taken.code, 2)
  t.match(taken.stderr, /--out: .* is not empty/, 'an earlier result is never overwritten')
  t.same(readFileSync(join(full, 'result.json'), 'utf8'), '{}')
})

t.test('bench compare: the two runs side by side, as text, markdown and JSON', async (t) => {
  const dirs = ['poa2', 'rpc'].map((d) => join(results.path, d))
  const read = (d: string) => JSON.parse(readFileSync(join(d, 'result.json'), 'utf8')) as BenchResult
  const [a, b] = dirs.map(read)
  writeFileSync(join(results.path, 'other.json'), '{}')
  mkdirSync(join(results.path, 'alien'))
  writeFileSync(join(results.path, 'alien', 'result.json'), '{"version": 2}')
  // compare only reads result files and prints: one process for the seven cases (medrecBatch).
  const [text, md, json, missing, alien, none, both] = (await medrecBatch([
    ['bench', 'compare', ...dirs],
    ['bench', 'compare', ...dirs, '--markdown'],
    ['bench', 'compare', ...dirs, '--json'],
    ['bench', 'compare', join(results.path, 'nothing-here')],
    ['bench', 'compare', join(results.path, 'alien')],
    ['bench', 'compare'],
    ['bench', 'compare', dirs[0]!, '--markdown', '--json'],
  ])) as [CliResult, CliResult, CliResult, CliResult, CliResult, CliResult, CliResult]
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, /PoA ×2, transfer 10\/s\s+RPC ×1, donothing 10\/s/, 'one column per run')
  t.match(text.stdout, /latency submit→3 confirmations p50 \/ p95 \/ p99 \(ms\)\s+[\d,]+ \/ [\d,]+ \/ [\d,]+/, 'the new figures too (K differs per run: the first run names the row)')
  t.match(text.stdout, /block propagation to other nodes p50 \/ p95 \/ p99 \(ms\)\s+[\d,]+ \/ [\d,]+ \/ [\d,]+\s+n\/a/, 'propagation: n/a with one endpoint')
  t.match(text.stdout, new RegExp(`included tx/s\\s+${a!.summary.includedTps.toFixed(1)}\\s+${b!.summary.includedTps.toFixed(1)}`), 'the figures of each run')
  t.match(md.stdout, '|  | PoA ×2, transfer 10/s | RPC ×1, donothing 10/s |')
  t.match(md.stdout, `1. \`${a!.config.command}\``, 'and the commands that made them')
  t.same(JSON.parse(json.stdout), [a, b].map((r) => ({ config: r!.config, summary: r!.summary })))
  t.equal(missing.code, 1)
  t.match(missing.stderr, /result\.json cannot be read \(ENOENT\): pass directories written by "medrec bench run --out DIR"/)
  t.match(alien.stderr, /is not a "medrec bench run" result \(version 1 with config and summary\)/)
  t.equal(none.code, 2)
  t.match(none.stderr, 'missing DIR')
  t.equal(both.code, 2)
})
