/**
 * `npm run bench -- scale [--patients N] [--join] [--json]`: MedRec at the scale of a health
 * system (issue 23). A 4-authority PoA genesis (plus one funding member); patients onboarded with
 * two providers each, in-process through the real Chain into member 0's data dir (processes would
 * take hours at 100k: the network gossips and seals at 2 s blocks), in full blocks. At each
 * checkpoint (1,000, then ×10 up to N; N itself if smaller) it measures: receipt gas per patient,
 * trie (state) bytes per patient from the trie sublevel, LevelDB size on disk, CPU per block of
 * Chain.produce (execution + state commit + the batch, as an importing node does), and eth_call
 * latency of two typical reads (PPR.canRead, Summary.entries) against a real node process started
 * on the data dir; the gatekeeper's latency (a patient's verified read of her records through the
 * provider's gatekeeper on that node, signed, as `medrec patient fetch` does); and the watch
 * service's CPU per block (gatekeeper/watch.ts following one patient through the node's own RPC
 * methods in-process while the onboarding blocks are committed). Before the onboarding, four
 * authority processes seal a few blocks in which member 1's gatekeeper publishes itself and adds
 * its patient's records (processes: the records and the pointer hash are the gatekeeper's own);
 * the onboarding then goes into member 1's data dir. With --join, at the last checkpoint a fresh
 * full node and a fresh --syncmode snap node join that node (as suites/state-sync.ts). Then it
 * extrapolates to 1M and 10M patients with the model printed beside the figures.
 */
import { loadavg } from 'node:os'
import { join as joinPath } from 'node:path'
import { bytesToHex, type Address as Hex20, type Hex } from 'viem'
import { createMedRecClient, type Rpc } from '../../contracts/client/index.ts'
import { createRpc } from '../../contracts/client/rpc.ts'
import { encodeCall, patientProviderRelationshipAbi, summaryAbi } from '../../contracts/index.ts'
import { errorMessage } from '../../common/errors.ts'
import { setLogLevel } from '../../common/logger.ts'
import { createNotificationLog, createRecordCache } from '../../gatekeeper/cache.ts'
import { createRequester } from '../../gatekeeper/requester.ts'
import { openStateDb } from '../../gatekeeper/state.ts'
import { createWatcher } from '../../gatekeeper/watch.ts'
import { Chain } from '../../node/chain/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { BenchError, BenchErrorCode } from '../harness/errors.ts'
import { createLocalNetwork, gatekeeperArgs, type LocalNetwork, type Member } from '../harness/local-network.ts'
import { freePorts } from '../harness/ports.ts'
import { tempDir } from '../harness/process.ts'
import { rpc, waitFor } from '../harness/rpc.ts'
import { chainRpc, dirBytes, identityOf, onboardPatients, patientKey, scaleRelationship, summaryAddress, trieSize, WATCHED, type ScaleActors } from '../harness/scale-chain.ts'
import { FETCH_RECORDS, provisionGatekeeper, type FetchTarget } from '../harness/workloads/medrec-fetch.ts'
import { percentile, type Row } from './report.ts'
import { timeJoin } from './state-sync.ts'

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')

export interface ScaleCheckpoint {
  patients: number
  blocks: number
  transactions: number
  gasPerPatient: number
  /** Trie sublevel growth since the genesis, per patient (keys + values; includes the last 128 blocks' replaced nodes, --gcmode full). */
  stateBytesPerPatient: number
  trieEntries: number
  leveldbBytes: number
  /** Mean CPU ms of Chain.produce per block over the blocks since the previous checkpoint. */
  cpuMsPerBlock: number
  gasPerBlock: number
  canReadP50Ms: number
  entriesP50Ms: number
  /** The patient's verified record read through the gatekeeper (sign, send, decrypt, check against the chain), sequential. */
  gatekeeperP50Ms: number
  gatekeeperP95Ms: number
  gatekeeperReads: number
  /** The requester's JSON-RPC requests for one read, and the blocks its eth_getLogs covered. */
  gatekeeperRequests: number
  gatekeeperLogBlocks: number
  /** The watch's pass per block since the previous checkpoint: main-thread CPU µs (the watch and the node's RPC methods it calls, one thread) and JSON-RPC requests, for blocks with nothing for the patient and with one change for her. */
  watch: { quietBlocks: number; quietCpuUs: number; quietRequests: number; changeBlocks: number; changeCpuUs: number; changeRequests: number; quietByMethod: Record<string, number> }
  load: string
}

