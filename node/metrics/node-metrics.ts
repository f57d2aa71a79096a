import { readFileSync } from 'node:fs'
import { toData } from '../../common/index.ts'
import type { P2PObserver } from '../../p2p/index.ts'
import type { ServedRequest } from '../../gatekeeper/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import type { MetricsConfig } from '../config/index.ts'
import type { Mempool } from '../mempool/index.ts'
import type { Network } from '../sync/index.ts'
import type { Sealing } from '../producer/index.ts'
import type { ClockMonitor } from '../clock/index.ts'
import { blockEvents } from './blocks.ts'
import { watchClock } from './clock.ts'
import { watchChain } from './chain.ts'
import { watchConsensus } from './consensus.ts'
import { watchGatekeeper } from './gatekeeper.ts'
import { watchMempool } from './mempool.ts'
import { watchP2P } from './p2p.ts'
import { watchProcess } from './process.ts'
import type { Registry } from 'prom-client'
import { createRegistry } from './registry.ts'
import { startMetricsServer, type MetricsServer } from './server.ts'

/** A node's metrics, made right after the chain and the pool open (before anything imports or submits). */
export interface NodeMetrics {
  readonly registry: Registry
  /** For startNetwork (`p2pObserver`). */
  readonly p2p: P2PObserver
  /** For createGatekeeper (`onServed`). */
  readonly gatekeeper: (served: ServedRequest) => void
  /** For the producer's onSealed. */
  blockSealed(bundle: BlockBundle): void
  /** For startNetwork (`onBlockRelayed`): a gossiped block passed its precheck and is relayed. */
  blockRelayed(hash: string, number: bigint): void
  /** Reads the modules made later at each scrape and serves `/metrics`; resolves with its URL. */
  serve(parts: { network: Network | undefined; sealing: Sealing }): Promise<string>
  close(): Promise<void>
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Hooks the chain and the pool now; everything else is read at scrape time or reported through the observers. */
export function createNodeMetrics(listen: MetricsConfig, modules: { chain: Chain; mempool: Mempool; chainId: bigint; clock?: ClockMonitor }): NodeMetrics {
  const registry = createRegistry()
  const consensus = watchConsensus(registry, modules.chain, { chainId: modules.chainId, version: packageVersion() })
  const chain = watchChain(registry, modules.chain)
  watchMempool(registry, modules.mempool)
  if (modules.clock !== undefined) watchClock(registry, modules.clock)
  const p2p = watchP2P(registry)
  const gatekeeper = watchGatekeeper(registry)
  const proc = watchProcess(registry)
  const blocks = blockEvents()
  let server: MetricsServer | undefined
  return {
    registry,
    p2p: p2p.observer,
    gatekeeper,
    blockSealed(bundle) {
      chain.blockProduced(bundle)
      blocks.record('sealed', toData(bundle.block.hash()), bundle.block.header.number)
    },
    blockRelayed: (hash, number) => blocks.record('relayed', hash, number),
    async serve(parts) {
      p2p.attach(parts.network)
      consensus.attach(parts.sealing)
      server = await startMetricsServer(listen, { metrics: () => registry.metrics(), blocks: () => blocks.list() })
      proc.start()
      return server.url
    },
    async close() {
      proc.close()
      await server?.close()
    },
  }
}
