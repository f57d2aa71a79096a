import { availableParallelism } from 'node:os'
import { createLogger, errorCode, errorMessage, setLogLevel } from '../common/index.ts'
import { createCallPool, type CallPool } from '../evm/index.ts'
import { createGatekeeper, type Gatekeeper } from '../gatekeeper/index.ts'
import { CALL_SUBLEVELS, Chain, type BlockBundle, type ChainError } from './chain/index.ts'
import { createClockMonitor } from './clock/index.ts'
import { DEFAULT_CALL_WORKERS, DEFAULT_PRICE_LIMIT, DEFAULT_RPC_EVM_TIMEOUT_MS, DEFAULT_RPC_GAS_CAP, NodeError, NodeErrorCode, type NodeConfig } from './config/index.ts'
import { devAccounts } from './genesis/index.ts'
import { createMempool, createSenderRecovery, type IncludedTx } from './mempool/index.ts'
import { createNodeMetrics } from './metrics/index.ts'
import { createProposals, createSealing } from './producer/index.ts'
import {
  createAdminMethods,
  createCliqueMethods,
  createDebugMethods,
  createEthMethods,
  createFilterManager,
  createInProcessRpc,
  createMedrecMethods,
  createMinerMethods,
  createRpcServer,
  createSubscriptionHub,
  createDevAccountMethods,
  formatTransaction,
  notificationEvents,
  type RpcMethods,
} from './rpc/index.ts'
import { startNetwork, type Network } from './sync/index.ts'
import { createMetricsSampler, createUiServer, removeUiUrl, UI_APIS, writeUiUrl, type UiRole, type UiServer } from './ui/index.ts'

const log = createLogger('node')

/** The pool's view of blocks' transactions (hash, recovered sender, nonce). */
function includedTxs(bundles: BlockBundle[]): IncludedTx[] {
  return bundles.flatMap((b) => b.block.transactions.map((tx, i) => ({ hash: tx.hash(), sender: b.senders[i]!, nonce: tx.nonce })))
}

export interface RunningNode {
  rpcUrl: string
  wsUrl: string
  /** The MedRec app's URL (`--ui`), e.g. http://127.0.0.1:8550/. */
  uiUrl: string | undefined
  chain: Chain
  network: Network | undefined
  gatekeeper: Gatekeeper | undefined
  close(): Promise<void>
  /**
   * Resolves, after the node has closed itself, when a write to the chain database failed
   * (CHAIN_STORAGE_FAULT): the process should exit non-zero so a supervisor restarts it.
   */
  stopped: Promise<ChainError>
}

