import { EventEmitter } from 'node:events'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { createLogger } from '../common/logger.ts'
import { errorMessage } from '../common/errors.ts'
import * as app from './app.ts'
import { requestRange } from './client.ts'
import { P2PCore, publishStopped } from './core.ts'
import { Dialer } from './dialer.ts'
import { askForPeers } from './discovery.ts'
import { P2PError } from './errors.ts'
import { gossipOptions } from './gossip.ts'
import { reachableListenAddrs } from './listen-addrs.ts'
import { watchGossipScores, type ScoredGossipSub } from './gossip-bans.ts'
import { publish, validate } from './gossip-messages.ts'
import { nodeKeyToPrivateKey, peerIdFromNodeKey } from './identity.ts'
import { GOSSIP_MAX_BYTES, TX_BATCH_BYTES, resolveP2POptions, type P2PInit, type P2POptions } from './options.ts'
import { PeerExchangeSchedule } from './peer-exchange.ts'
import { isOtherChain, onConnect, onDisconnect, peerInfo, requestStatus } from './peers.ts'
import { penaltyFor } from './reqresp.ts'
import { PeerScores } from './scoring.ts'
import { serve } from './server.ts'
import { MAX_BATCH_TXS } from './tx-batch.ts'
import { TX_PROTOCOL, TxGossip } from './tx-gossip.ts'
import type { AppHandler, AppHandlerOptions, AppRequestOptions, DialTargetInfo, P2P, P2PEvents, P2PModules, PeerIdStr, PeerInfo, PenaltyReason, Status } from './types.ts'
import { PROTOCOLS, topicNames } from './wire.ts'

const log = createLogger('p2p')

/**
 * The libp2p host: TCP + noise + yamux + identify, gossipsub for transactions and blocks,
 * request/response for status and ranges, our own peer scoring and bans, a bootnode dialer.
 * It starts and stops libp2p and is the P2P interface; the sections work on its state
 * (core.ts): chain peers (peers.ts), gossip (gossip-messages.ts), request/response (client.ts,
 * server.ts), peer exchange (discovery.ts), application protocols (app.ts).
 */
class P2PNode extends EventEmitter<P2PEvents> implements P2P {
  readonly peerId: PeerIdStr
  readonly topics: { readonly tx: string; readonly block: string }
  readonly #core: P2PCore
  readonly #txs: TxGossip
  #statusTimer: NodeJS.Timeout | undefined
  #reapTimer: NodeJS.Timeout | undefined

  constructor(opts: P2POptions, modules: P2PModules) {
    super()
    this.topics = topicNames(opts.chainId)
    this.peerId = peerIdFromNodeKey(opts.privateKey)
    const batchBytes = Math.max(opts.maxTxBytes, TX_BATCH_BYTES)
    const core = new P2PCore({
      opts,
      modules,
      events: this,
      peerId: this.peerId,
      topics: this.topics,
      scores: new PeerScores(opts),
      pex: new PeerExchangeSchedule(opts.peerExchangeIntervalMs),
      gossipBlockLimit: Math.min(opts.maxBlockBytes, GOSSIP_MAX_BYTES),
      // msgpack spends at most 5 bytes framing each byte string and 5 on the array.
      gossipTxLimit: Math.min(GOSSIP_MAX_BYTES, batchBytes + 5 * MAX_BATCH_TXS + 5),
    })
    this.#core = core
    const txs = new TxGossip(core)
    this.#txs = txs
    core.txRelay = txs
    this.on('peer:connected', (peer) => txs.peerReady(peer.id))
    this.on('peer:disconnected', (peer) => txs.removePeer(peer))
    core.dialer = new Dialer(opts, {
      self: this.peerId,
      dial: async (addrs) => {
        await core.node().dial(addrs, { signal: AbortSignal.timeout(opts.requestTimeoutMs) })
      },
      // Any open connection, so an app-only one is not redialled while it lasts.
      isConnected: (peer) => core.connections(peer).length > 0,
      isBanned: (peer) => core.scores.isBanned(peer) || isOtherChain(core, peer),
      peerCount: () => core.peers.size,
      onBelowMinPeers: () => askForPeers(core),
    })
    for (const b of opts.bootnodes) core.dialer.add(b)
  }

