/**
 * `npm run bench -- scale [--patients N] [--join] [--json]`: MedRec at the scale of a health
 * system (issue 23). A 4-authority PoA genesis (plus one funding member); patients onboarded with
 * two providers each, in-process through the real Chain into member 0's data dir (processes would
 * take hours at 100k: the network gossips and seals at 2 s blocks), in full blocks. At each
 * checkpoint (1,000, then ×10 up to N; N itself if smaller) it measures: receipt gas per patient,
 * trie (state) bytes per patient from the trie sublevel, LevelDB size on disk, CPU per block of
 * Chain.produce (execution + state commit + the batch, as an importing node does), and eth_call
 * latency of two typical reads (PPR.canRead, Summary.entries) against a real node process started
 * on the data dir. With --join, at the last checkpoint a fresh full node and a fresh
 * --syncmode snap node join that node (as suites/state-sync.ts). Then it extrapolates to 1M and
 * 10M patients with the model printed beside the figures. Not measured: gatekeeper latency and
 * the watch service's CPU per block (see docs/scale.md).
 */
import { loadavg } from 'node:os'
import { join as joinPath } from 'node:path'
import { bytesToHex, type Address as Hex20, type Hex } from 'viem'
import { encodeCall, patientProviderRelationshipAbi, summaryAbi } from '../../contracts/index.ts'
import { setLogLevel } from '../../common/logger.ts'
import { Chain } from '../../node/chain/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { createLocalNetwork, type LocalNetwork } from '../harness/local-network.ts'
import { rpc } from '../harness/rpc.ts'
import { dirBytes, identityOf, onboardPatients, patientKey, scaleRelationship, summaryAddress, trieSize, type ScaleActors } from '../harness/scale-chain.ts'
import type { Row } from './report.ts'
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

/** Reads at the current size through member 0 started on its data dir (not sealing); joins if asked. */
async function measureReads(net: LocalNetwork, providers: Hex20[], patients: number, calls: number, joinAfter: boolean): Promise<{ canRead: number; entries: number; join?: ScaleJoin }> {
  const source = await net.start(0, { sealer: false, bootnodes: [] })
  try {
    const url = source.node!.url
    const j = Math.floor(patients / 2)
    const patient = bytesToHex(privateKeyToAddress(patientKey(j))) as Hex20
    const rel = scaleRelationship(providers[0]!, j, 0)
    const canRead = await callLatency(url, rel, encodeCall(patientProviderRelationshipAbi, 'canRead', [patient, 0n, 1n]), calls)
    const entries = await callLatency(url, summaryAddress(patient, identityOf(j)), encodeCall(summaryAbi, 'entries', [0n, 10n]), calls)
    if (!joinAfter) return { canRead, entries }
    const head = (await rpc<{ hash: string }>(url, 'eth_getBlockByNumber', ['latest', false]))!
    const l = load()
    const full = await timeJoin(net, 5, source.enode!, head.hash, 'full')
    const snap = await timeJoin(net, 6, source.enode!, head.hash, 'snap')
    return { canRead, entries, join: { fullSecs: full.secs, snapSecs: snap.secs, pivot: snap.pivot, load: `${l} → ${load()}` } }
  } finally {
    await net.stop(0)
  }
}

export async function runScaleBench(opts: { patients?: number; join?: boolean; calls?: number; progress?: (line: string) => void } = {}): Promise<ScaleReport> {
  setLogLevel('warn')
  const patients = opts.patients ?? 1000
  const progress = opts.progress ?? (() => {})
  const period = 2
  // Members 0-3 the authorities (0 registers, 1 and 2 are the providers), 4 funds the patients, 5 and 6 join.
  const net = await createLocalNetwork(7, { authorities: 4, period, logLevel: 'info' })
  try {
    const g = net.genesis
    if (g.consensus !== 'poa') throw new Error('the scale suite runs under PoA')
    const keys = net.members.map((m) => m.key)
    const actors: ScaleActors = { registrar: keys[0]!, providers: [keys[1]!, keys[2]!], funder: keys[4]!, signerKeys: new Map(net.members.slice(0, 4).map((m) => [m.address.toLowerCase(), m.key])) }
    const providerAddrs = actors.providers.map((k) => bytesToHex(privateKeyToAddress(k)) as Hex20)
    const datadir = net.members[0]!.datadir
    const base = await (async () => {
      const c = await Chain.open(datadir, g, { gcMode: 'full' })
      await c.close()
      return trieSize(datadir)
    })()
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
      const s = await onboardPatients(chain, g.chainId, period, g.poa.epoch, actors, done, mark)
      await chain.close()
      done = mark
      blocks += s.blocks
      txs += s.transactions
      gas += s.gasUsed
      const trie = await trieSize(datadir)
      const disk = await dirBytes(joinPath(datadir, 'chaindata'))
      progress(`scale: ${mark} patients in ${blocks} blocks; reads through a node…`)
      const last = ci === marks.length - 1
      const reads = await measureReads(net, providerAddrs, mark, opts.calls ?? 200, last && opts.join === true)
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
        gasPerBlock: Number(s.gasUsed) / s.blocks,
        canReadP50Ms: reads.canRead,
        entriesP50Ms: reads.entries,
        load: load(),
      })
    }
    return { providers: actors.providers.length, period, checkpoints: out, join, ...extrapolate(out, join, period) }
  } finally {
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