/** Opens the chain and starts RPC and (for an authority) sealing: the whole node. */
export async function startNode(config: NodeConfig): Promise<RunningNode> {
  setLogLevel(config.logLevel)
  let chain: Chain
  try {
    chain = await Chain.open(config.datadir, config.genesis, { minFreeDiskBytes: (config.minFreeDiskMB ?? 0) * 1024 * 1024, repair: config.dbRepair, gcMode: config.gcMode, stateRecent: config.stateRecent })
  } catch (err) {
    if (errorCode(err) === 'LEVEL_DATABASE_NOT_OPEN' && err instanceof Error && /lock/i.test(String(err.cause))) {
      throw new NodeError(NodeErrorCode.DATADIR_LOCKED, `the data dir ${config.datadir} is in use by another medrec process: stop it or use another --datadir`, undefined, err)
    }
    throw err
  }
  // What has started so far, closed in reverse order when a later step fails.
  const opened: Array<() => Promise<unknown>> = [() => chain.close()]
  const unwind = async (): Promise<void> => {
    for (const close of opened.reverse()) await close().catch((err) => log.warn('Shutdown step failed', undefined, errorMessage(err)))
  }
  // Sender recovery is the ceiling on intake: one worker per core, the main thread keeps RPC.
  const recovery = createSenderRecovery({ workers: Math.max(1, Math.min(4, availableParallelism())) })
  opened.push(() => recovery.close())
  // RPC clients' eth_call/eth_estimateGas run in these threads, never on this one (a long call
  // would stall sealing, import and every other request); they read state from the same LevelDB.
  const callWorkers = config.rpc.callWorkers ?? DEFAULT_CALL_WORKERS
  let calls: CallPool | undefined
  if (callWorkers > 0) {
    const pool = createCallPool({
      db: { path: chain.store.location, ...CALL_SUBLEVELS },
      chainId: config.genesis.chainId,
      hardfork: config.genesis.hardfork,
      workers: callWorkers,
      timeoutMs: config.rpc.evmTimeoutMs ?? DEFAULT_RPC_EVM_TIMEOUT_MS,
      gasCap: config.rpc.gasCap ?? DEFAULT_RPC_GAS_CAP,
      // Small calls on this thread while it is idle, within a few ms (evm/call-inline.ts).
      inline: { db: chain.store.db },
    })
    calls = pool
    // Before chain.close (pushed first, so unwound after): the workers hold the database open too.
    opened.push(() => pool.close())
  } else {
    log.warn('--rpc.callworkers 0: eth_call/eth_estimateGas run on the main thread, where --rpc.evmtimeout cannot stop them; do not expose this RPC')
  }
  // Larger than geth's per-account slots: a dev node is driven by benchmarks and test
  // harnesses that keep a full block's worth of transactions per sender in flight.
  const mempool = createMempool({ maxPerSender: 512, maxQueuedPerSender: 512, maxTotal: 16_384, minGasPrice: config.priceLimit ?? (config.dev ? 0n : DEFAULT_PRICE_LIMIT) }, {
    common: chain.common,
    recovery,
    getAccount: (address) => chain.headAccount(address),
  })
  const head = chain.head.block.header
  mempool.head({ baseFee: head.calcNextBaseFee(), gasLimit: head.gasLimit })
  // This clock against the authorities', from the blocks peers send (warnings, metrics, and an
  // authority off by more than the tolerance stops sealing until its clock is fixed).
  const consensus = chain.consensus
  const clock = createClockMonitor(
    { algorithm: consensus.algorithm, blockTime: consensus.blockTime, estimator: { windowMs: Math.max(60_000, consensus.blockTime * 16_000) } },
    {
      author: (header) => consensus.author(header).toString(),
      counts: (author) => consensus.voting === undefined || consensus.voting.signers(chain.snapshot).includes(author),
      self: () => config.authority?.address === undefined ? undefined : `0x${Buffer.from(config.authority.address).toString('hex')}`,
    },
  )
  // Before anything imports or submits, so every block and transaction is counted.
  const metrics = config.metrics === undefined ? undefined : createNodeMetrics(config.metrics, { chain, mempool, chainId: config.genesis.chainId, clock })
  // The UI's key figures (GET /api/metrics), sampled from memory; network is read at each tick, once it exists.
  let network: Network | undefined
  const uiMetrics = config.ui === undefined ? undefined : createMetricsSampler(() => ({ head: Number(chain.head.block.header.number), peers: network?.p2p.peerCount() ?? 0, ...mempool.stats() }))
  if (uiMetrics !== undefined) {
    opened.push(async () => uiMetrics.close())
    chain.on('head', (b) => uiMetrics.block(b.block.transactions.length, b.block.header.gasUsed))
    chain.on('imported', (ev) => {
      if (ev.status !== 'failed') uiMetrics.imported(ev.seconds)
    })
  }

  // Every new head, sealed here or imported, settles the pool; a reorg gives back the dropped
  // branch's transactions.
  chain.on('head', (bundle) => {
    const h = bundle.block.header
    mempool.head({ baseFee: h.calcNextBaseFee(), gasLimit: h.gasLimit })
    mempool.onBlockIncluded(includedTxs([bundle])).catch((err) => log.warn('Mempool update failed', undefined, errorMessage(err)))
  })
  chain.on('reorg', ({ removed, added }) => {
    void (async () => {
      // Back to the new head's nonces first, then what the new branch included, then the dropped
      // branch's transactions return to the pool.
      await mempool.onBlocksRemoved(includedTxs(removed))
      await mempool.onBlockIncluded(includedTxs(added))
    })()
      .catch((err) => log.warn('Mempool update failed', undefined, errorMessage(err)))
      .finally(() => {
        for (const b of removed) for (const tx of b.block.transactions) mempool.addRaw(tx.serialize()).catch(() => {})
      })
  })

  if (config.p2p !== undefined) {
    try {
      network = await startNetwork({ listen: config.p2p.listen, bootnodes: config.p2p.bootnodes, maxPeers: config.p2p.maxPeers, discovery: config.p2p.discovery, nodeKey: config.p2p.nodeKey, syncMode: config.p2p.syncMode }, { chain, mempool, recovery, p2pObserver: metrics?.p2p, onBlockRelayed: metrics?.blockRelayed, onBlockSeen: (header, from, at, via) => clock.observe(header, from, at, via) })
    } catch (err) {
      await unwind()
      if (errorCode(err) === 'EADDRINUSE' || /EADDRINUSE/.test(errorMessage(err))) {
        throw new NodeError(NodeErrorCode.P2P_PORT_IN_USE, `p2p port ${config.p2p.listen.host}:${config.p2p.listen.port} is already in use: stop the other process or pass --p2p.port`, undefined, err)
      }
      throw err
    }
    const started = network
    opened.push(() => started.close())
  }

  const proposals = createProposals()
  const subscriptions = createSubscriptionHub({
    pendingTx: (hash) => {
      const e = mempool.get(hash)
      return e === undefined ? undefined : formatTransaction(e.tx, e.sender)
    },
    syncing: () => network?.syncing() ?? false,
  })
  const methods = createEthMethods({ chain, mempool, filters: undefined as never, config, broadcastTx: (raw) => network?.broadcastTx(raw), calls })
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

  const net = network
  const sealing = createSealing(
    { authority: config.authority, etherbase: config.miner?.etherbase, threads: config.miner?.threads },
    {
      chain,
      mempool,
      proposals,
      onSealed: (b) => {
        metrics?.blockSealed(b)
        uiMetrics?.sealed()
        net?.broadcastBlock(b.block)
      },
      receiving: net === undefined ? undefined : (n) => net.receiving(n),
      clockFault: () => clock.sealingFault(),
    },
  )
  const table = { ...methods.table, ...createCliqueMethods({ chain, proposals }), ...createAdminMethods({ chain, network }), ...createMinerMethods(sealing), ...createDebugMethods({ chain, config }) }
  // The dev mnemonic's accounts, unlocked on --dev only (node/rpc/dev-accounts.ts says why they need no token).
  Object.assign(table, createDevAccountMethods({ keys: config.dev ? devAccounts() : [], common: chain.common, table }))
  let gatekeeper: Gatekeeper | undefined
  if (config.gatekeeper !== undefined) {
    const p2p = network?.p2p
    try {
      gatekeeper = await createGatekeeper(config.gatekeeper.options, {
        // The gatekeeper's eth_call/eth_estimateGas stay on the main thread (methods.inProcess):
        // they target the system contracts and relationships made by the Relationships predeploy
        // (code fixed at genesis; serving checks isRelationship first; view loops are paged), under
        // the same gas cap, and run warm in well under 1 ms. In the pool they would compete with
        // whatever RPC clients queue there: a flood of max-gas calls could delay or refuse record
        // access. (A relationship address an authenticated operator passes to medrec_* is called
        // as given: that caller holds the node's token already.)
        transport: createInProcessRpc(Object.assign(Object.create(table) as RpcMethods, methods.inProcess)),
        account: config.gatekeeper.account,
        chainId: config.genesis.chainId,
        p2p: p2p === undefined ? undefined : { handle: (proto, h) => p2p.handle(proto, h), requestTo: (t, proto, body) => p2p.requestTo(t, proto, body), listenAddrs: () => p2p.listenAddrs() },
        onServed: metrics === undefined && uiMetrics === undefined ? undefined : (served) => {
          metrics?.gatekeeper(served)
          uiMetrics?.served(served.outcome === 'ok')
        },
      })
    } catch (err) {
      await unwind()
      throw err
    }
    const started = gatekeeper
    opened.push(() => started.close())
    Object.assign(table, createMedrecMethods(gatekeeper))
    const gk = gatekeeper
    chain.on('head', () => gk.onHead())
    gk.subscribe((n) => subscriptions.publishNotification(n))
  }
  const server = createRpcServer(config.rpc, { methods: table, subscriptions, routes: gatekeeper === undefined ? undefined : { '/medrec/events': notificationEvents(gatekeeper) } })
  let urls: { url: string; wsUrl: string }
  try {
    urls = await server.listen()
  } catch (err) {
    await unwind()
    if (errorCode(err) === 'EADDRINUSE') {
      throw new NodeError(NodeErrorCode.RPC_PORT_IN_USE, `RPC port ${config.rpc.addr}:${config.rpc.port} is already in use: stop the other process or pass --rpc.port`, undefined, err)
    }
    throw new NodeError(NodeErrorCode.RPC_LISTEN_FAILED, `cannot listen on ${config.rpc.addr}:${config.rpc.port}: ${errorMessage(err)}`, undefined, err)
  }
  opened.push(() => server.close())
  // The app's origin dispatches into the same method table, after the RPC server (reverse at close).
  let ui: UiServer | undefined
  let uiUrl: string | undefined
  if (config.ui !== undefined && uiMetrics !== undefined) {
    const gk = gatekeeper
    const uiServer = createUiServer(
      {
        ...config.ui,
        jwtSecret: config.rpc.jwtSecret,
        // What the app uses, plus on --dev whatever the RPC port serves; the protected methods still need a session.
        apis: [...new Set([...UI_APIS, ...(config.dev ? config.rpc.apis : [])])],
        maxRequestBytes: config.rpc.maxRequestBytes,
        batchRequestLimit: config.rpc.batchRequestLimit,
        batchResponseMaxSize: config.rpc.batchResponseMaxSize,
      },
      {
        methods: table,
        subscriptions,
        events: gk === undefined ? undefined : notificationEvents(gk),
        relay: gk === undefined ? undefined : (relationship, signed) => gk.requester.relay(relationship, signed),
        metrics: uiMetrics,
        identity: () => {
          const info = gk?.info()
          const sealer = config.authority !== undefined || config.miner?.mine === true
          const roles: UiRole[] = []
          if (info !== undefined && (info.patients > 0 || config.authority !== undefined)) roles.push('provider')
          if (info !== undefined) roles.push('patient')
          if (sealer) roles.push('researcher')
          roles.push('operator')
          const own = config.authority === undefined ? null : `0x${Buffer.from(config.authority.address).toString('hex')}`
          return { account: info?.account ?? own, chainId: Number(config.genesis.chainId), roles }
        },
      },
    )
    try {
      uiUrl = (await uiServer.listen()).url
      opened.push(() => uiServer.close(), () => removeUiUrl(config.datadir))
      await writeUiUrl(config.datadir, uiUrl)
    } catch (err) {
      await unwind()
      throw err
    }
    ui = uiServer
    log.info('MedRec app listening', { url: uiUrl })
  }
  if (metrics !== undefined) {
    try {
      await metrics.serve({ network, sealing })
    } catch (err) {
      await unwind()
      throw err
    }
    opened.push(() => metrics.close())
  }
  log.info('HTTP and WebSocket JSON-RPC listening', { url: urls.url, ws: urls.wsUrl })

  // An authority seals from the start; a miner with --mine (or later, miner_start).
  if (config.authority !== undefined || config.miner?.mine === true) {
    try {
      await sealing.start()
    } catch (err) {
      await unwind()
      throw err
    }
  }
  // Lists the gatekeeper in the Registrar (an authority's transaction): in the background, it waits for a block.
  void gatekeeper?.publish()

  let closing: Promise<void> | undefined
  let faulted: (err: ChainError) => void = () => {}
  const running: RunningNode = {
    stopped: new Promise((resolve) => (faulted = resolve)),
    rpcUrl: urls.url,
    wsUrl: urls.wsUrl,
    uiUrl,
    chain,
    network,
    gatekeeper,
    close() {
      closing ??= (async () => {
        log.info('Shutting down')
        // Sealing first, and synchronously with the call (stop() clears the flag before its first
        // await): no block is sealed or committed after the signal; the one being built is dropped.
        const sealingStopped = sealing.close()
        await metrics?.close()
        await sealingStopped
        await ui?.close()
        if (ui !== undefined) await removeUiUrl(config.datadir)
        uiMetrics?.close()
        await server.close()
        await gatekeeper?.close()
        await network?.close()
        filters.close?.()
        await recovery.close()
        await calls?.close()
        await chain.close()
      })()
      return closing
    },
  }
  // A failed database write: the chain already refuses every write (sealing and import stop
  // there); the rest closes in order (RPC stops answering) and the caller exits non-zero.
  const onFault = (err: ChainError) => {
    log.error('Stopping the node: the chain database failed', { datadir: config.datadir }, err.message)
    void running.close().finally(() => faulted(err))
  }
  if (chain.fault !== undefined) onFault(chain.fault)
  else chain.once('fatal', onFault)
  return running
}
