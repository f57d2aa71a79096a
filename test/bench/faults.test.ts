import t from 'tap'
import { createServer, connect, type Socket } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { analyseFaults, faultsMarkdown, parseFaults, throughputSvg, type BenchResult, type FaultLog } from '../../bench/harness/index.ts'
import { startLinkProxy } from '../../bench/harness/proxy.ts'
import { medrec, tempDir } from '../cli/run-cli.ts'

/**
 * --faults: the spec parser (what a run accepts and how it refuses the rest), the cuttable link
 * that makes `isolate` real, the recovery figures on a hand-made series, and one real run in
 * which node 2 of 3 is killed and restarted while the load runs.
 */

t.setTimeout(120_000)

t.test('parseFaults: good specs', async (t) => {
  t.same(parseFaults('kill:2@10+8', 4, 30), [{ kind: 'kill', node: 2, start: 10, length: 8 }], 'one fault')
  t.same(
    parseFaults(' slow:3@5+10, isolate:1@8+6 ,kill:2@1.5+0.5', 4, 30),
    [
      { kind: 'kill', node: 2, start: 1.5, length: 0.5 },
      { kind: 'slow', node: 3, start: 5, length: 10 },
      { kind: 'isolate', node: 1, start: 8, length: 6 },
    ],
    'several, spaces and decimals allowed, sorted by start',
  )
  t.same(parseFaults('slow:0@1+2', 2, 5), [{ kind: 'slow', node: 0, start: 1, length: 2 }], 'node 0 may be slowed')
  t.same(parseFaults('kill:1@0+5', 2, 5), [{ kind: 'kill', node: 1, start: 0, length: 5 }], 'a fault may fill the whole load')
  t.same(parseFaults('kill:1@2+2,kill:1@4+1', 2, 10), [{ kind: 'kill', node: 1, start: 2, length: 2 }, { kind: 'kill', node: 1, start: 4, length: 1 }], 'back to back on one node')
  t.same(parseFaults('kill:1@2+4,isolate:2@3+4', 3, 10).length, 2, 'different nodes may overlap')
  t.same(parseFaults('', 3, 10), [], 'empty: no faults')
})

t.test('parseFaults: bad specs name the bad part', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['kill:2@10', /"kill:2@10" is not kind:node@start\+length/],
    ['kill2@1+1', /"kill2@1\+1" is not kind:node@start\+length/],
    ['kill:-1@1+1', /"kill:-1@1\+1" is not kind:node@start\+length/],
    ['kill:1@1+1,oops', /"oops" is not kind:node@start\+length/],
    ['crash:1@1+1', /"crash:1@1\+1": unknown fault "crash"; expected one of kill, isolate, slow/],
    ['kill:3@1+1', /"kill:3@1\+1": there is no node 3 in a network of 3/],
    ['kill:0@1+1', /"kill:0@1\+1": node 0 cannot be killed: it is every node's bootnode/],
    ['isolate:0@1+1', /"isolate:0@1\+1": node 0 cannot be isolated/],
    ['slow:1@1+0', /"slow:1@1\+0": the length must be above 0 s/],
    ['kill:1@8+3', /"kill:1@8\+3": it ends at 11 s, after the load \(10 s/],
    ['kill:1@2+4,slow:1@5+1', /"slow:1@5\+1" overlaps "kill:1@2\+4" on node 1/],
  ]
  for (const [spec, message] of bad) t.throws(() => parseFaults(spec, 3, 10), { code: 'BENCH_BAD_FAULTS', message }, spec)
})

t.test('bench run --faults: a bad spec is a usage error before any node starts', async (t) => {
  const tmp = tempDir('medrec-faults-usage-')
  t.teardown(() => tmp.remove())
  const r = await medrec(['bench', 'run', '--nodes', '3', '--faults', 'kill:0@1+1', '--out', join(tmp.path, 'out')])
  t.equal(r.code, 2, 'exit 2')
  t.match(r.stderr, /invalid value for --faults: "kill:0@1\+1": node 0 cannot be killed/, 'names the part and why')
  t.notMatch(r.stderr, 'starting', 'no node was started')
  const key = join(tmp.path, 'key.hex')
  writeFileSync(key, '11'.repeat(32) + '\n')
  const rpc = await medrec(['bench', 'run', '--rpc', 'http://127.0.0.1:1', '--rpc.key', key, '--faults', 'kill:1@1+1', '--out', join(tmp.path, 'out')])
  t.equal(rpc.code, 2, 'exit 2 with --rpc')
  t.match(rpc.stderr, '--faults cannot be used with --rpc', 'faults need nodes the harness starts')
})

