/**
 * One benchmark run: start the cluster, prepare the workload, watch heads and resources, send
 * open loop (warm-up, then the measured window), drain, settle, read the final chain, stop the
 * nodes and write the report.
 */
import { availableParallelism } from 'node:os'
import { errorMessage } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { analyseRun, type SendRecord } from './analyse.ts'
import { startCluster, type Cluster, type ConsensusKind } from './cluster.ts'
import { closedLoopDepth, sendClosedLoop } from './closed-loop.ts'
import { finalChain, headAtLeast, sampleResources, watchHeads, type ResourceSampler } from './collect.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { connectExternal, missingNodeKeys } from './external.ts'
import { startFaults, type FaultRunner } from './fault-runner.ts'
import type { FaultSpec } from './faults.ts'
import { analyseFaults } from './recovery.ts'
import { writeReport } from './report.ts'
import { runRequests, summariseRequests, type RequestRecord } from './requests.ts'
import { rpc, sleep, toNumber } from './rpc.ts'
import { freePorts } from './ports.ts'
import { metricsPoints, scrapeMetrics, type MetricsScraper } from './scrape.ts'
import type { BenchConfig, BenchResult } from './types.ts'
import { findWorkload, prepareWorkload, type SignedTx } from './workloads/index.ts'

const log = createLogger('bench:run')
/** At most this many requests in flight: beyond it the harness, not the nodes, would be measured. */
const MAX_IN_FLIGHT = 256
const LATE_MS = 100

/** What to run: the run's own settings as the result records them, and where and how. */
export interface BenchOptions extends Pick<BenchConfig, 'nodes' | 'period' | 'workload' | 'duration' | 'warmup' | 'senders' | 'confirmations'> {
  consensus: ConsensusKind
  /** Open loop: transactions per second. Exactly one of `rate` and `clients`. */
  rate?: number
  /** Closed loop: clients, each with one transaction in flight until it is included. */
  clients?: number
  /**
   * Run against these endpoints instead of starting nodes (`nodes`, `consensus` are then
   * ignored): HTTP URLs, WebSocket URLs (derived from the HTTP ones if absent), the funding key.
   */
  rpc?: { urls: string[]; wsUrls?: string[]; key: Uint8Array }
  /** Scrape the nodes' Prometheus metrics once a second (default true; never under --rpc). */
  metrics?: boolean
  /** Faults to play on the local network (parseFaults); none under --rpc. */
  faults?: FaultSpec[]
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
async function sendOpenLoop(txs: SignedTx[], urls: string[], rate: number, t0: number, onSecond: (s: number) => void, signal: AbortSignal | undefined, onSent?: (tx: SignedTx, ok: boolean) => void): Promise<SendRecord[]> {
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
      () => onSent?.(tx, true),
      (err: unknown) => {
        rec.ok = false
        // The node's message without the harness's "method to URL" prefix, so equal causes group.
        rec.error = errorMessage(err).replace(/^eth_sendRawTransaction to \S+(?: failed)?: /, '')
        onSent?.(tx, false)
      },
    )
    inflight.add(p)
    void p.finally(() => inflight.delete(p))
    if (inflight.size >= MAX_IN_FLIGHT) await Promise.race(inflight)
  }
  await Promise.all(inflight)
  return sends
}

/** The nodes a run loads: a local cluster it started, or endpoints given with --rpc. */
interface Target {
  nodes: Array<{ url: string; wsUrl: string }>
  /** Node processes to sample (empty under --rpc: not measured). */
  pids: number[]
  chainId: bigint
  gasLimit: bigint
  difficulty: bigint | undefined
  funderKey: Uint8Array
  nodeKeys: Uint8Array[]
  /** Per node, its /metrics URL; null when not scraped. */
  metricsUrls: string[] | null
  cluster: Cluster | undefined
}

