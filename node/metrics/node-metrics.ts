import { readFileSync } from 'node:fs'
import type { P2PObserver } from '../../p2p/index.ts'
import type { ServedRequest } from '../../gatekeeper/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import type { MetricsConfig } from '../config.ts'
import type { Mempool } from '../mempool/index.ts'
import type { Network } from '../network.ts'
import type { Sealing } from '../sealing.ts'
import { watchChain } from './chain.ts'
import { watchConsensus } from './consensus.ts'
import { watchGatekeeper } from './gatekeeper.ts'
import { watchMempool } from './mempool.ts'
import { watchP2P } from './p2p.ts'
import { watchProcess } from './process.ts'
import { createRegistry, type Registry } from './registry.ts'
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
  /** Reads the modules made later at each scrape and serves `/metrics`; resolves with its URL. */
  serve(parts: { network: Network | undefined; sealing: Sealing }): Promise<string>
  close(): Promise<void>
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Hooks the chain and the pool now; everything else is read at scrape time or reported through the observers. */
export function createNodeMetrics(listen: MetricsConfig, modules: { chain: Chain; mempool: Mempool; chainId: bigint }): NodeMetrics {
  const registry = createRegistry()
  const consensus = watchConsensus(registry, modules.chain, { chainId: modules.chainId, version: packageVersion() })
  const chain = watchChain(registry, modules.chain)
  watchMempool(registry, modules.mempool)
  const p2p = watchP2P(registry)
  const gatekeeper = watchGatekeeper(registry)
  const proc = watchProcess(registry)
  let server: MetricsServer | undefined
  return {
    registry,
    p2p: p2p.observer,
    gatekeeper,
    blockSealed: (bundle) => chain.blockProduced(bundle),
    async serve(parts) {
      p2p.attach(parts.network)
      consensus.attach(parts.sealing)
      server = await startMetricsServer(listen, () => registry.render())
      proc.start()
      return server.url
    },
    async close() {
      proc.close()
      await server?.close()
    },
  }
}