t.test('link proxy: relays, cuts every socket at once, refuses while cut, heals', async (t) => {
  // An echo server stands in for the bootnode.
  const echo = createServer((s) => s.pipe(s))
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()))
  const target = (echo.address() as { port: number }).port
  const proxy = await startLinkProxy('127.0.0.1', target)
  t.teardown(async () => {
    await proxy.close()
    echo.close()
  })
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect(proxy.port, '127.0.0.1', () => resolve(s))
      s.once('error', reject)
    })
  const roundTrip = (s: Socket, text: string) =>
    new Promise<string>((resolve) => {
      s.once('data', (d) => resolve(d.toString()))
      s.write(text)
    })
  const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())))

  const a = await open()
  t.equal(await roundTrip(a, 'hello'), 'hello', 'bytes go through to the target and back')
  proxy.cutOff()
  t.equal(proxy.cut, true)
  await closed(a)
  t.pass('cutting closes the open connection')
  const b = await open()
  await closed(b)
  t.pass('a new connection is accepted and dropped at once while cut')
  proxy.heal()
  const c = await open()
  t.equal(await roundTrip(c, 'again'), 'again', 'after healing it relays again')
  c.destroy()
})

t.test('analyseFaults: before, during, dip and recovery from a known series', async (t) => {
  // 20 tx/s, a kill of node 1 from 10 s to 14 s: 13/s during, 0 at 14-15, then a catch-up burst.
  const txs = [...Array(10).fill(20), 13, 13, 13, 13, 0, 0, 40, 20, 20, 20, 20, 20, 20, 20, 20, 20]
  const series = txs.map((n, i) => ({ t: i, txs: n }))
  const log: FaultLog = {
    events: [
      { fault: 0, step: 'kill', atMs: 10_000 },
      { fault: 0, step: 'restart', atMs: 14_000 },
      { fault: 0, step: 'up', atMs: 15_500 },
      { fault: 0, step: 'caught-up', atMs: 17_250 },
    ],
    observations: [{ peersMax: null, headAtStart: 10, headAtEnd: null, networkHeadAtStart: 10, networkHeadAtEnd: 14, resent: 3, resentAccepted: 3 }],
    resentHashes: ['0x1', '0x2', '0x3'],
  }
  const T0 = 500
  const sends = [
    { node: 1, at: T0 + 9_900, ok: true }, // before the fault
    { node: 1, at: T0 + 10_100, ok: false },
    { node: 1, at: T0 + 15_400, ok: false }, // still down, restarting
    { node: 1, at: T0 + 15_600, ok: false }, // after 'up': not the fault's doing
    { node: 2, at: T0 + 11_000, ok: false }, // another node
  ]
  const [f] = analyseFaults({ faults: [{ kind: 'kill', node: 1, start: 10, length: 4 }], log, series, sends, t0: T0, loadSeconds: 25, period: 1, finalChain: [{ hash: '0xg', number: 7 }, { hash: '0xh', number: 8 }], blockAt: [new Map(), new Map([['0xh', 1]])] })
  t.equal(f!.label, 'kill:1@10+4')
  t.equal(f!.beforeTps, 20, 'the 10 s before')
  t.equal(f!.duringTps, 13, 'the 4 s during')
  t.equal(f!.windowS, 3, 'three-second windows at a 1 s period')
  t.equal(f!.dipMinTps, 13 / 3, 'the dip: the window [13, 16) of 13, 0, 0')
  t.equal(f!.dipAtS, 13)
  // Windows from 14 s: [14,17) = 13.3, [15,18) = 20 ≥ 18 → back at 15 s, 1 s after the end.
  t.equal(f!.throughputRecoveryS, 1, 'throughput back 1 s after the end')
  t.equal(f!.headRecoveryS, 3.25, 'head caught up 3.25 s after the end')
  t.equal(f!.recoveryS, 3.25, 'recovered: the later of the two')
  t.equal(f!.rejected, 2, 'failed sends to the node from the kill until it was up')
  t.equal(f!.finalHeadLag, 0, 'the node had the final head')
  t.same([f!.resent, f!.resentAccepted], [3, 3])

  const never = analyseFaults({ faults: [{ kind: 'kill', node: 1, start: 10, length: 4 }], log: { events: [], observations: [], resentHashes: [] }, series: series.map((p) => (p.t >= 10 ? { ...p, txs: 5 } : p)), sends: [], t0: 0, loadSeconds: 25, period: 2, finalChain: [{ hash: '0xg', number: 7 }, { hash: '0xh', number: 8 }], blockAt: [new Map(), new Map([['0xg', 1]])] })[0]!
  t.equal(never.windowS, 4, 'windows of two block periods at a 2 s period')
  t.equal(never.throughputRecoveryS, null, 'never back within the load: null')
  t.equal(never.headRecoveryS, null, 'never caught up: null')
  t.equal(never.recoveryS, null)
  t.equal(never.finalHeadLag, 1, 'one block behind the final head')
  t.match(faultsMarkdown([f!, never]).join('\n'), /\| kill:1@10\+4 \| 20\.0 \| 13\.0 \| 4\.3 at 13 s \| 1\.0 s \| 3\.3 s \| 3\.3 s \| 2 \(3 of 3 resent accepted\)/, 'report.md row')
})

