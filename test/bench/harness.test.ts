import t from 'tap'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { NOTHING_SELECTOR, type BenchResult } from '../../node/bench/index.ts'
import { medrec, tempDir } from '../cli/run-cli.ts'
import { rpc, startNodeProcess, type NodeProcess } from '../helpers/node-process.ts'

/**
 * `medrec bench run` as users run it (a real process starting real nodes), then its counts
 * checked against the chain it left behind: one of the kept data dirs is restarted on its own
 * and every block the harness counted is read back with eth_getBlockByNumber.
 */

t.setTimeout(120_000)
// The runs' result directories outlive their tests: the last test compares them.
const results = tempDir('medrec-bench-results-')
t.teardown(() => results.remove())

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
  const r = await medrec(['bench', 'run', '--nodes', '2', '--consensus', 'poa', '--period', '1', '--workload', 'transfer', '--rate', '10', '--duration', '4', '--warmup', '1', '--out', out, '--keep', '--json'])
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
  node = await startNodeProcess(['--nodiscover'], { datadir: result.dataDirs![0]!, timeoutMs: 60_000 })
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
  const md = readFileSync(join(out, 'report.md'), 'utf8')
  t.match(md, '| figure | value |', 'report.md has the summary table')
  t.match(md, `| included tx/s | ${s.includedTps.toFixed(1)} |`, 'with the included rate')
  t.match(md, '--workload transfer --rate 10', 'and the command')
})

t.test('bench run: donothing on one node; every call succeeds on chain', async (t) => {
  const tmp = tempDir('medrec-bench-test-')
  const out = join(results.path, 'dn1')
  let node: NodeProcess | undefined
  let kept: string | undefined
  t.teardown(async () => {
    await node?.kill()
    if (kept !== undefined) rmSync(kept, { recursive: true, force: true })
    tmp.remove()
  })
  const r = await medrec(['bench', 'run', '--nodes', '1', '--period', '1', '--workload', 'donothing', '--rate', '10', '--duration', '2', '--warmup', '0', '--out', out, '--keep'])
  t.equal(r.code, 0, `exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  t.match(r.stdout, /included tx\/s\s+[\d.]+/, 'the summary table on stdout')
  t.notMatch(r.stderr, 'warm-up', 'no warm-up line with --warmup 0')
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as BenchResult
  t.match(result.config.contract, /^0x[0-9a-f]{40}$/, 'the DoNothing address is recorded')
  t.same([result.summary.total.sent, result.summary.total.neverIncluded], [20, 0])
  kept = dirname(result.dataDirs![0]!)
  node = await startNodeProcess(['--nodiscover'], { datadir: result.dataDirs![0]!, timeoutMs: 60_000 })
  let calls = 0
  for (const b of result.blocks) {
    const full = await rpc<{ transactions: Array<{ hash: string; to: string; input: string }> }>(node.url, 'eth_getBlockByNumber', [`0x${b.number.toString(16)}`, true])
    for (const tx of full.transactions) {
      const receipt = await rpc<{ status: string }>(node.url, 'eth_getTransactionReceipt', [tx.hash])
      if (tx.to !== result.config.contract || tx.input !== NOTHING_SELECTOR || receipt.status !== '0x1') t.fail(`${tx.hash}: to ${tx.to}, input ${tx.input}, status ${receipt.status}`)
      else calls++
    }
  }
  t.equal(calls, 20, 'all 20 transactions are successful nothing() calls to the contract')
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
    [['--workload', 'ycsb'], /invalid value for --workload: expected one of transfer, donothing, got "ycsb"/],
    [['--rate', '0'], /invalid value for --rate/],
    [['--period', '0'], /invalid value for --period/],
    [['--duration', 'ten'], /invalid value for --duration/],
    [['--warmup', '-1'], /--warmup/],
  ]
  const results = await Promise.all(cases.map(([args]) => medrec(['bench', 'run', ...args, '--out', join(tmp.path, 'new')])))
  for (const [i, [args, error]] of cases.entries()) {
    const r = results[i]!
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, error)
    t.match(r.stderr, 'Run "medrec bench run --help" for usage.')
  }
  const missing = await medrec(['bench', 'run', '--nodes', '2'])
  t.equal(missing.code, 2)
  t.match(missing.stderr, 'missing --out DIR')
  const taken = await medrec(['bench', 'run', '--out', full])
  t.equal(taken.code, 2)
  t.match(taken.stderr, /--out: .* is not empty/, 'an earlier result is never overwritten')
  t.same(readFileSync(join(full, 'result.json'), 'utf8'), '{}')
})

t.test('bench compare: the two runs side by side, as text, markdown and JSON', async (t) => {
  const dirs = ['poa2', 'dn1'].map((d) => join(results.path, d))
  const read = (d: string) => JSON.parse(readFileSync(join(d, 'result.json'), 'utf8')) as BenchResult
  const [a, b] = dirs.map(read)
  const text = await medrec(['bench', 'compare', ...dirs])
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout, /PoA ×2, transfer 10\/s\s+PoA ×1, donothing 10\/s/, 'one column per run')
  t.match(text.stdout, new RegExp(`included tx/s\\s+${a!.summary.includedTps.toFixed(1)}\\s+${b!.summary.includedTps.toFixed(1)}`), 'the figures of each run')
  const md = await medrec(['bench', 'compare', ...dirs, '--markdown'])
  t.match(md.stdout, '|  | PoA ×2, transfer 10/s | PoA ×1, donothing 10/s |')
  t.match(md.stdout, `1. \`${a!.config.command}\``, 'and the commands that made them')
  const json = await medrec(['bench', 'compare', ...dirs, '--json'])
  t.same(JSON.parse(json.stdout), [a, b].map((r) => ({ config: r!.config, summary: r!.summary })))
  const missing = await medrec(['bench', 'compare', join(results.path, 'nothing-here')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /result\.json cannot be read \(ENOENT\): pass directories written by "medrec bench run --out DIR"/)
  writeFileSync(join(results.path, 'other.json'), '{}')
  mkdirSync(join(results.path, 'alien'))
  writeFileSync(join(results.path, 'alien', 'result.json'), '{"version": 2}')
  const alien = await medrec(['bench', 'compare', join(results.path, 'alien')])
  t.match(alien.stderr, /is not a "medrec bench run" result \(version 1 with config and summary\)/)
  const none = await medrec(['bench', 'compare'])
  t.equal(none.code, 2)
  t.match(none.stderr, 'missing DIR')
  const both = await medrec(['bench', 'compare', dirs[0]!, '--markdown', '--json'])
  t.equal(both.code, 2)
})