export interface ScaleJoin {
  fullSecs: number
  snapSecs: number
  pivot: string | undefined
  load: string
}

export interface ScaleReport {
  providers: number
  period: number
  checkpoints: ScaleCheckpoint[]
  join: ScaleJoin | undefined
  extrapolation: Array<{ patients: number; stateGB: number; diskGB: number; blocks: number; onboardingDays: number; cpuHoursToReplay: number; fullSyncHours?: number; snapSyncMinutes?: number }>
  model: string[]
}

/** 1,000, 10,000, … up to `n` (and `n`). */
export function checkpoints(n: number): number[] {
  const out: number[] = []
  for (let c = 1000; c < n; c *= 10) out.push(c)
  out.push(n)
  return out
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function callLatency(url: string, to: Hex, data: Hex, n: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await rpc<Hex>(url, 'eth_call', [{ to, data }, 'latest'])
    times.push(performance.now() - t0)
  }
  return p50(times)
}

/** The gatekeeper's member (a provider of every scale patient's first relationship) and its patient's read. */
interface GatekeeperSetup {
  member: number
  /** Its `medrec start` flags: the gatekeeper on a fixed HTTPS port (its URL is published in the Registrar once, while the network seals). */
  args: string[]
  target: FetchTarget
  patientKey: Hex
}

/** Node 1 runs the gatekeeper: the scale providers are members 1 and 2. */
const GK_MEMBER = 1
const GK_IDENTITY = 'scale-gatekeeper-patient'
/** The gatekeeper's patient's key: outside the numbered patients and the watched one. */
const GK_PATIENT = -2

/**
 * Four authority processes seal until member 1's gatekeeper has published itself in the Registrar
 * and holds its patient's records, linked and accepted (the records and their hash on chain are
 * the gatekeeper's own, so this needs the real thing); then all stop, at one head.
 */