t.test('bench run --faults kill:2@4+4: node 2 killed midway comes back and catches up', async (t) => {
  const tmp = tempDir('medrec-faults-run-')
  t.teardown(() => tmp.remove())
  const out = join(tmp.path, 'kill')
  const started = Date.now()
  const r = await medrec(['bench', 'run', '--nodes', '3', '--period', '1', '--rate', '20', '--duration', '20', '--warmup', '1', '--confirmations', '2', '--faults', 'kill:2@4+4', '--out', out])
  t.equal(r.code, 0, `exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`)
  t.match(r.stdout, /fault kill:2@4\+4: tx\/s before \/ dip; recovered after \(throughput, head\)\s+[\d.]+ \/ [\d.]+; [\d.]+ s/, 'the summary on stdout ends with the fault\'s figures')
  // How long the run took is a figure to read, not a pass/fail condition (a loaded machine is slower).
  t.comment(`the run took ${Math.round((Date.now() - started) / 1000)} s`)
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as BenchResult
  t.same(result.config.faults, [{ kind: 'kill', node: 2, start: 4, length: 4 }], 'config.faults holds the parsed spec')
  const f = result.faults?.[0]
  if (f === undefined) return t.fail('no fault report')

  // The events, at the right times.
  const steps = f.events.map((e) => e.step)
  t.same(steps, ['kill', 'restart', 'up', 'resent', 'caught-up'], 'kill, restart, up, resend, caught up, in order')
  const at = (step: string) => f.events.find((e) => e.step === step)!.atMs
  // Never before its time (how late on a loaded machine is a figure, not a condition).
  t.ok(at('kill') >= 3990, `killed at 4 s (${at('kill')} ms)`)
  t.ok(at('restart') >= 7990 && at('restart') > at('kill'), `restarted at 8 s (${at('restart')} ms)`)
  // Generous: a node's start-up takes 1-2 s, much longer on a loaded machine.
  t.ok(at('up') > at('restart') && at('up') < at('restart') + 30_000, `its JSON-RPC listened again ${Math.round(at('up') - at('restart'))} ms later`)
  t.ok(at('caught-up') >= at('up'), 'and it caught up after that')

  // Sends to the dead node: rejected with the error, then sent again.
  const expected = (20 / 3) * ((at('up') - at('kill')) / 1000)
  t.ok(f.rejected > 0.6 * expected && f.rejected < 1.4 * expected + 3, `about a third of 20/s rejected while it was down (${f.rejected}, ~${expected.toFixed(0)})`)
  t.ok(Object.keys(result.summary.rejections).some((m) => /ECONNREFUSED|fetch failed/.test(m)), `rejections name the cause: ${Object.keys(result.summary.rejections).join('; ')}`)
  t.ok(f.resent >= f.rejected && f.resentAccepted >= f.rejected, `sent again when it was back: ${f.resent}, of which it took ${f.resentAccepted} (at least the ${f.rejected} it refused)`)
  const onChain = result.blocks.reduce((a, b) => a + b.txs, 0)
  t.equal(onChain, result.summary.total.sent, `all ${result.summary.total.sent} transactions reached the chain, the refused ones included`)

  // The node came back on its URL: its head watcher (the same ws:// URL) saw it reach the final head.
  // Observation ends the moment node 0 has its head: another node may be one block short then.
  t.ok(f.finalHeadLag !== null && f.finalHeadLag <= 1, `node 2 reached the final head, or the block before (${f.finalHeadLag} behind)`)
  t.equal(typeof f.headRecoveryS, 'number', `head caught up ${f.headRecoveryS} s after the fault`)
  t.ok(f.recoveryS !== null && Number.isFinite(f.recoveryS) && f.recoveryS >= 0, `time to recover is a finite number (${f.recoveryS} s)`)
  t.ok(f.beforeTps !== null && f.beforeTps > 0, `throughput before: ${f.beforeTps?.toFixed(1)} tx/s`)
  t.ok(f.dipMinTps !== null && f.dipAtS !== null && f.dipAtS >= 4, `the dip: ${f.dipMinTps?.toFixed(1)} tx/s at ${f.dipAtS} s`)

  const svg = readFileSync(join(out, 'throughput.svg'), 'utf8')
  const band = /<rect x="([\d.]+)" y="\d+" width="([\d.]+)" height="[\d.]+" fill="#f6d5d5" fill-opacity="0.8" class="fault"\/>/.exec(svg)
  t.ok(band !== null, 'throughput.svg shades the fault')
  t.match(svg, />kill 2</, 'and labels it')
  t.same(throughputSvg(result), svg, 'the chart is the one the result draws')
  const md = readFileSync(join(out, 'report.md'), 'utf8')
  t.match(md, '## Faults', 'report.md has a faults section')
  t.match(md, /\| kill:2@4\+4 \| [\d.]+ \|/, 'with the fault\'s row')
})
