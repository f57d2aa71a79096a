import { EventEmitter } from 'node:events'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { gossipsub, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { createLogger } from '../common/logger.ts'
import { errorMessage } from '../common/errors.ts'
import { P2PError, type P2PErrorCode } from './errors.ts'
import { APP_MAX_REQUEST_BYTES, GOSSIP_MAX_BYTES, MAX_REQUEST_BYTES, TX_BATCH_BYTES, resolveP2POptions, type P2PInit, type P2POptions } from './options.ts'
import { Dialer, parsePeerAddr } from './dialer.ts'
import { gossipOptions } from './gossip.ts'
import { nodeKeyToPrivateKey, peerIdFromNodeKey } from './identity.ts'
import { TokenBucket } from './rate-limit.ts'
import { penaltyFor, readRequest, request, type InboundRequest } from './reqresp.ts'
import { PeerScores } from './scoring.ts'
import {
  PROTOCOLS,
  decodeAppResponse,
  decodeItemsResponse,
  decodePeersRequest,
  decodePeersResponse,
  decodeRangeRequest,
  decodeStatusRequest,
  decodeStatusResponse,
  encodeAppResponse,
  encodeErrorResponse,
  encodeItemsResponse,
  encodePeersRequest,
  encodePeersResponse,
  encodeRangeRequest,
  encodeStatusRequest,
  encodeStatusResponse,
  MAX_EXCHANGED_PEERS,
  PEERS_MAX_RESPONSE_BYTES,
  topicNames,
  type ExchangedPeer,
  type RangeRequest,
} from './wire.ts'
import { advertisedAddrs, ipOf, learnableAddrs, PeerExchangeSchedule } from './peer-exchange.ts'
import { decodeTxBatch, MAX_BATCH_TXS, TxBatcher } from './tx-batch.ts'
import type { AppHandler, AppHandlerOptions, AppRequestOptions, DialTargetInfo, GossipResult, P2P, P2PEvents, P2PModules, PeerIdStr, PeerInfo, PenaltyReason, Status } from './types.ts'

const log = createLogger('p2p')

type Services = { identify: Identify; pubsub: GossipSub }
/** Parts of gossipsub's class that its `GossipSub` interface does not declare. */
type GossipSubExtras = { getScore?(peer: string): number }

interface PeerState {
  id: PeerIdStr
  status: Status | null
  /** `peer:connected` was emitted (the handshake succeeded). */
  announced: boolean
  gossipBucket: TokenBucket
  requestBucket: TokenBucket
}

/** App protocol use of a peer, chain peer or not: keeps its connection open and rate-limits it. */
interface AppPeer {
  /** App streams under way (served or requested). */
  active: number
  /** When the last one ended. */
  last: number
  /** Its app requests served (`requestRate`). */
  bucket: TokenBucket
}

interface AppProtocol {
  handler: AppHandler
  maxRequestBytes: number
  maxResponseBytes: number
  timeoutMs: number
}

/** Which failures of a request earn the remote a penalty. */
type PenaltyRule = (code: P2PErrorCode) => PenaltyReason | undefined

/** The connect handshake: a peer that does not speak status is simply not a chain peer. */
const handshakePenalty: PenaltyRule = (code) => (code === 'PROTOCOL_UNSUPPORTED' ? undefined : penaltyFor(code))
/** App requests: only a malformed answer is the remote's fault (a slow handler, a response
 * above our own limit or a protocol it does not serve are not). */
const appPenalty: PenaltyRule = (code) => (code === 'INVALID_RESPONSE' ? 'invalid-response' : undefined)
/** Peer exchange: a peer run with discovery off does not serve it, and need not. */
const exchangePenalty: PenaltyRule = handshakePenalty

const RESULT: Record<GossipResult, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
}