async function setUpGatekeeper(net: LocalNetwork, funderKey: Uint8Array, progress: (line: string) => void): Promise<GatekeeperSetup> {
  const [port] = await freePorts(1)
  const gk = net.members[GK_MEMBER]!
  // No anchoring (the node is not sealing when it serves the measured reads), no per-requester limit (200 reads in a row), and
  // relationships from the authority account itself, as the scale chain's providers make them (delegates need other gatekeepers).
  const args = [...gatekeeperArgs(gk).map((a, i, all) => (all[i - 1] === '--gatekeeper.http.port' ? String(port) : a)), '--gatekeeper.ratelimit', '0', '--gatekeeper.delegates=false', '--gatekeeper.audit.anchor-entries', '0', '--gatekeeper.audit.anchor-interval', '0']
  progress('scale: four authorities seal while the gatekeeper publishes itself and adds its patient…')
  try {
    await net.start(0)
    await net.start(GK_MEMBER, { args })
    await net.start(2)
    await net.start(3)
    const url = gk.node!.url
    const gkPatientKey = bytesToHex(patientKey(GK_PATIENT)) as Hex
    const patient = bytesToHex(privateKeyToAddress(patientKey(GK_PATIENT))) as Hex20
    const funder = createMedRecClient({ rpcUrl: url, privateKey: bytesToHex(funderKey) as Hex, pollMs: 200 })
    await funder.transfer(patient, 10n ** 18n)
    const target = await provisionGatekeeper(GK_MEMBER, url, GK_IDENTITY, patient)
    const client = createMedRecClient({ rpcUrl: url, privateKey: gkPatientKey, pollMs: 200 })
    await client.summary().accept(target.relationship)
    const published = await waitFor(async () => {
      const entry = await client.registrar.provider(gk.address)
      return entry.url !== '' ? entry.url : undefined
    }, 'the gatekeeper to publish its URL in the Registrar', 120_000, { everyMs: 500 })
    if (!published.endsWith(`:${port}`)) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the gatekeeper published ${published}, not port ${port}`)
    const at = Number(BigInt(await rpc<string>(url, 'eth_blockNumber')))
    await waitFor(async () => ((await net.heads()).every((h) => h >= at) ? true : undefined), 'every authority to reach the gatekeeper set-up head', 120_000, { everyMs: 200 })
    return { member: GK_MEMBER, args, target, patientKey: gkPatientKey }
  } finally {
    for (const i of [3, 2, 0, GK_MEMBER]) await net.stop(i)
  }
}

/**
 * p50/p95 of `n` sequential verified reads of the gatekeeper patient's records, after `warm`
 * unmeasured ones; with the JSON-RPC requests and eth_getLogs blocks the requester's side of the
 * last read asked for (what grows with the chain if anything scans history).
 */
async function gatekeeperLatency(url: string, chainId: bigint, gk: GatekeeperSetup, n: number, warm: number): Promise<{ p50: number; p95: number; requests: number; logBlocks: number }> {
  const base = createRpc(url, 30_000)
  let requests = 0
  let logBlocks = 0
  const transport: Rpc = {
    request<T>(method: string, params: readonly unknown[]): Promise<T> {
      requests += 1
      if (method === 'eth_getLogs') {
        const f = params[0] as { fromBlock?: Hex; toBlock?: Hex }
        if (f.fromBlock !== undefined && f.toBlock !== undefined) logBlocks += Number(BigInt(f.toBlock) - BigInt(f.fromBlock)) + 1
      }
      return base.request<T>(method, params)
    },
  }
  const requester = createRequester({ client: createMedRecClient({ transport, privateKey: gk.patientKey }), privateKey: gk.patientKey, chainId })
  const times: number[] = []
  for (let i = 0; i < warm + n; i++) {
    requests = 0
    logBlocks = 0
    const t0 = performance.now()
    const res = await requester.fetchRecords(gk.target.relationship, [gk.target.pointerId])
    const ms = performance.now() - t0
    const p = res.pointers.find((x) => x.pointerId === gk.target.pointerId)
    if (p?.status !== 'verified' || p.bundle.entry.length !== FETCH_RECORDS) {
      throw new BenchError(BenchErrorCode.RPC, `gatekeeper read ${i}: ${p === undefined ? 'the pointer is missing' : `records ${p.status}, ${p.bundle.entry.length} of ${FETCH_RECORDS}`}`)
    }
    if (i >= warm) times.push(ms)
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95), requests, logBlocks }
}

/** Reads at the current size through the gatekeeper's member started on its data dir (not sealing); joins if asked. */
async function measureReads(net: LocalNetwork, gk: GatekeeperSetup, providers: Hex20[], patients: number, calls: number, joinAfter: boolean): Promise<{ canRead: number; entries: number; gatekeeper: { p50: number; p95: number; requests: number; logBlocks: number }; join?: ScaleJoin }> {
  const source: Member = await net.start(gk.member, { sealer: false, bootnodes: [], args: gk.args })
  try {
    const url = source.node!.url
    const j = Math.floor(patients / 2)
    const patient = bytesToHex(privateKeyToAddress(patientKey(j))) as Hex20
    const rel = scaleRelationship(providers[0]!, j, 0)
    const canRead = await callLatency(url, rel, encodeCall(patientProviderRelationshipAbi, 'canRead', [patient, 0n, 1n]), calls)
    const entries = await callLatency(url, summaryAddress(patient, identityOf(j)), encodeCall(summaryAbi, 'entries', [0n, 10n]), calls)
    const gatekeeper = await gatekeeperLatency(url, net.genesis.chainId, gk, calls, Math.min(10, calls))
    if (!joinAfter) return { canRead, entries, gatekeeper }
    const head = (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', ['latest', false]))!
    const l = load()
    const full = await timeJoin(net, 5, source.enode!, head.hash, 'full')
    const snap = await timeJoin(net, 6, source.enode!, head.hash, 'snap')
    return { canRead, entries, gatekeeper, join: { fullSecs: full.secs, snapSecs: snap.secs, pivot: snap.pivot, load: `${l} → ${load()}` } }
  } finally {
    await net.stop(gk.member)
  }
}

interface WatchSample {
  change: boolean
  cpuUs: number
  requests: number
  /** Of `cpuUs`, the node's work per JSON-RPC method (µs). */
  byMethod: Map<string, number>
}

/**
 * gatekeeper/watch.ts following the watched patient through the node's own RPC methods over the
 * open chain (in-process: `rebind` points it at the chain of each onboarding run), one pass per
 * committed block, its CPU and JSON-RPC requests counted per pass. Its state database is a
 * temporary one.
 */
async function createWatchProbe(chainId: bigint) {
  const dir = tempDir('medrec-scale-watch-')
  const db = openStateDb(joinPath(dir.path, 'state.sqlite'))
  let target: Rpc | undefined
  let requests = 0
  let byMethod = new Map<string, number>()
  const rpcProxy: Rpc = {
    async request<T>(method: string, params: readonly unknown[]): Promise<T> {
      if (target === undefined) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, 'the watch probe has no chain bound')
      requests += 1
      // Nothing else runs during a pass (the onboarding awaits it), so this is the node's work for the request.
      const c0 = process.threadCpuUsage()
      try {
        return await target.request<T>(method, params)
      } finally {
        const c = process.threadCpuUsage(c0)
        byMethod.set(method, (byMethod.get(method) ?? 0) + c.user + c.system)
      }
    },
  }
  const key = bytesToHex(patientKey(WATCHED)) as Hex
  const client = createMedRecClient({ transport: rpcProxy, privateKey: key })
  const notifications = createNotificationLog(db)
  const watcher = createWatcher({ client, rpc: rpcProxy, requester: createRequester({ client, privateKey: key, chainId }), db, cache: createRecordCache(db), notifications })
  let first = true
  let samples: WatchSample[] = []
  return {
    rebind(rpc: Rpc | undefined) {
      target = rpc
    },
    async onBlock(b: { watchedChange: boolean }): Promise<void> {
      requests = 0
      byMethod = new Map()
      // This thread's CPU only: LevelDB compacts the blocks just committed on threads of its own.
      const c0 = process.threadCpuUsage()
      await watcher.poll()
      const c = process.threadCpuUsage(c0)
      // The first pass reads every entry of her Summary: not a per-block cost.
      if (!first) samples.push({ change: b.watchedChange, cpuUs: c.user + c.system, requests, byMethod })
      first = false
    },
    /** The samples since the last take, checked against what the watch notified. */
    take(): WatchSample[] {
      const kinds = notifications.since(0, 100_000).map((n) => n.kind)
      if (kinds.filter((k) => k === 'relationship-added').length !== 2) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the watch notified ${JSON.stringify(kinds)}: expected her two relationships added (is the watch reading the chain?)`)
      // A change for her (a pointer update of a relationship she has not accepted: no notification)
      // must make the pass read that relationship, so it asks for more than any quiet pass.
      const quiet = Math.max(0, ...samples.filter((x) => !x.change).map((x) => x.requests))
      const missed = samples.filter((x) => x.change && x.requests <= quiet)
      if (missed.length > 0) throw new BenchError(BenchErrorCode.BAD_WORKLOAD, `the watch's pass over ${missed.length} block(s) with a change for the patient made no more requests (${missed[0]!.requests}) than a quiet one (${quiet}): it did not see the change`)
      const out = samples
      samples = []
      return out
    },
    close() {
      db.close()
      dir.remove()
    },
  }
}

