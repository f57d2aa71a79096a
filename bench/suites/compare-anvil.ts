/**
 * `npm run bench -- compare-anvil`: medrec --dev against anvil (Foundry's dev node, from its npm
 * package, installed on demand) on the same machine in one run, with the ratios medrec/anvil.
 *
 * Calls: the median over `calls` of eth_estimateGas of a storage write (Store.set), eth_call of a
 * 2,000-iteration loop and (over `bigCalls`) eth_estimateGas of an ~11.2M-gas loop, each endpoint
 * fresh. Block building: a burst of `total` ~50k-gas contract writes (each to a fresh slot) from `senders` senders,
 * `inflight` requests outstanding, nonces arriving out of order, 1 s blocks, a 300M gas limit
 * (medrec's dev genesis has it; anvil is given it): included tx/s, the node's CPU per
 * transaction, inclusion latency. Each phase starts a fresh node, so MEDREC_BENCH_CPU_PROF=DIR
 * writes medrec's profiles of the calls to DIR/calls and of the burst to DIR/blocks.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createChainCommon } from '../../evm/index.ts'
import { DEV_GAS_LIMIT } from '../../node/genesis/index.ts'
import { percentile, type Row } from './report.ts'
import { runBurst, startAnvil, timeCalls, LOOP_BIG, LOOP_SMALL, type BurstFigures, type CallFigures, type Endpoint, type TimedCalls } from './compare-anvil-load.ts'
import { ROOT, startNodeProcess, tempDir } from '../harness/process.ts'

export interface CompareAnvilOptions {
  calls: number
  bigCalls: number
  total: number
  senders: number
  inflight: number
  period: number
  /** Which halves to run. */
  phases: ReadonlySet<'calls' | 'blocks'>
}

export const COMPARE_ANVIL_DEFAULTS: Omit<CompareAnvilOptions, 'phases'> = { calls: 15, bigCalls: 15, total: 3_000, senders: 8, inflight: 64, period: 1 }

/** Runs `fn` against a fresh medrec --dev node, then a fresh anvil. */
async function sideBySide<T>(phase: string, period: number, fn: (ep: Endpoint) => Promise<T>): Promise<{ medrec: T; anvil: T }> {
  const dir = tempDir('medrec-bench-anvil-')
  const prof = process.env.MEDREC_BENCH_CPU_PROF
  const profDir = prof === undefined ? undefined : join(prof, phase)
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true })
  const env = profDir === undefined ? undefined : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}` }
  let medrec: T
  // No --rpc.evmtimeout (default 5 s, which the ~11M-gas estimate exceeds): anvil has none, and
  // geth bounds eth_call with it but not eth_estimateGas.
  const args = ['--dev', '--dev.period', String(period), '--rpc.evmtimeout', '0', '--log.level', process.env.MEDREC_BENCH_LOG ?? 'warn']
  const node = await startNodeProcess({ args, datadir: dir.path, env, timeoutMs: 60_000 })
  try {
    process.stderr.write(`  ${phase}: medrec...\n`)
    medrec = await fn({ label: 'medrec', url: node.url, wsUrl: node.wsUrl, pid: node.pid })
  } catch (err) {
    process.stderr.write(`node output (last 40 lines):\n${node.output().split('\n').slice(-40).join('\n')}\n`)
    throw err
  } finally {
    await node.stop()
    dir.remove()
  }
  const anvil = await startAnvil({ blockTime: period, gasLimit: DEV_GAS_LIMIT })
  try {
    process.stderr.write(`  ${phase}: ${anvil.label}...\n`)
    return { medrec, anvil: await fn(anvil) }
  } finally {
    await anvil.stop()
  }
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0))
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`