/** `p`, or the signal's reason once it aborts first (a late rejection of `p` is not unhandled). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => {})
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function positiveInts(limits: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(limits)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new P2PError('INVALID_OPTIONS', `${k} must be a positive integer`, { [k]: v })
  }
}

/** A `requestTo` target: a `/p2p/`-terminated multiaddr (dialable) or a bare peer id. */
function parseTarget(target: string): { peer: PeerIdStr; addr?: ReturnType<typeof parsePeerAddr>['addr'] } {
  if (typeof target === 'string' && target.startsWith('/')) return parsePeerAddr(target)
  try {
    return { peer: peerIdFromString(target).toString() }
  } catch (err) {
    throw new P2PError('INVALID_PEER_ID', `not a peer id nor a multiaddr: ${String(target)}`, { target }, err)
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function sameStatus(a: Status, b: Status): boolean {
  return a.head.number === b.head.number && sameBytes(a.head.hash, b.head.hash) && a.totalDifficulty === b.totalDifficulty
}

const publishStopped = (topic: string, cause?: unknown) => new P2PError('STOPPED', `publish on ${topic} failed: p2p is stopped`, { topic }, cause)

/**
 * The libp2p host: TCP + noise + yamux + identify, gossipsub for transactions and blocks,
 * request/response for status and ranges, our own peer scoring and bans, a bootnode dialer.
 */
class P2PNode extends EventEmitter<P2PEvents> implements P2P {
  readonly peerId: PeerIdStr
  readonly topics: { readonly tx: string; readonly block: string }
  readonly #opts: P2POptions
  readonly #modules: P2PModules
  readonly #scores: PeerScores
  readonly #dialer: Dialer
  readonly #peers = new Map<PeerIdStr, PeerState>()
  readonly #gossipBlockLimit: number
  /** Largest transaction batch message (its transactions are bounded one by one by maxTxBytes). */
  readonly #gossipTxLimit: number
  readonly #txBatch: TxBatcher
  /** Peers of another chain or genesis, until when: not dialled, not admitted as chain peers. */
  readonly #otherChain = new Map<PeerIdStr, number>()
  readonly #appPeers = new Map<PeerIdStr, AppPeer>()
  readonly #appProtocols = new Map<string, AppProtocol>()
  readonly #pex: PeerExchangeSchedule
  #libp2p: Libp2p<Services> | undefined
  #statusTimer: NodeJS.Timeout | undefined
  #reapTimer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(opts: P2POptions, modules: P2PModules) {
    super()
    this.#opts = opts
    this.#modules = modules
    this.topics = topicNames(opts.chainId)
    this.#gossipBlockLimit = Math.min(opts.maxBlockBytes, GOSSIP_MAX_BYTES)
    const batchBytes = Math.max(opts.maxTxBytes, TX_BATCH_BYTES)
    // msgpack spends at most 5 bytes framing each byte string and 5 on the array.
    this.#gossipTxLimit = Math.min(GOSSIP_MAX_BYTES, batchBytes + 5 * MAX_BATCH_TXS + 5)
    this.#txBatch = new TxBatcher((data) => this.#publish(this.topics.tx, data, this.#gossipTxLimit), { maxBytes: batchBytes, delayMs: opts.txBatchMs })
    this.#scores = new PeerScores(opts)
    this.peerId = peerIdFromNodeKey(opts.privateKey)
    this.#pex = new PeerExchangeSchedule(opts.peerExchangeIntervalMs)
    this.#dialer = new Dialer(opts, {
      self: this.peerId,
      dial: async (addrs) => {
        await this.#node().dial(addrs, { signal: AbortSignal.timeout(opts.requestTimeoutMs) })
      },
      // Any open connection, so an app-only one is not redialled while it lasts.
      isConnected: (peer) => this.#connections(peer).length > 0,
      isBanned: (peer) => this.#scores.isBanned(peer) || this.#isOtherChain(peer),
      peerCount: () => this.#peers.size,
      onBelowMinPeers: () => this.#askForPeers(),
    })
    for (const b of opts.bootnodes) this.#dialer.add(b)
  }

  async start(): Promise<void> {
    const o = this.#opts
    const banned = (id: PeerId) => this.#scores.isBanned(id.toString())
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
            appScore: (peer) => this.#scores.score(peer),
            heartbeatIntervalMs: o.heartbeatIntervalMs,
            maxInboundBytes: Math.max(o.maxTxBytes, this.#gossipBlockLimit),
          }),
        ),
      },
    })
    this.#libp2p = node
    node.addEventListener('peer:connect', (evt) => this.#onConnect(evt.detail))
    node.addEventListener('peer:disconnect', (evt) => this.#onDisconnect(evt.detail))
    await node.handle(PROTOCOLS.status, (stream, conn) => this.#serve('status', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await node.handle(PROTOCOLS.blocksByRange, (stream, conn) => this.#serve('blocks', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await node.handle(PROTOCOLS.headersByRange, (stream, conn) => this.#serve('headers', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    if (o.discovery) await node.handle(PROTOCOLS.peers, (stream, conn) => this.#serve('peers', stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 })
    const pubsub = node.services.pubsub
    pubsub.topicValidators.set(this.topics.tx, (from, msg) => this.#validate('tx', from, msg))
    pubsub.topicValidators.set(this.topics.block, (from, msg) => this.#validate('block', from, msg))
    try {
      await node.start()
    } catch (err) {
      await Promise.resolve(node.stop()).catch(() => {})
      // libp2p's message embeds each address's error with its stack: keep the error lines.
      const detail = errorMessage(err)
      const inUse = /EADDRINUSE/.test(detail)
      const reason = inUse ? 'address already in use (EADDRINUSE)' : detail.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l)).map((l) => l.trim()).join(' ')
      throw new P2PError('LISTEN_FAILED', `cannot listen on ${o.listen.host}:${o.listen.port}: ${reason}`, { listen: o.listen, ...(inUse ? { errno: 'EADDRINUSE' } : {}) }, err)
    }
    pubsub.subscribe(this.topics.tx)
    pubsub.subscribe(this.topics.block)
    this.#dialer.start()
    this.#reapTimer = setInterval(() => this.#reapIdle(), Math.max(50, Math.floor(o.appIdleMs / 2)))
    this.#reapTimer.unref()
    if (o.statusIntervalMs > 0) {
      this.#statusTimer = setInterval(() => {
        this.#scores.prune()
        void this.announceStatus()
      }, o.statusIntervalMs)
      this.#statusTimer.unref()
    }
    log.info('P2P started', { peerId: this.peerId, listen: this.listenAddrs().join(',') })
  }

  #node(): Libp2p<Services> {
    if (!this.#libp2p || this.#stopped) throw new P2PError('STOPPED', 'p2p is stopped')
    return this.#libp2p
  }

  // ---- public API ----

  listenAddrs(): string[] {
    return this.#libp2p?.getMultiaddrs().map((a) => a.toString()) ?? []
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((s) => this.#info(s))
  }

  peerCount(): number {
    return this.#peers.size
  }

  async addPeer(addr: string): Promise<PeerIdStr> {
    this.#node()
    const peer = this.#dialer.add(addr)
    if (peer === this.peerId) throw new P2PError('INVALID_MULTIADDR', 'that is our own address', { multiaddr: addr })
    if (this.#peers.has(peer)) return peer
    if (this.#peers.size >= this.#opts.maxPeers) {
      throw new P2PError('TOO_MANY_PEERS', `already at maxPeers (${this.#opts.maxPeers}); the dialer will try it when below minPeers`, { peer })
    }
    await this.#dialer.dialNow(peer)
    return peer
  }

  dialTarget(peer: PeerIdStr): DialTargetInfo | undefined {
    return this.#dialer.target(peer)
  }

  learnedPeerCount(): number {
    return this.#dialer.learnedCount()
  }

  async publishTx(bytes: Uint8Array): Promise<number> {
    const limit = this.#opts.maxTxBytes
    if (bytes.length > limit) throw new P2PError('MESSAGE_TOO_LARGE', `transaction of ${bytes.length} bytes exceeds ${limit}`, { topic: this.topics.tx, size: bytes.length, limit })
    if (this.#stopped || this.#libp2p === undefined) throw publishStopped(this.topics.tx)
    return this.#txBatch.add(bytes)
  }

  async publishBlock(bytes: Uint8Array): Promise<number> {
    return this.#publish(this.topics.block, bytes, this.#gossipBlockLimit)
  }

  async requestStatus(peer: PeerIdStr): Promise<Status> {
    return this.#requestStatus(peer, penaltyFor)
  }

  async #requestStatus(peer: PeerIdStr, penalty: PenaltyRule): Promise<Status> {
    const body = encodeStatusRequest(await this.#localStatus())
    const frame = await this.#exchange(peer, PROTOCOLS.status, body, { maxResponseBytes: 1024, penalty })
    const res = this.#decodeOrPenalise(peer, () => decodeStatusResponse(frame))
    if (!res.ok) throw new P2PError('REMOTE_ERROR', `status refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
    if (!this.#onStatus(peer, res.value)) {
      throw new P2PError('WRONG_CHAIN', `peer ${peer} is on chain ${res.value.chainId} with another genesis or id`, { peer, chainId: res.value.chainId })
    }
    return res.value
  }

  async requestBlocks(peer: PeerIdStr, from: bigint, count: number): Promise<Uint8Array[]> {
    return this.#requestRange(peer, PROTOCOLS.blocksByRange, from, count, this.#opts.maxBlockBytes)
  }

  async requestHeaders(peer: PeerIdStr, from: bigint, count: number): Promise<Uint8Array[]> {
    return this.#requestRange(peer, PROTOCOLS.headersByRange, from, count, this.#opts.maxHeaderBytes)
  }

  async announceStatus(): Promise<void> {
    if (this.#stopped) return
    await Promise.allSettled([...this.#peers.keys()].map((peer) => this.requestStatus(peer)))
  }

  handle(protocol: string, handler: AppHandler, opts: AppHandlerOptions = {}): void {
    const node = this.#node()
    if (typeof protocol !== 'string' || !/^\/\S+$/.test(protocol)) throw new P2PError('INVALID_OPTIONS', `a protocol id is a path like /medrec/gatekeeper/1, not ${JSON.stringify(protocol)}`)
    if (this.#appProtocols.has(protocol) || node.getProtocols().includes(protocol)) {
      throw new P2PError('INVALID_OPTIONS', `${protocol} is already served; unhandle it first`, { protocol })
    }
    if (typeof handler !== 'function') throw new P2PError('INVALID_OPTIONS', 'handler must be a function', { protocol })
    const limits = {
      maxRequestBytes: opts.maxRequestBytes ?? APP_MAX_REQUEST_BYTES,
      maxResponseBytes: opts.maxResponseBytes ?? this.#opts.maxResponseBytes,
      timeoutMs: opts.timeoutMs ?? this.#opts.requestTimeoutMs,
    }
    positiveInts(limits)
    const app: AppProtocol = { handler, ...limits }
    this.#appProtocols.set(protocol, app)
    // libp2p registers the handler synchronously; only its peer store update is awaited.
    node.handle(protocol, (stream, conn) => this.#serveApp(app, stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 }).catch((err: unknown) => log.warn('Registering an app protocol failed', { protocol }, err))
  }

  unhandle(protocol: string): void {
    if (!this.#appProtocols.delete(protocol) || !this.#libp2p || this.#stopped) return
    this.#libp2p.unhandle(protocol).catch((err: unknown) => log.debug('Unregistering an app protocol failed', { protocol }, err))
  }

  async requestTo(target: string, protocol: string, body: Uint8Array, opts: AppRequestOptions = {}): Promise<Uint8Array> {
    const node = this.#node()
    const timeoutMs = opts.timeoutMs ?? this.#opts.requestTimeoutMs
    const maxResponseBytes = opts.maxResponseBytes ?? this.#opts.maxResponseBytes
    positiveInts({ timeoutMs, maxResponseBytes })
    if (!(body instanceof Uint8Array)) throw new P2PError('INVALID_OPTIONS', 'the request body must be a Uint8Array', { protocol })
    const deadline = Date.now() + timeoutMs
    const { peer, addr } = parseTarget(target)
    if (peer === this.peerId) throw new P2PError('INVALID_MULTIADDR', 'that is our own address', { target })
    if (this.#scores.isBanned(peer)) throw new P2PError('PEER_BANNED', `peer ${peer} is banned (${this.#scores.banReason(peer)})`, { peer })
    const use = this.#appPeer(peer)
    use.active++ // keeps the connection from being reaped while the request is under way
    try {
      if (this.#connections(peer).length === 0) {
        if (!addr) throw new P2PError('NOT_CONNECTED', `not connected to ${peer}; pass its multiaddr (…/p2p/<peerId>) to dial it`, { peer })
        const signal = AbortSignal.timeout(timeoutMs)
        try {
          // A one-off dial: not a Dialer target, so never redialled.
          await node.dial(addr, { signal })
        } catch (err) {
          const why = signal.aborted ? `timed out after ${timeoutMs} ms` : errorMessage(err)
          throw new P2PError('DIAL_FAILED', `dial ${target} failed: ${why}`, { peer }, err)
        }
      }
      let frame: Uint8Array
      try {
        // An error envelope must fit even under a tiny limit; the data's own size is checked below.
        frame = await this.#exchange(peer, protocol, body, { maxResponseBytes: Math.max(maxResponseBytes, 1024) + 64, timeoutMs: Math.max(1, deadline - Date.now()), penalty: appPenalty })
      } catch (err) {
        if (err instanceof P2PError && err.code === 'PROTOCOL_UNSUPPORTED') throw new P2PError(err.code, `peer ${peer} does not serve ${protocol}`, { peer, protocol }, err)
        if (err instanceof P2PError && err.code === 'TIMEOUT') throw new P2PError(err.code, `${protocol} request to ${peer} timed out after ${timeoutMs} ms`, { peer, protocol }, err)
        throw err
      }
      const res = this.#decodeOrPenalise(peer, () => decodeAppResponse(frame))
      if (!res.ok) {
        throw new P2PError('REMOTE_ERROR', `${protocol} at ${peer} answered ${res.code}: ${res.message}`, { peer, protocol, remoteCode: res.code, remoteMessage: res.message })
      }
      if (res.value.length > maxResponseBytes) {
        throw new P2PError('OVERSIZED', `${protocol} response of ${res.value.length} bytes exceeds maxResponseBytes ${maxResponseBytes}`, { peer, protocol })
      }
      return res.value
    } finally {
      use.active--
      use.last = Date.now()
    }
  }

  penalize(peer: PeerIdStr, reason: PenaltyReason): void {
    if (this.#stopped || peer === this.peerId) return
    const { score, banned } = this.#scores.penalize(peer, reason)
    log.debug('Peer penalised', { peer, reason, score })
    this.#modules.observer?.penalty?.(reason, banned)
    if (banned) {
      log.info('Banned peer', { peer, reason, score, banMs: this.#opts.banMs })
      this.#hangUp(peer)
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#dialer.stop()
    clearInterval(this.#statusTimer)
    clearInterval(this.#reapTimer)
    const node = this.#libp2p
    this.#stopped = true
    this.#txBatch.close(publishStopped(this.topics.tx))
    if (node) await node.stop()
    for (const [peer, st] of this.#peers) {
      this.#peers.delete(peer)
      if (st.announced) this.#emit('peer:disconnected', peer)
    }
    log.info('P2P stopped', { peerId: this.peerId })
  }

  // ---- peers ----

  #state(peer: PeerIdStr): PeerState {
    let s = this.#peers.get(peer)
    if (!s) {
      s = { id: peer, status: null, announced: false, gossipBucket: new TokenBucket(this.#opts.gossipRate), requestBucket: new TokenBucket(this.#opts.requestRate) }
      this.#peers.set(peer, s)
    }
    return s
  }

  #info(s: PeerState): PeerInfo {
    const conns = this.#connections(s.id)
    const pubsub = this.#libp2p?.services.pubsub as (GossipSub & GossipSubExtras) | undefined
    return {
      id: s.id,
      addrs: conns.map((c) => c.remoteAddr.toString()),
      direction: conns[0]?.direction ?? 'inbound',
      status: s.status,
      score: this.#scores.score(s.id),
      gossipScore: pubsub?.getScore?.(s.id) ?? 0,
    }
  }

  #connections(peer: PeerIdStr): Connection[] {
    if (!this.#libp2p) return []
    return this.#libp2p.getConnections(peerIdFromString(peer)).filter((c) => c.status === 'open')
  }

  #hangUp(peer: PeerIdStr): void {
    if (!this.#libp2p || this.#stopped) return
    this.#libp2p.hangUp(peerIdFromString(peer)).catch((err: unknown) => log.debug('Hang up failed', { peer }, err))
  }

  /** Listeners run inside network callbacks: one that throws must not break p2p. */
  #emit<E extends keyof P2PEvents>(event: E, ...args: P2PEvents[E]): void {
    try {
      // The untyped view: TypeScript cannot relate a generic tuple to EventEmitter<T>'s parameters.
      ;(this as EventEmitter).emit(event, ...args)
    } catch (err) {
      log.error('A p2p event listener threw', { event }, err)
    }
  }

  #onConnect(id: PeerId): void {
    const peer = id.toString()
    if (this.#stopped || this.#peers.has(peer)) return
    if (this.#scores.isBanned(peer)) {
      this.#hangUp(peer)
      return
    }
    // Not admitted as a chain peer, the connection stays for app protocols until idle (#reapIdle).
    if (this.#isOtherChain(peer)) {
      log.debug('Peer of another chain connected: app protocols only', { peer })
      return
    }
    if (this.#peers.size >= this.#opts.maxPeers) {
      log.debug('Too many peers: app protocols only', { peer, maxPeers: this.#opts.maxPeers })
      return
    }
    this.#state(peer)
    log.debug('Peer connected', { peer })
    this.#requestStatus(peer, handshakePenalty).catch((err: unknown) => {
      if (!this.#peers.has(peer) || this.#peers.get(peer)?.announced) return
      log.debug('Status handshake failed: app protocols only', { peer }, err)
      this.#demote(peer)
    })
  }

  /** No longer a chain peer; its connection stays for app protocols until idle (#reapIdle). */
  #demote(peer: PeerIdStr): void {
    const s = this.#peers.get(peer)
    if (!s) return
    this.#peers.delete(peer)
    if (s.announced) this.#emit('peer:disconnected', peer)
  }

  #isOtherChain(peer: PeerIdStr): boolean {
    const until = this.#otherChain.get(peer)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.#otherChain.delete(peer)
    return false
  }

  #onDisconnect(id: PeerId): void {
    const peer = id.toString()
    this.#dialer.onDisconnected(peer)
    const s = this.#peers.get(peer)
    if (!s) return
    this.#peers.delete(peer)
    log.debug('Peer disconnected', { peer })
    if (s.announced) this.#emit('peer:disconnected', peer)
  }

  /** A status from `peer` (its request or its response). False when it is of another chain. */
  #onStatus(peer: PeerIdStr, status: Status): boolean {
    if (status.chainId !== this.#opts.chainId || !sameBytes(status.genesisHash, this.#opts.genesisHash)) {
      log.info('Peer is on another chain: not a chain peer (app protocols only)', {
        peer,
        chainId: status.chainId,
        genesis: status.genesisHash,
        banMs: this.#opts.mismatchBanMs,
      })
      this.#otherChain.set(peer, Date.now() + this.#opts.mismatchBanMs)
      this.#demote(peer)
      return false
    }
    const s = this.#peers.get(peer)
    if (!s) return true
    const prev = s.status
    s.status = status
    if (!s.announced) {
      s.announced = true
      this.#emit('peer:connected', this.#info(s))
      this.#askForPeers(peer)
    } else if (!prev || !sameStatus(prev, status)) {
      this.#emit('peer:status', peer, status)
    }
    return true
  }

  async #localStatus(): Promise<Status> {
    const h = await this.#modules.getHead()
    return { chainId: this.#opts.chainId, genesisHash: this.#opts.genesisHash, head: h.head, totalDifficulty: h.totalDifficulty }
  }

  // ---- gossip ----

  async #publish(topic: string, bytes: Uint8Array, limit: number): Promise<number> {
    const pubsub = this.#node().services.pubsub
    if (bytes.length > limit) throw new P2PError('MESSAGE_TOO_LARGE', `message of ${bytes.length} bytes exceeds ${limit} for ${topic}`, { topic, size: bytes.length, limit })
    try {
      const res = await pubsub.publish(topic, bytes)
      return res.recipients.length
    } catch (err) {
      if (this.#stopped) throw publishStopped(topic, err)
      if (/NoPeersSubscribedToTopic|InsufficientPeers/.test(errorMessage(err))) throw new P2PError('NO_PEERS', `publish on ${topic}: no peer has joined the topic yet`, { topic }, err)
      throw new P2PError('PUBLISH_FAILED', `publish on ${topic} failed: ${errorMessage(err)}`, { topic }, err)
    }
  }

  async #validate(kind: 'tx' | 'block', from: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const verdict = await this.#judge(kind, from.toString(), msg)
    this.#modules.observer?.gossip?.(kind, verdict)
    return RESULT[verdict]
  }

  async #judge(kind: 'tx' | 'block', peer: PeerIdStr, msg: Message): Promise<GossipResult> {
    const s = this.#peers.get(peer)
    // Nothing from peers we are dropping or whose chain we do not know yet (the handshake
    // completes within a round trip of connecting).
    if (!s || s.status === null) return 'ignore'
    if (!s.gossipBucket.take()) {
      this.penalize(peer, 'rate-limit')
      return 'ignore'
    }
    const limit = kind === 'tx' ? this.#gossipTxLimit : this.#gossipBlockLimit
    if (msg.data.length > limit) {
      this.penalize(peer, 'oversized')
      return 'reject'
    }
    let result: GossipResult
    try {
      result = kind === 'tx' ? await this.#judgeTxBatch(peer, msg.data) : await this.#modules.validateBlock(msg.data, peer)
    } catch (err) {
      log.warn('Gossip validator threw; ignoring the message', { kind, peer }, err)
      return 'ignore'
    }
    if (result === 'reject') this.penalize(peer, 'gossip-reject')
    return RESULT[result] === undefined ? 'ignore' : result
  }

  /**
   * A batch is forwarded when one of its transactions is new and none is invalid: an invalid
   * transaction in it is the relaying peer's fault as if it came alone (it validated the batch).
   */
  async #judgeTxBatch(peer: PeerIdStr, data: Uint8Array): Promise<GossipResult> {
    let txs: Uint8Array[]
    try {
      txs = decodeTxBatch(data)
    } catch {
      return 'reject'
    }
    if (txs.some((tx) => tx.length > this.#opts.maxTxBytes)) {
      this.penalize(peer, 'oversized')
      return 'reject'
    }
    const verdicts = await Promise.all(txs.map((tx) => this.#modules.validateTx(tx, peer)))
    return verdicts.includes('reject') ? 'reject' : verdicts.includes('accept') ? 'accept' : 'ignore'
  }

  // ---- request/response: client ----

  async #exchange(peer: PeerIdStr, protocol: string, body: Uint8Array, limits: { maxResponseBytes: number; timeoutMs?: number; penalty?: PenaltyRule }): Promise<Uint8Array> {
    this.#node()
    let pid: PeerId
    try {
      pid = peerIdFromString(peer)
    } catch (err) {
      throw new P2PError('INVALID_PEER_ID', `not a peer id: ${peer}`, { peer }, err)
    }
    const conn = this.#node().getConnections(pid).find((c) => c.status === 'open')
    if (!conn) throw new P2PError('NOT_CONNECTED', `not connected to ${peer}`, { peer })
    try {
      return await request(conn, protocol, body, { timeoutMs: limits.timeoutMs ?? this.#opts.requestTimeoutMs, maxResponseBytes: limits.maxResponseBytes })
    } catch (err) {
      const reason = err instanceof P2PError ? (limits.penalty ?? penaltyFor)(err.code) : undefined
      if (reason) this.penalize(peer, reason)
      throw err
    }
  }

  #decodeOrPenalise<T>(peer: PeerIdStr, decode: () => T): T {
    try {
      return decode()
    } catch (err) {
      this.penalize(peer, 'invalid-response')
      throw new P2PError('INVALID_RESPONSE', `invalid response from ${peer}: ${errorMessage(err)}`, { peer }, err)
    }
  }

  async #requestRange(peer: PeerIdStr, protocol: string, from: bigint, count: number, maxItemBytes: number): Promise<Uint8Array[]> {
    if (typeof from !== 'bigint' || from < 0n || !Number.isSafeInteger(count) || count < 1) {
      throw new P2PError('INVALID_OPTIONS', 'from must be a bigint >= 0 and count an integer >= 1', { from: String(from), count })
    }
    const n = Math.min(count, this.#opts.maxRangeCount)
    const frame = await this.#exchange(peer, protocol, encodeRangeRequest({ from, count: n }), { maxResponseBytes: this.#opts.maxResponseBytes + 64 })
    const res = this.#decodeOrPenalise(peer, () => decodeItemsResponse(frame, n, maxItemBytes))
    if (!res.ok) throw new P2PError('REMOTE_ERROR', `${protocol} refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
    return res.value
  }

  // ---- peer exchange: client ----

  /**
   * While below minPeers, asks one chain peer (`peer`, else one at random) for its chain peers
   * and hands them to the dialer as learned targets: at most one request in flight, each peer
   * at most once per peerExchangeIntervalMs.
   */
  #askForPeers(peer?: PeerIdStr): void {
    if (!this.#opts.discovery || this.#stopped || this.#peers.size >= this.#opts.minPeers) return
    const candidates = peer !== undefined ? [peer] : [...this.#peers.values()].filter((s) => s.announced).map((s) => s.id)
    const asked = this.#pex.next(candidates)
    if (asked === undefined) return
    this.#requestPeers(asked)
      .then(
        (added) => log.debug('Peer exchange', { peer: asked, added, learned: this.#dialer.learnedCount() }),
        (err: unknown) => log.debug('Peer exchange failed', { peer: asked }, err),
      )
      .finally(() => this.#pex.done())
  }

  /** One peer exchange with `peer`; resolves with how many new dial targets it gave. */
  async #requestPeers(peer: PeerIdStr): Promise<number> {
    const frame = await this.#exchange(peer, PROTOCOLS.peers, encodePeersRequest(), { maxResponseBytes: PEERS_MAX_RESPONSE_BYTES, penalty: exchangePenalty })
    const res = this.#decodeOrPenalise(peer, () => decodePeersResponse(frame))
    if (!res.ok) throw new P2PError('REMOTE_ERROR', `peer exchange refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
    const conn = this.#connections(peer)[0]
    const from = conn === undefined ? undefined : ipOf(conn.remoteAddr)
    let added = 0
    for (const p of res.value) if (this.#dialer.learn(p.id, learnableAddrs(p.id, p.addrs, from))) added++
    return added
  }

  // ---- request/response: server ----

  async #serve(kind: 'status' | 'blocks' | 'headers' | 'peers', stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    const s = this.#peers.get(peer)
    // Peer exchange answers other peers with an error envelope (they may try again once admitted).
    if (this.#stopped || (!s && kind !== 'peers')) {
      stream.abort(new Error('not accepting requests from this peer'))
      return
    }
    const req = await this.#readRequest(peer, stream, { timeoutMs: this.#opts.requestTimeoutMs, maxRequestBytes: MAX_REQUEST_BYTES })
    if (!req) return
    try {
      // Only peer exchange gets here without a chain peer (see above).
      if (!s || (kind === 'peers' && !s.announced)) {
        await req.respond(encodeErrorResponse('NOT_CHAIN_PEER', 'peer exchange is served to chain peers only: complete the status handshake (same chain) first'))
        return
      }
      if (!s.requestBucket.take()) {
        this.penalize(peer, 'rate-limit')
        await req.respond(encodeErrorResponse('RATE_LIMITED', 'too many requests'))
        return
      }
      if (kind === 'status') {
        let theirs: Status
        try {
          theirs = decodeStatusRequest(req.frame)
        } catch (err) {
          await this.#badRequest(peer, req, err)
          return
        }
        await req.respond(encodeStatusResponse(await this.#localStatus()))
        this.#onStatus(peer, theirs)
        return
      }
      if (kind === 'peers') {
        try {
          decodePeersRequest(req.frame)
        } catch (err) {
          await this.#badRequest(peer, req, err)
          return
        }
        await req.respond(encodePeersResponse(await this.#peersFor(peer, conn)))
        return
      }
      let range: RangeRequest
      try {
        range = decodeRangeRequest(req.frame)
      } catch (err) {
        await this.#badRequest(peer, req, err)
        return
      }
      await req.respond(await this.#serveRange(kind, range))
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      log.debug('Serving a request failed', { peer, protocol: stream.protocol }, err)
    }
  }

  /** The request frame, or undefined when the stream failed (aborted, the peer penalised). */
  async #readRequest(peer: PeerIdStr, stream: Stream, limits: { timeoutMs: number; maxRequestBytes: number }): Promise<InboundRequest | undefined> {
    try {
      return await readRequest(stream, limits)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      const code = err instanceof P2PError ? err.code : 'STREAM_FAILED'
      const reason: PenaltyReason | undefined = code === 'INVALID_RESPONSE' ? 'invalid-frame' : code === 'OVERSIZED' ? 'oversized' : code === 'TIMEOUT' ? 'timeout' : undefined
      log.debug('Bad inbound request', { peer, protocol: stream.protocol, reason }, err)
      if (reason) this.penalize(peer, reason)
      return undefined
    }
  }

  async #badRequest(peer: PeerIdStr, req: InboundRequest, err: unknown): Promise<void> {
    log.debug('Undecodable request', { peer }, err)
    this.penalize(peer, 'invalid-frame')
    await req.respond(encodeErrorResponse('BAD_REQUEST', errorMessage(err)))
  }

  /**
   * Up to MAX_EXCHANGED_PEERS of our chain peers other than `requester` (a random choice when
   * there are more), each with its listen addresses as identify stored them (not the ephemeral
   * port of an inbound connection), those relayable to the requester's IP only.
   */
  async #peersFor(requester: PeerIdStr, conn: Connection): Promise<ExchangedPeer[]> {
    const node = this.#node()
    const to = ipOf(conn.remoteAddr)
    const ids = [...this.#peers.values()].filter((p) => p.announced && p.id !== requester).map((p) => p.id)
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[ids[i], ids[j]] = [ids[j]!, ids[i]!]
    }
    const out: ExchangedPeer[] = []
    for (const id of ids) {
      if (out.length >= MAX_EXCHANGED_PEERS) break
      const stored = await node.peerStore.get(peerIdFromString(id)).then(
        (p) => p.addresses,
        () => [],
      )
      const addrs = advertisedAddrs(id, stored, to)
      if (addrs.length > 0) out.push({ id, addrs })
    }
    return out
  }

  async #serveRange(kind: 'blocks' | 'headers', range: RangeRequest): Promise<Uint8Array> {
    const count = Math.min(range.count, this.#opts.maxRangeCount)
    const maxItem = kind === 'blocks' ? this.#opts.maxBlockBytes : this.#opts.maxHeaderBytes
    let items: Uint8Array[]
    try {
      items = await (kind === 'blocks' ? this.#modules.getBlocksByRange(range.from, count) : this.#modules.getHeadersByRange(range.from, count))
    } catch (err) {
      log.warn('By-range handler failed', { kind, from: range.from, count }, err)
      return encodeErrorResponse('SERVER_ERROR', 'cannot serve this range')
    }
    // Stay inside the limits a peer checks: the count, the item size and the frame size
    // (msgpack adds at most 5 bytes per item and a few for the envelope).
    const out: Uint8Array[] = []
    let bytes = 64
    for (const item of items.slice(0, count)) {
      if (item.length === 0 || item.length > maxItem || bytes + item.length + 5 > this.#opts.maxResponseBytes) break
      out.push(item)
      bytes += item.length + 5
    }
    return encodeItemsResponse(out)
  }

  // ---- app protocols: server and idle connections ----

  #appPeer(peer: PeerIdStr): AppPeer {
    let a = this.#appPeers.get(peer)
    if (!a) {
      a = { active: 0, last: Date.now(), bucket: new TokenBucket(this.#opts.requestRate) }
      this.#appPeers.set(peer, a)
    }
    return a
  }

  async #serveApp(app: AppProtocol, stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    if (this.#stopped || this.#scores.isBanned(peer)) {
      stream.abort(new Error('not accepting requests from this peer'))
      return
    }
    const use = this.#appPeer(peer)
    use.active++
    try {
      const req = await this.#readRequest(peer, stream, app)
      if (!req) return
      // `requestRate` per peer for app requests, apart from the chain protocols' bucket so that
      // neither starves the other, and kept whether or not the peer is (or becomes) a chain peer.
      if (!use.bucket.take()) {
        this.penalize(peer, 'rate-limit')
        await req.respond(encodeErrorResponse('RATE_LIMITED', 'too many requests'))
        return
      }
      let out: Uint8Array
      try {
        out = await untilAborted(Promise.resolve().then(() => app.handler(req.frame, peer)), req.signal)
      } catch (err) {
        if (req.signal.aborted) {
          log.warn('App handler timed out', { peer, protocol: stream.protocol, timeoutMs: app.timeoutMs })
          // The deadline has passed: a short grace to say so rather than reset the stream.
          await req.respond(encodeErrorResponse('SERVER_ERROR', `handler timed out after ${app.timeoutMs} ms`), AbortSignal.timeout(1000))
          return
        }
        log.debug('App handler failed', { peer, protocol: stream.protocol }, err)
        await req.respond(encodeErrorResponse('HANDLER_ERROR', errorMessage(err)))
        return
      }
      if (!(out instanceof Uint8Array) || out.length > app.maxResponseBytes) {
        const why = out instanceof Uint8Array ? `response of ${out.length} bytes exceeds this server's limit of ${app.maxResponseBytes}` : 'handler returned no bytes'
        log.warn('App handler answer refused', { peer, protocol: stream.protocol, why })
        await req.respond(encodeErrorResponse('SERVER_ERROR', why))
        return
      }
      await req.respond(encodeAppResponse(out))
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      log.debug('Serving an app request failed', { peer, protocol: stream.protocol }, err)
    } finally {
      use.active--
      use.last = Date.now()
    }
  }

  /**
   * Closes connections of peers that are not chain peers (app-only, refused at maxPeers, failed
   * handshake, another chain) once they have had no app stream for `appIdleMs`.
   */
  #reapIdle(): void {
    const node = this.#libp2p
    if (!node || this.#stopped) return
    const now = Date.now()
    const open = new Set<PeerIdStr>()
    for (const conn of node.getConnections()) {
      const peer = conn.remotePeer.toString()
      open.add(peer)
      if (this.#peers.has(peer) || conn.status !== 'open') continue
      const use = this.#appPeers.get(peer)
      if ((use?.active ?? 0) > 0 || now - Math.max(conn.timeline.open, use?.last ?? 0) < this.#opts.appIdleMs) continue
      log.debug('Closing an idle connection of a peer that is not a chain peer', { peer })
      conn.close({ signal: AbortSignal.timeout(1000) }).catch((err: unknown) => {
        conn.abort(err instanceof Error ? err : new Error(String(err)))
      })
    }
    for (const [peer, use] of this.#appPeers) if (use.active === 0 && !open.has(peer)) this.#appPeers.delete(peer)
    for (const peer of [...this.#otherChain.keys()]) this.#isOtherChain(peer)
  }
}

/** Starts a libp2p node as configured; resolves once it listens. */
export async function createP2P(opts: P2PInit, modules: P2PModules): Promise<P2P> {
  const node = new P2PNode(resolveP2POptions(opts), modules)
  await node.start()
  return node
}