function watchFigures(samples: WatchSample[]): ScaleCheckpoint['watch'] {
  const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length)
  const quiet = samples.filter((x) => !x.change)
  const change = samples.filter((x) => x.change)
  return {
    quietBlocks: quiet.length,
    quietCpuUs: mean(quiet.map((x) => x.cpuUs)),
    quietRequests: mean(quiet.map((x) => x.requests)),
    changeBlocks: change.length,
    changeCpuUs: mean(change.map((x) => x.cpuUs)),
    changeRequests: mean(change.map((x) => x.requests)),
    quietByMethod: Object.fromEntries([...new Set(quiet.flatMap((x) => [...x.byMethod.keys()]))].sort().map((m) => [m, mean(quiet.map((x) => x.byMethod.get(m) ?? 0))])),
  }
}

export async function runScaleBench(opts: { patients?: number; join?: boolean; calls?: number; progress?: (line: string) => void } = {}): Promise<ScaleReport> {
  setLogLevel('warn')
  const patients = opts.patients ?? 1000
  const progress = opts.progress ?? (() => {})
  const period = 2
  // Members 0-3 the authorities (0 registers, 1 and 2 are the providers, 1 runs the gatekeeper), 4 funds the patients, 5 and 6 join.
  const net = await createLocalNetwork(7, { authorities: 4, period, logLevel: 'info' })
  const watch = await createWatchProbe(net.genesis.chainId)
  try {
    const g = net.genesis
    if (g.consensus !== 'poa') throw new Error('the scale suite runs under PoA')
    const keys = net.members.map((m) => m.key)
    const actors: ScaleActors = { registrar: keys[0]!, providers: [keys[1]!, keys[2]!], funder: keys[4]!, signerKeys: new Map(net.members.slice(0, 4).map((m) => [m.address.toLowerCase(), m.key])) }
    const providerAddrs = actors.providers.map((k) => bytesToHex(privateKeyToAddress(k)) as Hex20)
    const gk = await setUpGatekeeper(net, keys[4]!, progress)
    const datadir = net.members[gk.member]!.datadir
    const base = await trieSize(datadir)
    const out: ScaleCheckpoint[] = []
    let done = 0
    let blocks = 0
    let txs = 0
    let gas = 0n
    let join: ScaleJoin | undefined
    const marks = checkpoints(patients)
    for (const [ci, mark] of marks.entries()) {
      progress(`scale: onboarding patients ${done}..${mark}…`)
      const chain = await Chain.open(datadir, g, { gcMode: 'full' })
      const transport = chainRpc(chain, g)
      watch.rebind(transport.rpc)
      let s: Awaited<ReturnType<typeof onboardPatients>>
      try {
        s = await onboardPatients(chain, g.chainId, period, g.poa.epoch, actors, done, mark, (b) => watch.onBlock(b))
      } finally {
        watch.rebind(undefined)
        await transport.close()
        await chain.close()
      }
      done = mark
      blocks += s.blocks
      txs += s.transactions
      gas += s.gasUsed
      const trie = await trieSize(datadir)
      const disk = await dirBytes(joinPath(datadir, 'chaindata'))
      progress(`scale: ${mark} patients in ${blocks} blocks; reads through a node and its gatekeeper…`)
      const last = ci === marks.length - 1
      const reads = await measureReads(net, gk, providerAddrs, mark, opts.calls ?? 200, last && opts.join === true)
      if (reads.join !== undefined) join = reads.join
      out.push({
        patients: mark,
        blocks,
        transactions: txs,
        gasPerPatient: Number(gas) / mark,
        stateBytesPerPatient: (trie.bytes - base.bytes) / mark,
        trieEntries: trie.entries,
        leveldbBytes: disk,
        cpuMsPerBlock: s.produceCpuMs / s.blocks,
        gasPerBlock: Number(s.blockGasUsed) / s.blocks,
        canReadP50Ms: reads.canRead,
        entriesP50Ms: reads.entries,
        gatekeeperP50Ms: reads.gatekeeper.p50,
        gatekeeperP95Ms: reads.gatekeeper.p95,
        gatekeeperReads: opts.calls ?? 200,
        gatekeeperRequests: reads.gatekeeper.requests,
        gatekeeperLogBlocks: reads.gatekeeper.logBlocks,
        watch: watchFigures(watch.take()),
        load: load(),
      })
    }
    return { providers: actors.providers.length, period, checkpoints: out, join, ...extrapolate(out, join, period) }
  } catch (err) {
    throw err instanceof BenchError ? err : new BenchError(BenchErrorCode.BAD_WORKLOAD, `scale suite: ${errorMessage(err)}`, undefined, err)
  } finally {
    watch.close()
    await net.close()
  }
}