function callRows(f: { medrec: CallFigures; anvil: CallFigures }, o: CompareAnvilOptions): Row[] {
  const kinds: Array<{ name: string; pick: (c: CallFigures) => TimedCalls; n: number }> = [
    { name: `eth_estimateGas Store.set (median of ${o.calls}, ms)`, pick: (c) => c.estimateWrite, n: o.calls },
    { name: `eth_call ${LOOP_SMALL}-iteration loop (median of ${o.calls}, ms)`, pick: (c) => c.callLoop, n: o.calls },
    { name: `eth_call ${LOOP_BIG}-iteration loop, 12M gas given (median of ${o.bigCalls}, ms)`, pick: (c) => c.callBig, n: o.bigCalls },
    { name: `eth_estimateGas ${LOOP_BIG}-iteration loop (median of ${o.bigCalls}, ms)`, pick: (c) => c.estimateBig, n: o.bigCalls },
  ]
  const rows: Row[] = []
  for (const k of kinds) {
    const m = k.pick(f.medrec)
    const a = k.pick(f.anvil)
    const median = (t: TimedCalls) => percentile(t.ms, 50)
    const range = (t: TimedCalls) => `${ms(Math.min(...t.ms))}–${ms(Math.max(...t.ms))}`
    const failed = (t: TimedCalls) => (t.failed === 0 ? '' : `, ${t.failed} failed: ${t.firstError}`)
    rows.push({ metric: k.name, value: `medrec ${ms(median(m))}, anvil ${ms(median(a))}: ${ratio(median(m), median(a))} (ranges ${range(m)} / ${range(a)}${failed(m)}${failed(a)})` })
    rows.push({ metric: '  process CPU / calls (ms; 10 ms ticks, with the node\'s own background work)', value: `medrec ${ms((m.cpu * 1000) / k.n)}, anvil ${ms((a.cpu * 1000) / k.n)}` })
  }
  const gas = (c: CallFigures) => `${BigInt(c.estimateWrite.answer || '0')} / ${BigInt(c.estimateBig.answer || '0')}`
  rows.push({ metric: 'gas estimated: Store.set / big loop', value: `medrec ${gas(f.medrec)}, anvil ${gas(f.anvil)}` })
  return rows
}

function burstRows(f: { medrec: BurstFigures; anvil: BurstFigures }): Row[] {
  const tps = (b: BurstFigures) => b.included / b.seconds
  const cpuPerTx = (b: BurstFigures) => (b.cpu * 1000) / Math.max(1, b.included)
  const both = (pick: (b: BurstFigures) => string) => `medrec ${pick(f.medrec)}, anvil ${pick(f.anvil)}`
  return [
    { metric: 'included tx/s (first send → head with the last)', value: `${both((b) => tps(b).toFixed(0))}: ${ratio(tps(f.medrec), tps(f.anvil))}` },
    { metric: 'accepted tx/s (first send → last answer)', value: `${both((b) => (b.sent / b.sendSeconds).toFixed(0))}: ${ratio(f.medrec.sent / f.medrec.sendSeconds, f.anvil.sent / f.anvil.sendSeconds)}` },
    { metric: 'included by the last answer (built while taking transactions in)', value: both((b) => `${b.includedWhileSending} (${((100 * b.includedWhileSending) / Math.max(1, b.sent - b.refused)).toFixed(0)}%)`) },
    { metric: 'node CPU per included tx, all threads (ms)', value: `${both((b) => cpuPerTx(b).toFixed(2))}: ${ratio(cpuPerTx(f.medrec), cpuPerTx(f.anvil))}` },
    { metric: 'medrec main thread CPU per included tx (ms)', value: ((f.medrec.cpuMain * 1000) / Math.max(1, f.medrec.included)).toFixed(2) },
    { metric: 'inclusion latency p50 / p99 (ms)', value: `${both((b) => `${b.latencyP50.toFixed(0)} / ${b.latencyP99.toFixed(0)}`)}: p50 ${ratio(f.medrec.latencyP50, f.anvil.latencyP50)}` },
    { metric: 'included / sent (refused)', value: both((b) => `${b.included} / ${b.sent} (${b.refused}${b.firstRefusal === '' ? '' : `, first: ${b.firstRefusal}`})`) },
    { metric: 'blocks with the burst / most txs in one', value: both((b) => `${b.blocks} / ${b.maxPerBlock}`) },
    { metric: 'gas per included tx', value: both((b) => b.gasPerTx.toFixed(0)) },
  ]
}

export async function runCompareAnvil(o: CompareAnvilOptions): Promise<Array<{ title: string; rows: Row[] }>> {
  const store = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/contracts/Store.json'), 'utf8')) as { bytecode: string }).bytecode
  const common = createChainCommon({ chainId: 1337n, period: o.period, epoch: 30000n })
  const out: Array<{ title: string; rows: Row[] }> = []
  if (o.phases.has('calls')) {
    const f = await sideBySide('calls', o.period, (ep) => timeCalls(ep, common, { calls: o.calls, bigCalls: o.bigCalls, storeBytecode: store }))
    out.push({ title: 'Calls, medrec --dev vs anvil, one at a time (client-side time; ratio medrec/anvil)', rows: callRows(f, o) })
  }
  if (o.phases.has('blocks')) {
    const f = await sideBySide('blocks', o.period, (ep) => runBurst(ep, common, { total: o.total, senders: o.senders, inflight: o.inflight }))
    out.push({
      title: `Block building, medrec --dev vs anvil: ${o.total} ~50k-gas contract writes from ${o.senders} senders, ${o.inflight} in flight, nonces out of order, ${o.period} s blocks, ${DEV_GAS_LIMIT / 1_000_000n}M gas limit (ratio medrec/anvil)`,
      rows: burstRows(f),
    })
  }
  return out
}
