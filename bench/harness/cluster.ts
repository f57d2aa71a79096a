/**
 * A local network of real `medrec start` processes for the benchmark: fresh keys, one genesis,
 * a data dir per node, the first node as everyone's bootnode (a star, as operators set one up
 * from the README), PoA authorities or one-thread PoW miners. Each node's log goes to
 * DIR/nodeN/node.log. Ports are chosen up front and passed explicitly, so a node killed by a
 * fault restarts on the same URLs; with `links`, each node reaches the bootnode through a TCP
 * relay the harness can cut (`isolate`).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { createLogger } from '../../common/logger.ts'
import { genesisToJson, newGenesis, type Genesis } from '../../node/genesis/index.ts'
import { privateKeyToAddress } from '../../node/keys/index.ts'
import { writeDataDir } from './datadir.ts'
import { BenchError, BenchErrorCode } from './errors.ts'
import { freePorts } from './ports.ts'
import { startLinkProxy, type LinkProxy } from './proxy.ts'
import { startNodeProcess, type NodeProcess } from './process.ts'
import { rpc, toNumber, waitFor } from './rpc.ts'

const log = createLogger('bench:cluster')
const PASSWORD = 'medrec-bench'
/** What one keccak hashcash thread does here, roughly (README, Proof of Work); nothing is measured. */
export const HASHES_PER_THREAD = 100_000
const STOP_GRACE_MS = 5_000

export type ConsensusKind = 'poa' | 'pow'

export interface ClusterOptions {
  nodes: number
  consensus: ConsensusKind
  /** PoA: seconds between blocks; PoW: target block time. */
  period: number
  chainId?: bigint
  /** Default 100,000,000, so blocks are limited by time rather than gas at the rates run here. */
  gasLimit?: bigint
  /** Node log verbosity (default info: the RPC URL is read from an info line). */
  logLevel?: string
  /** Keep the data dirs (and node logs) when starting fails too. */
  keep?: boolean
  /** Progress lines for the person running it. */
  progress?: (line: string) => void
  /** More `medrec start` arguments for node `index` (a workload's nodeArgs, --metrics). */
  extraArgs?: (index: number, account: NodeAccount) => string[]
  /**
   * Every node but the bootnode dials it through its own cuttable TCP relay (`isolate` needs it).
   * Off by default: the relay is one more hop, in the harness's process.
   */
  links?: boolean
}

/** A node's own account: its key is in the node's keystore, unlocked by the password file. */
export interface NodeAccount {
  address: string
  passwordFile: string
}

export interface ClusterNode {
  index: number
  /** Authority (PoA) or etherbase (PoW) address, lower-case 0x hex. */
  address: string
  key: Uint8Array
  datadir: string
  url: string
  wsUrl: string
  /** The current process (a restart changes it). */
  pid: number
  /** Its libp2p listen address with /p2p/<peer id>. */
  multiaddr: string
  /** JSON-RPC (HTTP and WebSocket) and p2p ports, fixed for the node's life (restarts included). */
  rpcPort: number
  p2pPort: number
}

export interface Cluster {
  root: string
  genesis: Genesis
  /** Starting PoW difficulty (undefined under PoA). */
  difficulty: bigint | undefined
  nodes: ClusterNode[]
  /** SIGKILL node `i` and wait until it is gone. */
  kill(i: number): Promise<void>
  /** Starts a killed node `i` again on its data dir and ports; resolves once its JSON-RPC listens. */
  restart(i: number): Promise<void>
  /** Whether node `i`'s process is running. */
  isUp(i: number): boolean
  /** Sends a signal to node `i`'s process (SIGSTOP/SIGCONT for `slow`); false if it is not running. */
  signal(i: number, sig: NodeJS.Signals): boolean
  /** Cuts node `i`'s link to the bootnode (needs `links`), or heals it. */
  isolate(i: number): void
  heal(i: number): void
  /** SIGTERM every node, SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>
  /** Deletes the data dirs (after stop). */
  remove(): void
}

const isRunning = (r: NodeProcess | undefined): r is NodeProcess => r !== undefined && r.running()