/** The model: state, disk, blocks and replay linear in patients (from the largest checkpoint); per-block costs constant. */
export function extrapolate(cps: ScaleCheckpoint[], join: ScaleJoin | undefined, period: number): Pick<ScaleReport, 'extrapolation' | 'model'> {
  const c = cps.at(-1)!
  const blocksPerPatient = c.blocks / c.patients
  const model = [
    `state bytes = patients × ${c.stateBytesPerPatient.toFixed(0)} B (trie growth per patient at ${c.patients.toLocaleString('en-US')}); disk = patients × ${(c.leveldbBytes / c.patients).toFixed(0)} B (LevelDB incl. blocks and receipts)`,
    `blocks = patients × ${blocksPerPatient.toFixed(4)} (full ${(c.gasPerBlock / 1e6).toFixed(1)} M-gas blocks, ${c.gasPerPatient.toFixed(0)} gas per patient); onboarding time = blocks × ${period} s`,
    `replay CPU = blocks × ${c.cpuMsPerBlock.toFixed(0)} ms (CPU per block taken as constant; trie depth grows as log16 of the leaves, so it is a lower bound)`,
    ...(join === undefined ? [] : [`full-sync join ∝ blocks (${(join.fullSecs / c.blocks).toFixed(3)} s per block measured); snap-sync join ∝ state bytes (${(join.snapSecs / (c.stateBytesPerPatient * c.patients / 1e6)).toFixed(2)} s per MB of trie measured, process start included)`]),
  ]
  const extrapolation = [c.patients, 100_000, 1_000_000, 10_000_000].map((n) => {
    const blocks = n * blocksPerPatient
    return {
      patients: n,
      stateGB: (n * c.stateBytesPerPatient) / 1e9,
      diskGB: (n * c.leveldbBytes) / c.patients / 1e9,
      blocks: Math.round(blocks),
      onboardingDays: (blocks * period) / 86400,
      cpuHoursToReplay: (blocks * c.cpuMsPerBlock) / 3.6e6,
      ...(join === undefined ? {} : { fullSyncHours: (join.fullSecs * n) / c.patients / 3600, snapSyncMinutes: (join.snapSecs * n) / c.patients / 60 }),
    }
  })
  return { extrapolation, model }
}

