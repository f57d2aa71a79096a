/** The shapes of a benchmark run's result (DIR/result.json). Times in ms unless named otherwise. */
import type { ConsensusKind } from './cluster.ts'
import type { FaultSpec } from './faults.ts'
import type { FaultReport } from './recovery.ts'
import type { RequestSummary } from './requests.ts'
import type { NodeMetricsSeries } from './scrape.ts'
import type { Bin, Distribution } from './stats.ts'
import type { PropagationRecord } from './timing.ts'

export interface BenchConfig {
  nodes: number
  /** 'external' with --rpc: endpoints the harness did not start (their engine is not known). */
  consensus: ConsensusKind | 'external'
  /** PoA block period or PoW target block time, seconds. */
  period: number
  workload: string
  /** Offered transactions per second (open loop); null in a closed loop. */
  rate: number | null
  /** Closed-loop clients (--clients); null in an open loop. */
  clients: number | null
  /** K of the latency to K confirmations. */
  confirmations: number
  /** With --rpc: the endpoints run against (no nodes started); else null. */
  rpc: string[] | null
  /** Measured seconds, after the warm-up. */
  duration: number
  warmup: number
  senders: number
  /** The contract the workload calls (null for transfers). */
  contract: string | null
  chainId: string
  gasLimit: string
  /** Starting PoW difficulty. */
  difficulty: string | null
  /** How the nodes connect: every node dials node 0. */
  topology: 'star'
  /** --faults as parsed, in start order (absent in results from before faults existed). */
  faults?: FaultSpec[]
  /** The command line that produced this result. */
  command: string
  machine: { cpus: number; platform: string; arch: string; node: string; startedAt: string }
}

/** One block of the final chain since the load started. */
export interface BlockRecord {
  number: number
  hash: string
  /** Transactions in the block. */
  txs: number
  /** First time any node had it in its chain, ms since the load started; null if none saw it. */
  seenMs: number | null
  /** Seen inside the measured window: its transactions count towards the throughput. */
  counted: boolean
}

/** One second of the run, from the start of the load. */
export interface SeriesPoint {
  /** Seconds since the load started (the bucket [t, t+1)). */
  t: number
  phase: 'warmup' | 'measure' | 'drain'
  submitted: number
  /** Blocks of the final chain first seen in this second. */
  blocks: number
  /** Their transactions: included tx/s. */
  txs: number
  /** Per node, percent of one core; null where /proc is not readable. */
  cpu: Array<number | null>
  rssMb: Array<number | null>
  harnessCpu: number | null
  /** Median submit → inclusion latency of the transactions included in this second (at their node); null if none. */
  latencyP50Ms: number | null
  /** Blocks first seen in this second that the final chain does not hold (absent in older results). */
  orphaned?: number
  /** Reorgs the nodes made in this second. */
  reorgs?: number
  /** Off-chain requests made in this second, and the median latency of those answered in it (workloads with requests). */
  requests?: number
  requestP50Ms?: number | null
}

export interface Summary {
  /** Seconds over which throughput is computed (the measured window). */
  windowSeconds: number
  offeredRate: number
  /** Sends scheduled in the window / answered with an error / more than 100 ms behind schedule. */
  submitted: number
  rejected: number
  late: number
  /** The first few distinct rejection messages with counts. */
  rejections: Record<string, number>
  /** Transactions in the final chain's blocks first seen in the window, and per second. */
  included: number
  includedTps: number
  /** Of the window's accepted sends: how many reached the final chain by the end. */
  submittedIncluded: number
  submittedIncludedShare: number
  /** Submit → first head containing it at the node it was sent to. */
  latencyMs: Distribution
  /** K (config.confirmations), and submit → its block having K−1 blocks on top at that node. */
  confirmations: number
  confirmedLatencyMs: Distribution
  /** Per final-chain block seen in the window and node other than the first to have it: how much later that node had it. */
  propagationMs: Distribution
  /** The workload's off-chain requests in the window (plan.requests); null if it has none. */
  requests: RequestSummary | null
  /** Final-chain blocks first seen in the window, and the time between consecutive ones. */
  blocks: number
  blockIntervalMs: Distribution
  /** Blocks some node had in its chain (first seen in the window) that the final chain does not hold. */
  forks: { seen: number; orphaned: number; rate: number }
  /** Head switches at the nodes inside the window that dropped blocks of their chain, and how many (absent in older results). */
  reorgs?: { count: number; maxDepth: number; meanDepth: number }
  /** Over the whole run: every workload transaction sent, accepted, and in the final chain. */
  total: { sent: number; accepted: number; included: number; neverIncluded: number }
  /** Per node over the window: mean CPU (% of one core) and peak RSS (MB); null where not measured. */
  nodes: Array<{ cpuMean: number | null; rssMaxMb: number | null }>
  harnessCpuMean: number | null
}

export interface BenchResult {
  version: 1
  config: BenchConfig
  summary: Summary
  series: SeriesPoint[]
  /** The final chain from the first block after the load started, at node 0. */
  blocks: BlockRecord[]
  orphans: Array<{ number: number; hash: string }>
  /** The latency CDF as [ms, fraction of the window's included transactions], at most 200 points. */
  latencyCdf: Array<[number, number]>
  /** Per final-chain block: when the first node had it and each node's delay after that. */
  propagation: PropagationRecord[]
  /** The window's block intervals (ms) in bins. */
  blockIntervalHistogram: Bin[]
  /** Per node, its scraped Prometheus metrics once a second; null when not scraped (--rpc). */
  metrics: NodeMetricsSeries[] | null
  /** Per fault of config.faults: its events and recovery figures. */
  faults?: FaultReport[]
  /** With --keep: the nodes' data dirs (restartable with `medrec start --datadir`). */
  dataDirs: string[] | null
}