const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString('hex')}`

/**
 * Starting PoW difficulty for `miners` one-thread miners to meet the target block time. The
 * miners share the machine's cores, so at most one thread per core hashes at a time.
 */
export function powDifficulty(miners: number, targetBlockTime: number, cores = availableParallelism()): bigint {
  return BigInt(Math.max(1, Math.min(miners, cores)) * HASHES_PER_THREAD * targetBlockTime)
}

/** Writes the data dirs (genesis.json, nodekey, keystore, password) under a new temp dir. */
async function writeDataDirs(o: ClusterOptions): Promise<{ root: string; genesis: Genesis; difficulty: bigint | undefined; keys: Uint8Array[] }> {
  const root = mkdtempSync(join(tmpdir(), 'medrec-bench-'))
  const keys = Array.from({ length: o.nodes }, () => secp256k1.utils.randomSecretKey())
  const addresses = keys.map((k) => privateKeyToAddress(k))
  const difficulty = o.consensus === 'pow' ? powDifficulty(o.nodes, o.period) : undefined
  const genesis = newGenesis({
    chainId: o.chainId ?? 7357n,
    // PoA: every node seals. PoW: the same accounts are the certified providers (no one seals by authority).
    authorities: addresses,
    ...(o.consensus === 'poa' ? { period: o.period } : { pow: { targetBlockTime: o.period, difficulty } }),
    gasLimit: o.gasLimit ?? 100_000_000n,
    // Member 0 funds the workload's senders; the others are funded so any can be used later.
    alloc: addresses.map((a) => [a, 10n ** 24n]),
  })
  const json = JSON.stringify(genesisToJson(genesis), null, 2)
  for (const [i, key] of keys.entries()) {
    await writeDataDir(join(root, `node${i}`), { genesisJson: json, nodeKey: secp256k1.utils.randomSecretKey(), accountKey: key, password: PASSWORD })
  }
  return { root, genesis, difficulty, keys }
}

/** `medrec start` on node `datadir` with every namespace (the harness reads admin_nodeInfo, the medrec workloads drive the gatekeepers), its log appended to DIR/node.log. */
function spawnNode(datadir: string, args: string[]): Promise<NodeProcess> {
  return startNodeProcess({ datadir, args, timeoutMs: 60_000, logFile: join(datadir, 'node.log'), keepOutput: false })
}

async function stopOne(r: NodeProcess): Promise<void> {
  if (!r.running()) return
  await r.stop({ killAfterMs: STOP_GRACE_MS })
  if (r.proc.signalCode === 'SIGKILL') log.warn('node did not stop within 5 s of SIGTERM: killed it', { pid: r.pid })
}

/** Starts the network and returns once every node is peered and the chain head moves. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const progress = o.progress ?? (() => {})
  const logLevel = o.logLevel ?? 'info'
  const { root, genesis, difficulty, keys } = await writeDataDirs(o)
  // By node index; a restart replaces its entry. Every process ever started, for stop and exit.
  const running: NodeProcess[] = []
  const all: NodeProcess[] = []
  const nodeArgs: string[][] = []
  const links: Array<LinkProxy | undefined> = []
  const nodes: ClusterNode[] = []
  let stopped: Promise<void> | undefined
  // If the harness dies without stopping them, the nodes must not outlive it.
  const killAll = () => {
    for (const r of all) if (isRunning(r)) r.proc.kill('SIGKILL')
  }
  process.once('exit', killAll)
  const node = (i: number): ClusterNode => {
    const n = nodes[i]
    if (n === undefined) throw new BenchError(BenchErrorCode.NODE_START_FAILED, `there is no node ${i} in this network of ${nodes.length}`)
    return n
  }
  const link = (i: number): LinkProxy => {
    const l = links[i]
    if (l === undefined) throw new BenchError(BenchErrorCode.NODE_START_FAILED, `node ${i} has no link to cut: the network was started without links (node 0 never has one)`)
    return l
  }
  const spawnAt = async (i: number): Promise<NodeProcess> => {
    const r = await spawnNode(join(root, `node${i}`), nodeArgs[i]!)
    running[i] = r
    all.push(r)
    return r
  }
  const cluster: Cluster = {
    root,
    genesis,
    difficulty,
    nodes,
    async kill(i) {
      const r = running[i]
      if (!isRunning(r)) return
      // A crash, even under MEDREC_NODE_PROFILE (NodeProcess.kill would send SIGTERM there).
      r.proc.kill('SIGKILL')
      await r.exited
    },
    async restart(i) {
      const n = node(i)
      if (stopped !== undefined) throw new BenchError(BenchErrorCode.INTERRUPTED, `node ${i} not restarted: the network is stopping`)
      if (isRunning(running[i])) return
      const r = await spawnAt(i)
      // Stopped while it started: stop() did not see it.
      if (stopped !== undefined) {
        await stopOne(r)
        throw new BenchError(BenchErrorCode.INTERRUPTED, `node ${i} stopped again: the network is stopping`)
      }
      // Same ports, so the same URLs: a different one would leave the harness's clients dialling a dead port.
      if (r.url !== n.url) throw new BenchError(BenchErrorCode.NODE_START_FAILED, `node ${i} restarted on ${r.url} instead of ${n.url}`)
      n.pid = r.pid
    },
    isUp: (i) => isRunning(running[i]),
    signal(i, sig) {
      const r = running[i]
      return isRunning(r) && r.proc.kill(sig)
    },
    isolate: (i) => link(i).cutOff(),
    heal: (i) => link(i).heal(),
    stop: () =>
      (stopped ??= Promise.all(all.map(stopOne))
        .then(() => Promise.all(links.map((l) => l?.close())))
        .then(() => {
          process.off('exit', killAll)
        })),
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
  const ports = await freePorts(2 * o.nodes)
  const launch = async (i: number, bootnode: string | undefined): Promise<ClusterNode> => {
    const datadir = join(root, `node${i}`)
    const address = hex(privateKeyToAddress(keys[i]!))
    const rpcPort = ports[2 * i]!
    const p2pPort = ports[2 * i + 1]!
    const args = ['--rpc.port', String(rpcPort), '--p2p.addr', '127.0.0.1', '--p2p.port', String(p2pPort), '--log.level', logLevel]
    if (bootnode !== undefined) args.push('--bootnodes', bootnode)
    // Peer exchange would lead the nodes to each other's real ports, around the cuttable relays.
    if (o.links === true) args.push('--nodiscover')
    if (o.consensus === 'poa') args.push('--authority', address, '--password', join(datadir, 'password'))
    else args.push('--mine', '--miner.etherbase', address, '--miner.threads', '1')
    args.push(...(o.extraArgs?.(i, { address, passwordFile: join(datadir, 'password') }) ?? []))
    nodeArgs[i] = args
    const r = await spawnAt(i)
    const info = await waitFor(async () => {
      const x = await rpc<{ listenAddrs: string[] }>(r.url, 'admin_nodeInfo')
      return x.listenAddrs.length > 0 ? x : undefined
    }, `node ${i} to listen for peers`, 30_000)
    const multiaddr = info.listenAddrs.find((a) => a.includes('/127.0.0.1/')) ?? info.listenAddrs[0]!
    return { index: i, address, key: keys[i]!, datadir, url: r.url, wsUrl: r.wsUrl, pid: r.pid, multiaddr, rpcPort, p2pPort }
  }
  /**
   * The bootnode address node `i` dials. With links: its own relay to the bootnode. Nothing else
   * leads a node to the bootnode's real port (or the bootnode to the others): the nodes run with
   * --nodiscover (no peer exchange), libp2p 3 has no autodialer, gossipsub runs without PX.
   */
  const bootnodeFor = async (i: number, boot: ClusterNode): Promise<string> => {
    if (o.links !== true) return boot.multiaddr
    const proxy = await startLinkProxy('127.0.0.1', boot.p2pPort)
    links[i] = proxy
    return boot.multiaddr.replace(`/tcp/${boot.p2pPort}/`, `/tcp/${proxy.port}/`)
  }
  try {
    progress(`starting ${o.nodes} node${o.nodes === 1 ? '' : 's'} (${o.consensus === 'poa' ? `PoA, a block every ${o.period} s` : `PoW, target ${o.period} s, difficulty ${difficulty}`}) in ${root}…`)
    const boot = await launch(0, undefined)
    nodes[0] = boot
    // All settled before failing, so no node is still starting when the others are stopped.
    const rest = await Promise.allSettled(Array.from({ length: o.nodes - 1 }, async (_, i) => launch(i + 1, await bootnodeFor(i + 1, boot))))
    for (const r of rest) if (r.status === 'rejected') throw r.reason
    nodes.push(...rest.map((r) => (r as PromiseFulfilledResult<ClusterNode>).value))
    await waitFor(async () => {
      const counts = await Promise.all(nodes.map((n) => rpc<string>(n.url, 'net_peerCount').then(toNumber)))
      return counts[0]! >= o.nodes - 1 && counts.every((c) => c >= Math.min(1, o.nodes - 1))
    }, 'every node to peer with the bootnode', 60_000)
    const start = toNumber(await rpc<string>(boot.url, 'eth_blockNumber'))
    // PoW: a fresh chain's first blocks take a while until the difficulty fits the miners.
    await waitFor(async () => toNumber(await rpc<string>(boot.url, 'eth_blockNumber')) > start, 'the first new block', Math.max(60, o.period * 20) * 1000)
    return cluster
  } catch (err) {
    await cluster.stop()
    if (o.keep !== true) cluster.remove()
    throw err
  }
}