const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })

/** The report as the bench tables print it. */
export function scaleRows(r: ScaleReport): Row[] {
  const rows: Row[] = []
  for (const c of r.checkpoints) {
    const at = `${f(c.patients)} patients`
    rows.push(
      { metric: `${at}: blocks, transactions`, value: `${f(c.blocks)}, ${f(c.transactions)}` },
      { metric: `${at}: gas per patient (${r.providers} providers)`, value: f(c.gasPerPatient) },
      { metric: `${at}: state bytes per patient (trie growth)`, value: f(c.stateBytesPerPatient) },
      { metric: `${at}: trie entries; LevelDB on disk`, value: `${f(c.trieEntries)}; ${f(c.leveldbBytes / 1e6, 1)} MB` },
      { metric: `${at}: block CPU (execute + commit), gas per block`, value: `${f(c.cpuMsPerBlock)} ms; ${f(c.gasPerBlock / 1e6, 1)} M` },
      { metric: `${at}: eth_call p50 canRead; Summary.entries`, value: `${f(c.canReadP50Ms, 2)} ms; ${f(c.entriesP50Ms, 2)} ms (load ${c.load})` },
      { metric: `${at}: gatekeeper verified read p50 / p95 (${c.gatekeeperReads} sequential)`, value: `${f(c.gatekeeperP50Ms, 1)} / ${f(c.gatekeeperP95Ms, 1)} ms; per read ${c.gatekeeperRequests} JSON-RPC requests, eth_getLogs over ${c.gatekeeperLogBlocks} block(s)` },
      { metric: `${at}: watch per block, nothing for her: CPU; requests`, value: `${f(c.watch.quietCpuUs)} µs; ${f(c.watch.quietRequests, 1)} (${c.watch.quietBlocks} blocks)` },
      { metric: `${at}: watch per block, nothing for her: CPU by method`, value: Object.entries(c.watch.quietByMethod).map(([m, us]) => `${m} ${f(us)} µs`).join(', ') },
      { metric: `${at}: watch per block, one change for her: CPU; requests`, value: `${f(c.watch.changeCpuUs)} µs; ${f(c.watch.changeRequests, 1)} (${c.watch.changeBlocks} blocks)` },
    )
  }
  if (r.join !== undefined) {
    rows.push({ metric: 'join: full sync; snap sync', value: `${f(r.join.fullSecs, 1)} s; ${f(r.join.snapSecs, 1)} s, pivot ${r.join.pivot ?? 'none (fell back)'} (load ${r.join.load})` })
  }
  for (const e of r.extrapolation) {
    const joins = e.fullSyncHours === undefined ? '' : `, full sync ${f(e.fullSyncHours, 2)} h, snap ${f(e.snapSyncMinutes!, 1)} min`
    rows.push({ metric: `model at ${f(e.patients)} patients`, value: `state ${f(e.stateGB, 2)} GB, disk ${f(e.diskGB, 2)} GB, ${f(e.blocks)} blocks = ${f(e.onboardingDays, 1)} days at ${r.period} s, replay ${f(e.cpuHoursToReplay, 1)} CPU-h${joins}` })
  }
  r.model.forEach((m, i) => rows.push({ metric: `model ${i + 1}`, value: m }))
  return rows
}
