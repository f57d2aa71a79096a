/**
 * One benchmark run: start the cluster, prepare the workload, watch heads and resources, send
 * open loop (warm-up, then the measured window), drain, settle, read the final chain, stop the
 * nodes and write the report.
 */
import { availableParallelism } from 'node:os'
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { analyseRun, type SendRecord } from './analyse.ts'
import { startCluster, type Cluster } from './cluster.ts'
import { finalChain, headAtLeast, sampleResources, watchHeads, type ResourceSampler } from './collect.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { writeReport } from './report.ts'
import { rpc, sleep, toNumber } from './rpc.ts'
import type { BenchConfig, BenchResult } from './types.ts'
import { findWorkload, prepareWorkload, type SignedTx } from './workloads/index.ts'

const log = createLogger('bench:run')
/** At most this many requests in flight: beyond it the harness, not the nodes, would be measured. */
const MAX_IN_FLIGHT = 256
const LATE_MS = 100

/** What to run: the run's own settings as the result records them, and where and how. */
export interface BenchOptions extends Pick<BenchConfig, 'nodes' | 'consensus' | 'period' | 'workload' | 'rate' | 'duration' | 'warmup' | 'senders'> {
  /** Output directory for the report files. */
  out: string
  /** Keep the data dirs (and the node logs in them). */
  keep: boolean
  /** The command line, for the report. */
  command: string
  progress?: (line: string) => void
  /** Aborting stops the nodes at once; the run then fails with INTERRUPTED. */
  signal?: AbortSignal
}

const interrupted = () => new BenchError(BenchErrorCode.INTERRUPTED, 'interrupted: the nodes were stopped')

/** Sends `txs` at `rate` per second from `t0`, each to its node; records every send. */
async function sendOpenLoop(txs: SignedTx[], urls: string[], rate: number, t0: number, onSecond: (s: number) => void, signal: AbortSignal | undefined): Promise<SendRecord[]> {
  const sends: SendRecord[] = []
  const inflight = new Set<Promise<void>>()
  let second = -1
  for (const [j, tx] of txs.entries()) {
    const due = t0 + (j * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    if (signal?.aborted === true) throw interrupted()
    const at = performance.now()
    const s = Math.floor((at - t0) / 1000)
    if (s !== second) onSecond((second = s))
    const rec: SendRecord = { hash: tx.hash, node: tx.node, at, ok: true, late: at - due > LATE_MS }
    sends.push(rec)
    const p = rpc<string>(urls[tx.node]!, 'eth_sendRawTransaction', [tx.raw]).then(
      () => undefined,
      (err: unknown) => {
        rec.ok = false
        // The node's message without the harness's "method to URL" prefix, so equal causes group.
        rec.error = errorMessage(err).replace(/^eth_sendRawTransaction to \S+: /, '')
      },
    )
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    if (inflight.size >= MAX_IN_FLIGHT) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  return sends
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const progress = o.progress ?? (() => {})
  const startedAt = new Date().toISOString()
  const cluster: Cluster = await startCluster({ nodes: o.nodes, consensus: o.consensus, period: o.period, keep: o.keep, progress })
  const urls = cluster.nodes.map((n) => n.url)
  const period = o.period
  const onAbort = () => void cluster.stop()
  o.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    if (o.signal?.aborted === true) throw interrupted()
    const spec = findWorkload(o.workload)
    if (spec === undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `unknown workload "${o.workload}": see \`medrec bench run --help\` for the list`)
    const workload = await prepareWorkload({
      workload: spec,
      chainId: cluster.genesis.chainId,
      urls,
      funderKey: cluster.nodes[0]!.key,
      nodeKeys: cluster.nodes.map((n) => n.key),
      count: Math.ceil(o.rate * (o.warmup + o.duration)),
      senders: o.senders,
      progress,
    })
    const base = toNumber(await rpc<string>(urls[0]!, 'eth_blockNumber'))
    const heads = await watchHeads(cluster.nodes, base)
    let sampler: ResourceSampler | undefined
    try {
      const t0 = performance.now()
      sampler = sampleResources(cluster.nodes.map((n) => n.pid))
      if (!sampler.available) log.warn('no /proc here: node CPU and RSS are not measured')
      if (o.warmup > 0) progress(`warm-up ${o.warmup} s…`)
      let measuring = false
      const sends = await sendOpenLoop(workload.txs, urls, o.rate, t0, (s) => {
        if (s >= o.warmup && !measuring) progress(`sending ${o.rate}/s for ${o.duration} s…`)
        measuring ||= s >= o.warmup
      }, o.signal)

      // Drain: until every accepted transaction is in some node's chain, or three new blocks
      // include none of the rest (they are stuck), or a time cap.
      progress('draining…')
      const accepted = sends.filter((s) => s.ok)
      const isIn = (hash: string) => heads.txAt.some((m) => m.has(hash))
      const cap = performance.now() + Math.max(60, 20 * period) * 1000
      let remaining = accepted.filter((s) => !isIn(s.hash))
      let stuckSince = heads.heads()[0]!
      while (remaining.length > 0 && performance.now() < cap) {
        await sleep(250)
        const before = remaining.length
        remaining = remaining.filter((s) => !isIn(s.hash))
        const head = heads.heads()[0]!
        if (remaining.length < before) stuckSince = head
        else if (head - stuckSince >= 3) break
      }
      if (remaining.length > 0) log.warn('transactions not included when draining ended', { remaining: remaining.length })
      // Settle: two more blocks, so a fork at the tip resolves before the chain is read.
      const settleTo = toNumber(await rpc<string>(urls[0]!, 'eth_blockNumber')) + 2
      await headAtLeast(urls[0]!, settleTo, 'two blocks to settle the tip', Math.max(30, 20 * period) * 1000)
      const chain = await finalChain(urls[0]!, heads, base)
      // Observation ends here, so every recorded time is before `end` (the series covers it).
      heads.close()
      sampler.stop()
      const end = performance.now()
      await heads.settled()

      const a = analyseRun({ t0, end, warmup: o.warmup, duration: o.duration, rate: o.rate, nodes: o.nodes, sends, chain, heads, resources: sampler.samples })
      const result: BenchResult = {
        version: 1,
        config: {
          nodes: o.nodes,
          consensus: o.consensus,
          period: o.period,
          workload: o.workload,
          rate: o.rate,
          duration: o.duration,
          warmup: o.warmup,
          senders: workload.senders,
          contract: workload.contract,
          chainId: cluster.genesis.chainId.toString(),
          gasLimit: cluster.genesis.gasLimit.toString(),
          difficulty: cluster.difficulty?.toString() ?? null,
          topology: 'star',
          command: o.command,
          machine: { cpus: availableParallelism(), platform: process.platform, arch: process.arch, node: process.version, startedAt },
        },
        ...a,
        dataDirs: o.keep ? cluster.nodes.map((n) => n.datadir) : null,
      }
      progress('stopping the nodes…')
      await cluster.stop()
      await writeReport(o.out, result)
      return result
    } finally {
      sampler?.stop()
      heads.close()
    }
  } catch (err) {
    throw o.signal?.aborted === true ? interrupted() : err
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
    await cluster.stop()
    if (o.keep) progress(`data dirs kept in ${cluster.root}`)
    else cluster.remove()
  }
}