  async start(): Promise<void> {
    const core = this.#core
    const o = core.opts
    const banned = (id: PeerId) => {
      const peer = id.toString()
      if (!core.scores.isBanned(peer)) return false
      log.debug('Refused a connection of a banned peer', { peer, reason: core.scores.banReason(peer) })
      return true
    }
    const node = await createLibp2p({
      start: false,
      privateKey: nodeKeyToPrivateKey(o.privateKey),
      addresses: { listen: [`/${o.listen.host.includes(':') ? 'ip6' : 'ip4'}/${o.listen.host}/tcp/${o.listen.port}`] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { maxConnections: o.maxPeers + o.maxAppConnections },
      connectionGater: {
        denyDialPeer: banned,
        denyInboundEncryptedConnection: banned,
        denyOutboundEncryptedConnection: banned,
      },
      services: {
        identify: identify(),
        pubsub: gossipsub(
          gossipOptions({
            topics: this.topics,
            appScore: (peer) => core.scores.score(peer),
            heartbeatIntervalMs: o.heartbeatIntervalMs,
            maxInboundBytes: Math.max(o.maxTxBytes, core.gossipBlockLimit),
          }),
        ),
      },
    })
    core.libp2p = node
    node.addEventListener('peer:connect', (evt) => onConnect(core, evt.detail))
    node.addEventListener('peer:disconnect', (evt) => onDisconnect(core, evt.detail))
    await node.handle(PROTOCOLS.status, (stream, conn) => serve(core, 'status', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await node.handle(PROTOCOLS.blocksByRange, (stream, conn) => serve(core, 'blocks', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await node.handle(PROTOCOLS.headersByRange, (stream, conn) => serve(core, 'headers', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await node.handle(TX_PROTOCOL, (stream, conn) => this.#txs.serve(stream, conn), { maxInboundStreams: 2, maxOutboundStreams: 2 })
    if (o.discovery) await node.handle(PROTOCOLS.peers, (stream, conn) => serve(core, 'peers', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    const pubsub = node.services.pubsub
    pubsub.topicValidators.set(this.topics.tx, (from, msg) => validate(core, 'tx', from, msg))
    pubsub.topicValidators.set(this.topics.block, (from, msg) => validate(core, 'block', from, msg))
    // gossipsub 17's class has getScore; its GossipSub interface does not declare it.
    watchGossipScores(core, pubsub as ScoredGossipSub)
    try {
      await node.start()
    } catch (err) {
      await Promise.resolve(node.stop()).catch(() => {})
      // libp2p's message embeds each address's error with its stack: keep the error lines.
      const detail = errorMessage(err)
      const inUse = /EADDRINUSE/.test(detail)
      const reason = inUse ? 'address already in use (EADDRINUSE)' : detail.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l)).map((l) => l.trim()).join(' ')
      throw new P2PError('P2P_LISTEN_FAILED', `cannot listen on ${o.listen.host}:${o.listen.port}: ${reason}`, { listen: o.listen, ...(inUse ? { errno: 'EADDRINUSE' } : {}) }, err)
    }
    pubsub.subscribe(this.topics.tx)
    pubsub.subscribe(this.topics.block)
    core.dialer.start()
    this.#reapTimer = setInterval(() => app.reapIdle(core), Math.max(50, Math.floor(o.appIdleMs / 2)))
    this.#reapTimer.unref()
    if (o.statusIntervalMs > 0) {
      this.#statusTimer = setInterval(() => {
        core.scores.prune()
        void this.announceStatus()
      }, o.statusIntervalMs)
      this.#statusTimer.unref()
    }
    log.info('P2P started', { peerId: this.peerId, listen: this.listenAddrs().join(',') })
  }

  // ---- public API ----

  listenAddrs(): string[] {
    const core = this.#core
    return reachableListenAddrs(core.libp2p?.getMultiaddrs().map((a) => a.toString()) ?? [], core.opts.listen.host)
  }

  peers(): PeerInfo[] {
    const core = this.#core
    return [...core.peers.values()].map((s) => peerInfo(core, s))
  }

  peerCount(): number {
    const core = this.#core
    return core.peers.size
  }

  async addPeer(addr: string): Promise<PeerIdStr> {
    const core = this.#core
    core.node()
    const peer = core.dialer.add(addr)
    if (peer === this.peerId) throw new P2PError('P2P_INVALID_MULTIADDR', 'that is our own address', { multiaddr: addr })
    if (core.peers.has(peer)) return peer
    if (core.peers.size >= core.opts.maxPeers) {
      throw new P2PError('P2P_TOO_MANY_PEERS', `already at maxPeers (${core.opts.maxPeers}); the dialer will try it when below minPeers`, { peer })
    }
    await core.dialer.dialNow(peer)
    return peer
  }

  dialTarget(peer: PeerIdStr): DialTargetInfo | undefined {
    const core = this.#core
    return core.dialer.target(peer)
  }

  learnedPeerCount(): number {
    const core = this.#core
    return core.dialer.learnedCount()
  }

  async publishTx(bytes: Uint8Array): Promise<number> {
    const core = this.#core
    const limit = core.opts.maxTxBytes
    if (bytes.length > limit) throw new P2PError('P2P_MESSAGE_TOO_LARGE', `transaction of ${bytes.length} bytes exceeds ${limit}`, { topic: this.topics.tx, size: bytes.length, limit })
    if (core.stopped || core.libp2p === undefined) throw publishStopped(this.topics.tx)
    return this.#txs.publish(bytes)
  }

  async publishBlock(bytes: Uint8Array): Promise<number> {
    const core = this.#core
    return publish(core, this.topics.block, bytes, core.gossipBlockLimit)
  }

  async requestStatus(peer: PeerIdStr): Promise<Status> {
    const core = this.#core
    return requestStatus(core, peer, penaltyFor)
  }

  async requestBlocks(peer: PeerIdStr, from: bigint, count: number, opts: { timeoutMs?: number } = {}): Promise<Uint8Array[]> {
    const core = this.#core
    return requestRange(core, peer, PROTOCOLS.blocksByRange, from, count, core.opts.maxBlockBytes, opts.timeoutMs)
  }

  async requestHeaders(peer: PeerIdStr, from: bigint, count: number, opts: { timeoutMs?: number } = {}): Promise<Uint8Array[]> {
    const core = this.#core
    return requestRange(core, peer, PROTOCOLS.headersByRange, from, count, core.opts.maxHeaderBytes, opts.timeoutMs)
  }

  async announceStatus(): Promise<void> {
    const core = this.#core
    if (core.stopped) return
    await Promise.allSettled([...core.peers.keys()].map((peer) => this.requestStatus(peer)))
  }

  handle(protocol: string, handler: AppHandler, opts: AppHandlerOptions = {}): void {
    app.handle(this.#core, protocol, handler, opts)
  }

  unhandle(protocol: string): void {
    app.unhandle(this.#core, protocol)
  }

  requestTo(target: string, protocol: string, body: Uint8Array, opts: AppRequestOptions = {}): Promise<Uint8Array> {
    return app.requestTo(this.#core, target, protocol, body, opts)
  }

  penalize(peer: PeerIdStr, reason: PenaltyReason): void {
    this.#core.penalize(peer, reason)
  }

  async stop(): Promise<void> {
    const core = this.#core
    if (core.stopped) return
    core.dialer.stop()
    clearInterval(this.#statusTimer)
    clearInterval(this.#reapTimer)
    const node = core.libp2p
    core.stopped = true
    this.#txs.close(publishStopped(this.topics.tx))
    if (node) await node.stop()
    for (const [peer, st] of core.peers) {
      core.peers.delete(peer)
      if (st.announced) core.emit('peer:disconnected', peer)
    }
    log.info('P2P stopped', { peerId: this.peerId })
  }
}

/** Starts a libp2p node as configured; resolves once it listens. */
export async function createP2P(opts: P2PInit, modules: P2PModules): Promise<P2P> {
  const node = new P2PNode(resolveP2POptions(opts), modules)
  await node.start()
  return node
}