/** Blocks to wait for after draining: the tip settles (2) and the last transactions reach K confirmations. */
export const settleBlocks = (confirmations: number): number => Math.max(2, confirmations - 1)

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const progress = o.progress ?? (() => {})
  const startedAt = new Date().toISOString()
  if ((o.rate === undefined) === (o.clients === undefined)) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, 'give exactly one of rate (open loop) and clients (closed loop)')
  const spec = findWorkload(o.workload)
  if (spec === undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `unknown workload "${o.workload}": see \`medrec bench run --help\` for the list`)
  if (o.rpc !== undefined && spec.nodeArgs !== undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `workload "${o.workload}" starts its nodes with its own arguments, which --rpc endpoints do not have: run it on a local network (without --rpc)`)
  const faultSpecs = o.faults ?? []
  if (o.rpc !== undefined && faultSpecs.length > 0) throw new BenchError(BenchErrorCode.BAD_FAULTS, 'faults need the nodes the harness starts: drop --faults or --rpc')
  const external = o.rpc === undefined ? undefined : await connectExternal(o.rpc.urls, o.rpc.wsUrls, o.rpc.key)
  const scrape = external === undefined && o.metrics !== false
  const metricsPorts = scrape ? await freePorts(o.nodes) : []
  const workloadPorts = spec.nodeArgs !== undefined && external === undefined ? await freePorts(o.nodes) : []
  const cluster: Cluster | undefined =
    external === undefined
      ? await startCluster({
          nodes: o.nodes,
          consensus: o.consensus,
          period: o.period,
          keep: o.keep,
          progress,
          links: faultSpecs.some((f) => f.kind === 'isolate'),
          extraArgs: (i, account) => [...(scrape ? ['--metrics', '--metrics.addr', '127.0.0.1', '--metrics.port', String(metricsPorts[i]!)] : []), ...(spec.nodeArgs?.(i, workloadPorts[i]!, account) ?? [])],
        })
      : undefined
  const target: Target =
    cluster !== undefined
      ? {
          nodes: cluster.nodes,
          pids: cluster.nodes.map((n) => n.pid),
          chainId: cluster.genesis.chainId,
          gasLimit: cluster.genesis.gasLimit,
          difficulty: cluster.difficulty,
          funderKey: cluster.nodes[0]!.key,
          nodeKeys: cluster.nodes.map((n) => n.key),
          metricsUrls: scrape ? metricsPorts.map((p) => `http://127.0.0.1:${p}/metrics`) : null,
          cluster,
        }
      : { nodes: external!.nodes, pids: [], chainId: external!.chainId, gasLimit: external!.gasLimit, difficulty: undefined, funderKey: external!.funderKey, nodeKeys: missingNodeKeys(o.workload), metricsUrls: null, cluster: undefined }
  if (external !== undefined) progress(`running against ${external.nodes.length} endpoint${external.nodes.length === 1 ? '' : 's'} (chain id ${external.chainId}): ${external.nodes.map((n) => n.url).join(', ')}`)
  const nodeCount = target.nodes.length
  const urls = target.nodes.map((n) => n.url)
  const period = o.period
  const onAbort = () => void cluster?.stop()
  o.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    if (o.signal?.aborted === true) throw interrupted()
    const seconds = o.warmup + o.duration
    const count = o.clients === undefined ? Math.ceil(o.rate! * seconds) : o.senders * closedLoopDepth(seconds, period, o.consensus === 'pow' || external !== undefined)
    const workload = await prepareWorkload({
      workload: spec,
      chainId: target.chainId,
      urls,
      funderKey: target.funderKey,
      nodeKeys: target.nodeKeys,
      count,
      senders: o.senders,
      progress,
    })
    const base = toNumber(await rpc<string>(urls[0]!, 'eth_blockNumber'))
    const heads = await watchHeads(target.nodes, base)
    let sampler: ResourceSampler | undefined
    let scraper: MetricsScraper | undefined
    let faults: FaultRunner | undefined
    try {
      const t0 = performance.now()
      if (cluster !== undefined && faultSpecs.length > 0) faults = startFaults(cluster, faultSpecs, t0, (hash) => heads.txAt[0]!.has(hash))
      // Read the pids at each sample: a node a fault restarted has a new one.
      sampler = sampleResources(cluster !== undefined ? () => cluster.nodes.map((n) => n.pid) : target.pids)
      if (!sampler.available) log.warn(external !== undefined ? 'node CPU and RSS are not measured under --rpc' : 'no /proc here: node CPU and RSS are not measured')
      if (target.metricsUrls !== null) scraper = scrapeMetrics(target.metricsUrls)
      if (o.warmup > 0) progress(`warm-up ${o.warmup} s…`)
      let measuring = false
      const onSecond = (s: number) => {
        if (s >= o.warmup && !measuring) progress(o.clients === undefined ? `sending ${o.rate}/s for ${o.duration} s…` : `${o.clients} closed-loop clients for ${o.duration} s…`)
        measuring ||= s >= o.warmup
      }
      const windowFrom = t0 + o.warmup * 1000
      const windowTo = t0 + seconds * 1000
      const requestsPlan = workload.requests
      const requestsDone: Promise<RequestRecord[]> = requestsPlan === undefined ? Promise.resolve([]) : runRequests(requestsPlan, windowFrom, windowTo, o.signal)
      const isIncluded = (hash: string, node: number) => heads.txAt[node]!.has(hash)
      const closed =
        o.clients === undefined
          ? undefined
          : await sendClosedLoop({ txs: workload.txs, urls, clients: o.clients, t0, stopAt: windowTo, isIncluded, onSecond, ...(o.signal === undefined ? {} : { signal: o.signal }) })
      const sends = closed?.sends ?? (await sendOpenLoop(workload.txs, urls, o.rate!, t0, onSecond, o.signal, faults?.onSent))
      if (closed !== undefined && closed.exhausted > 0) progress(`${closed.exhausted} of ${o.clients} clients ran out of pre-signed transactions before the end (blocks came faster than --period ${period} s suggests)`)
      const requestRecords = await requestsDone

      // Every fault over and its node caught up (or given up on) first; what a killed node took
      // when it was back drains with the rest.
      const faultLog = await faults?.finish(Math.max(30, 10 * period) * 1000)
      // Drain: until every accepted transaction is in some node's chain, or three new blocks
      // include none of the rest (they are stuck), or a time cap.
      progress('draining…')
      const accepted = [...sends.filter((s) => s.ok), ...(faultLog?.resentHashes.map((hash) => ({ hash })) ?? [])]
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
      // Settle: more blocks, so a fork at the tip resolves and the last transactions reach K
      // confirmations before the chain is read. Endpoints that seal only on new transactions
      // (anvil, geth --dev) make no more blocks: under --rpc this is best effort.
      const settleTo = toNumber(await rpc<string>(urls[0]!, 'eth_blockNumber')) + settleBlocks(o.confirmations)
      const settling = headAtLeast(urls[0]!, settleTo, `${settleBlocks(o.confirmations)} blocks to settle the tip`, Math.max(30, (settleBlocks(o.confirmations) + 10) * period) * 1000)
      if (external === undefined) await settling
      else await settling.catch((err: unknown) => log.warn('the endpoints made no more blocks after the load: the last transactions may lack K confirmations', undefined, errorMessage(err)))
      // The last metrics reading just before the chain is read, so the scraped heads end at (or one block before) it.
      await scraper?.stop()
      const chain = await finalChain(urls[0]!, heads, base)
      // Observation ends here, so every recorded time is before `end` (the series covers it).
      heads.close()
      sampler.stop()
      const end = performance.now()
      await heads.settled()

      const requests = requestsPlan === undefined ? null : summariseRequests(requestsPlan, requestRecords)
      const a = analyseRun({ t0, end, warmup: o.warmup, duration: o.duration, rate: o.rate ?? null, confirmations: o.confirmations, nodes: nodeCount, sends, chain, heads, resources: sampler.samples, requests, ...(requestsPlan === undefined ? {} : { requestRecords }) })
      const result: BenchResult = {
        version: 1,
        config: {
          nodes: nodeCount,
          consensus: external === undefined ? o.consensus : 'external',
          period: o.period,
          workload: o.workload,
          rate: o.rate ?? null,
          clients: o.clients ?? null,
          confirmations: o.confirmations,
          rpc: external === undefined ? null : urls,
          duration: o.duration,
          warmup: o.warmup,
          senders: workload.senders,
          contract: workload.contract,
          chainId: target.chainId.toString(),
          gasLimit: target.gasLimit.toString(),
          difficulty: target.difficulty?.toString() ?? null,
          topology: 'star',
          ...(faultSpecs.length === 0 ? {} : { faults: faultSpecs }),
          command: o.command,
          machine: { cpus: availableParallelism(), platform: process.platform, arch: process.arch, node: process.version, startedAt },
        },
        ...a,
        ...(faultLog === undefined
          ? {}
          : { faults: analyseFaults({ faults: faultSpecs, log: faultLog, series: a.series, sends, t0, loadSeconds: seconds, period, finalChain: chain, blockAt: heads.blockAt }) }),
        metrics: scraper === undefined ? null : scraper.readings.map((r, i) => ({ node: i, url: target.metricsUrls![i]!, points: metricsPoints(r, t0) })),
        dataDirs: o.keep && cluster !== undefined ? cluster.nodes.map((n) => n.datadir) : null,
      }
      if (cluster !== undefined) progress('stopping the nodes…')
      await cluster?.stop()
      await writeReport(o.out, result)
      return result
    } finally {
      faults?.abort()
      sampler?.stop()
      await scraper?.stop()
      heads.close()
    }
  } catch (err) {
    throw o.signal?.aborted === true ? interrupted() : err
  } finally {
    o.signal?.removeEventListener('abort', onAbort)
    if (cluster !== undefined) {
      await cluster.stop()
      if (o.keep) progress(`data dirs kept in ${cluster.root}`)
      else cluster.remove()
    }
  }
}
