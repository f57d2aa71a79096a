import { availableParallelism } from 'node:os'
import { createLogger, errorMessage, setLogLevel } from '../common/index.ts'
import { Chain } from './chain/index.ts'
import type { NodeConfig } from './config.ts'
import { createMempool, createSenderRecovery } from './mempool/index.ts'
import { createProducer, type Producer } from './producer.ts'
import { createEthMethods } from './rpc/eth.ts'
import { createFilterManager, createRpcServer, createSubscriptionHub } from './rpc/index.ts'
import { NodeError, NodeErrorCode } from './errors.ts'

const log = createLogger('node')

export interface RunningNode {
  rpcUrl: string
  wsUrl: string
  chain: Chain
  close(): Promise<void>
}

/** Opens the chain and starts RPC and (for an authority) sealing: the whole node. */
export async function startNode(config: NodeConfig): Promise<RunningNode> {
  setLogLevel(config.logLevel)
  let chain: Chain
  try {
    chain = await Chain.open(config.datadir, config.genesis)
  } catch (err) {
    if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN' && /lock/i.test(String((err as { cause?: unknown }).cause))) {
      throw new NodeError(NodeErrorCode.DATADIR_LOCKED, `the data dir ${config.datadir} is in use by another medrec process: stop it or use another --datadir`, undefined, err)
    }
    throw err
  }
  // Sender recovery is the ceiling on intake: one worker per core, the main thread keeps RPC.
  const recovery = createSenderRecovery({ workers: Math.max(1, Math.min(4, availableParallelism())) })
  // Larger than geth's per-account slots: a dev node is driven by benchmarks and test
  // harnesses that keep a full block's worth of transactions per sender in flight.
  const mempool = createMempool({ maxPerSender: 512, maxQueuedPerSender: 512, maxTotal: 16_384 }, {
    common: chain.common,
    recovery,
    getAccount: (address) => chain.headAccount(address),
  })
  const head = chain.head.block.header
  mempool.head({ baseFee: head.calcNextBaseFee(), gasLimit: head.gasLimit })

  const subscriptions = createSubscriptionHub()
  const methods = createEthMethods({ chain, mempool, filters: undefined as never, config })
  const filters = createFilterManager({ getLogs: methods.getLogs, headNumber: () => chain.head.block.header.number })
  methods.setFilters(filters)
  chain.on('head', (ev) => {
    subscriptions.publishHead(ev)
    filters.onHead(ev)
  })
  mempool.on('pending', (hash: Uint8Array) => {
    subscriptions.publishPendingTx(hash)
    filters.onPendingTx(hash)
  })

  const server = createRpcServer(config.rpc, { methods: methods.table, subscriptions })
  let urls: { url: string; wsUrl: string }
  try {
    urls = await server.listen()
  } catch (err) {
    await recovery.close()
    await chain.close()
    const code = (err as { code?: string }).code
    if (code === 'EADDRINUSE') {
      throw new NodeError(NodeErrorCode.RPC_PORT_IN_USE, `RPC port ${config.rpc.addr}:${config.rpc.port} is already in use: stop the other process or pass --rpc.port`, undefined, err)
    }
    throw new NodeError(NodeErrorCode.RPC_LISTEN_FAILED, `cannot listen on ${config.rpc.addr}:${config.rpc.port}: ${errorMessage(err)}`, undefined, err)
  }
  log.info('HTTP and WebSocket JSON-RPC listening', { url: urls.url, ws: urls.wsUrl })

  let producer: Producer | undefined
  if (config.authority !== undefined) {
    producer = createProducer({ signer: config.authority, period: config.genesis.poa.period }, { chain, mempool })
    producer.start()
  }

  let closing: Promise<void> | undefined
  return {
    rpcUrl: urls.url,
    wsUrl: urls.wsUrl,
    chain,
    close() {
      closing ??= (async () => {
        log.info('Shutting down')
        await producer?.stop()
        await server.close()
        filters.close?.()
        await recovery.close()
        await chain.close()
      })()
      return closing
    },
  }
}
