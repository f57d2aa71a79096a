import type { LogLevel } from '../../common/index.ts'
import type { GatekeeperOptions } from '../../gatekeeper/index.ts'
import type { Genesis } from '../genesis/index.ts'

export interface RpcConfig {
  /** Listen address, default 127.0.0.1 (never 0.0.0.0 unless asked). */
  addr: string
  /** HTTP and WebSocket share this port; default 8545. */
  port: number
  /** Allowed browser origins; empty means CORS off. */
  corsOrigins: string[]
  /** `--rpc.vhosts`: Host header names served (HTTP and WebSocket upgrades); `*` any. Default localhost, 127.0.0.1, [::1]. */
  vhosts: string[]
  /** `--ws.origins`: browser origins that may open a WebSocket; `*` any. Default none. */
  wsOrigins: string[]
  /** `--rpc.api`: namespaces served to remote callers (the in-process transport sees all). */
  apis: string[]
  /** The key bearer tokens are checked with (DIR/jwtsecret or --rpc.jwtsecret); absent: protected methods are refused. */
  jwtSecret?: Uint8Array
  /** Largest accepted request body; default 5 MiB as in geth. */
  maxRequestBytes: number
  /** `--rpc.batch-request-limit`: most requests in one batch (geth's default 1000); 0 no limit. */
  batchRequestLimit: number
  /** `--rpc.batch-response-max-size`: most bytes of results and errors one batch may return (geth's default 25,000,000); 0 no limit. */
  batchResponseMaxSize: number
  /** `--rpc.gascap`: most gas an eth_call/eth_estimateGas may use; 0n no cap. Absent: DEFAULT_RPC_GAS_CAP. */
  gasCap?: bigint
  /** `--rpc.evmtimeout` in ms: a call running longer is stopped; 0 no limit. Absent: DEFAULT_RPC_EVM_TIMEOUT_MS. */
  evmTimeoutMs?: number
  /** `--rpc.callworkers`: threads running RPC clients' calls; 0 runs them on the main thread (no timeout possible). Absent: DEFAULT_CALL_WORKERS. */
  callWorkers?: number
}

/** As geth: 50,000,000 gas and 5 s. */
export const DEFAULT_RPC_GAS_CAP = 50_000_000n
export const DEFAULT_RPC_EVM_TIMEOUT_MS = 5000
/** Two threads: one long call never holds every caller, and the node's 2-core floor keeps a core. */
export const DEFAULT_CALL_WORKERS = 2

export interface AuthorityKey {
  address: Uint8Array
  privateKey: Uint8Array
}

/** libp2p networking; absent on a lone node (the default with --dev). */
export interface P2PConfig {
  listen: { host: string; port: number }
  /** Multiaddrs ending in /p2p/<peer id>. */
  bootnodes: string[]
  maxPeers: number
  /** Peer exchange: learn peers from peers (off with --nodiscover: bootnodes and added peers only). */
  discovery: boolean
  /** DIR/nodekey, the node's stable libp2p identity. */
  nodeKey: Uint8Array
  /** `--syncmode`: how an empty node joins (node/sync/state-sync.ts); absent: DEFAULT_SYNC_MODE. */
  syncMode?: 'full' | 'snap'
}

/**
 * Full, not geth's snap: a state-synced node has no receipts or logs below its pivot, and the
 * gatekeeper's watch and audit read history by logs; snap is the operator's choice for a node
 * that needs only recent state (docs/operators.md).
 */
export const DEFAULT_SYNC_MODE = 'full'

export const DEFAULT_P2P = { host: '0.0.0.0', port: 30303, maxPeers: 25 } as const

/** Prometheus metrics (`--metrics`): `GET /metrics` on this address. */
export interface MetricsConfig {
  addr: string
  port: number
}

/** As geth: 127.0.0.1:6060. */
export const DEFAULT_METRICS: MetricsConfig = { addr: '127.0.0.1', port: 6060 }

/** The MedRec app served by the node (`--ui`): its own origin, apart from the JSON-RPC port. */
export interface UiConfig {
  /** `--ui.addr`, default 127.0.0.1. */
  addr: string
  /** `--ui.port`, default 8550; 0 any free port. */
  port: number
  /** `--ui.vhosts`: Host names served (DNS rebinding); default as --rpc.vhosts. */
  vhosts: string[]
  /** The built app (index.html, assets/); absent: <repo>/ui/dist. */
  assetsDir?: string
}

export const DEFAULT_UI = { addr: '127.0.0.1', port: 8550 } as const

/** Everything `medrec start` resolves from flags and the data dir before the node starts. */
export interface NodeConfig {
  datadir: string
  genesis: Genesis
  rpc: RpcConfig
  /** The account this node seals with, unlocked; absent on a non-sealing node. */
  authority: AuthorityKey | undefined
  logLevel: LogLevel
  dev: boolean
  p2p: P2PConfig | undefined
  /** Mining (`--mine`, `--miner.etherbase`, `--miner.threads`); absent when not asked for. */
  miner?: { mine: boolean; etherbase?: Uint8Array; threads?: number }
  /** The built-in gatekeeper (`--gatekeeper`); absent when off. */
  gatekeeper?: { options: GatekeeperOptions; account: AuthorityKey }
  /** Prometheus metrics (`--metrics`); absent when off. */
  metrics?: MetricsConfig
  /** The MedRec app (`--ui`, on by default with --dev); absent when off. */
  ui?: UiConfig
  /** `--datadir.minfreedisk` (MB): sealing and import pause below this much free space; 0 or absent: off. */
  minFreeDiskMB?: number
  /** `--db.repair`: run LevelDB's repair on the chain database before opening it. */
  dbRepair?: boolean
  /** `--txpool.pricelimit` (wei): the lowest tip cap the pool admits; absent: DEFAULT_PRICE_LIMIT (0 with --dev). */
  priceLimit?: bigint
  /** `--gcmode`: 'full' deletes state older than `stateRecent` blocks; absent or 'archive': every block's state is kept. */
  gcMode?: GcMode
  /** `--state.recent`: blocks whose state a full node keeps (the head and those below it); absent: DEFAULT_STATE_RECENT. */
  stateRecent?: number
}

/** `--gcmode` (geth's flag and values): full keeps the state of the last `--state.recent` blocks, archive keeps every block's. */
export type GcMode = 'full' | 'archive'

/** `--gcmode`'s default, geth's: full. */
export const DEFAULT_GC_MODE: GcMode = 'full'

/** `--state.recent`'s default: geth keeps the tries of the last 128 blocks (its TriesInMemory) in full mode. */
export const DEFAULT_STATE_RECENT = 128

/** `--txpool.pricelimit`'s default, geth's: 1 wei. A dev chain admits a zero tip (as anvil and hardhat) unless the flag is given. */
export const DEFAULT_PRICE_LIMIT = 1n

/** `--datadir.minfreedisk`'s default (MB): room for a few thousand full blocks and LevelDB's compactions. */
export const DEFAULT_MIN_FREE_DISK_MB = 256

/** `medrec start --dev`'s data dir when none is given (the CLI finds the dev node's secret there). */
export const DEV_DATADIR = './.medrec-dev'
