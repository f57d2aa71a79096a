import type { EventEmitter } from 'node:events'
import type { Libp2p } from 'libp2p'
import type { Identify } from '@libp2p/identify'
import type { GossipSub } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection } from '@libp2p/interface'
import { createLogger } from '../common/logger.ts'
import type { Dialer } from './dialer.ts'
import { P2PError, type P2PErrorCode } from './errors.ts'
import type { P2POptions } from './options.ts'
import type { PeerExchangeSchedule } from './peer-exchange.ts'
import type { TokenBucket } from './rate-limit.ts'
import type { PeerScores } from './scoring.ts'
import type { AppHandler, P2PEvents, P2PModules, PeerIdStr, PenaltyReason, Status } from './types.ts'

const log = createLogger('p2p')

export type Services = { identify: Identify; pubsub: GossipSub }

/** A chain peer (or one in its status handshake). */
export interface PeerState {
  id: PeerIdStr
  status: Status | null
  /** `peer:connected` was emitted (the handshake succeeded). */
  announced: boolean
  gossipBucket: TokenBucket
  requestBucket: TokenBucket
}

/** App protocol use of a peer, chain peer or not: keeps its connection open and rate-limits it. */
export interface AppPeer {
  /** App streams under way (served or requested). */
  active: number
  /** When the last one ended. */
  last: number
  /** Its app requests served (`requestRate`). */
  bucket: TokenBucket
}

export interface AppProtocol {
  handler: AppHandler
  maxRequestBytes: number
  maxResponseBytes: number
  timeoutMs: number
}

/** Which failures of a request earn the remote a penalty. */
export type PenaltyRule = (code: P2PErrorCode) => PenaltyReason | undefined

/** The transaction exchange (tx-gossip.ts) as the gossip section uses it. */
export interface TxRelay {
  /** A transaction the node accepted from `from` on the older gossipsub topic. */
  relay(tx: Uint8Array, from: PeerIdStr): void
}

export const publishStopped = (topic: string, cause?: unknown) => new P2PError('P2P_STOPPED', `publish on ${topic} failed: p2p is stopped`, { topic }, cause)

/** The parts each section works with: made by the host (p2p.ts), which owns starting and stopping. */
export interface P2PCoreParts {
  opts: P2POptions
  modules: P2PModules
  events: EventEmitter<P2PEvents>
  peerId: PeerIdStr
  topics: { readonly tx: string; readonly block: string }
  scores: PeerScores
  pex: PeerExchangeSchedule
  gossipBlockLimit: number
  gossipTxLimit: number
}

/**
 * The host's state, shared by its sections: peers (peers.ts), gossip (gossip-messages.ts),
 * request/response (client.ts, server.ts), peer exchange (discovery.ts) and app protocols
 * (app.ts). One object per host; the sections are functions over it.
 */
export class P2PCore {
  readonly opts: P2POptions
  readonly modules: P2PModules
  readonly peerId: PeerIdStr
  readonly topics: { readonly tx: string; readonly block: string }
  readonly scores: PeerScores
  readonly pex: PeerExchangeSchedule
  readonly gossipBlockLimit: number
  /** Largest transaction batch message (its transactions are bounded one by one by maxTxBytes). */
  readonly gossipTxLimit: number
  /** Chain peers, and peers in their status handshake. */
  readonly peers = new Map<PeerIdStr, PeerState>()
  /** Peers of another chain or genesis, until when: not dialled, not admitted as chain peers. */
  readonly otherChain = new Map<PeerIdStr, number>()
  readonly appPeers = new Map<PeerIdStr, AppPeer>()
  readonly appProtocols = new Map<string, AppProtocol>()
  /** Set by the host right after construction (they call back into the sections). */
  dialer!: Dialer
  txRelay!: TxRelay
  libp2p: Libp2p<Services> | undefined
  stopped = false
  readonly #events: EventEmitter<P2PEvents>

  constructor(parts: P2PCoreParts) {
    this.opts = parts.opts
    this.modules = parts.modules
    this.#events = parts.events
    this.peerId = parts.peerId
    this.topics = parts.topics
    this.scores = parts.scores
    this.pex = parts.pex
    this.gossipBlockLimit = parts.gossipBlockLimit
    this.gossipTxLimit = parts.gossipTxLimit
  }

  node(): Libp2p<Services> {
    if (!this.libp2p || this.stopped) throw new P2PError('P2P_STOPPED', 'p2p is stopped')
    return this.libp2p
  }

  connections(peer: PeerIdStr): Connection[] {
    if (!this.libp2p) return []
    return this.libp2p.getConnections(peerIdFromString(peer)).filter((c) => c.status === 'open')
  }

  hangUp(peer: PeerIdStr): void {
    if (!this.libp2p || this.stopped) return
    this.libp2p.hangUp(peerIdFromString(peer)).catch((err: unknown) => log.debug('Hang up failed', { peer }, err))
  }

  /** Listeners run inside network callbacks: one that throws must not break p2p. */
  emit<E extends keyof P2PEvents>(event: E, ...args: P2PEvents[E]): void {
    try {
      // The untyped view: TypeScript cannot relate a generic tuple to EventEmitter<T>'s parameters.
      ;(this.#events as EventEmitter).emit(event, ...args)
    } catch (err) {
      log.error('A p2p event listener threw', { event }, err)
    }
  }

  /** `times`: offences of one kind found together (e.g. per transaction of a gossiped batch). */
  penalize(peer: PeerIdStr, reason: PenaltyReason, times = 1): void {
    if (this.stopped || peer === this.peerId) return
    const { score, banned } = this.scores.penalize(peer, reason, times)
    log.debug('Peer penalised', { peer, reason, score, ...(times === 1 ? {} : { times }) })
    this.modules.observer?.penalty?.(reason, banned)
    if (banned) {
      log.info('Banned peer', { peer, reason, score, banMs: this.opts.banMs })
      this.hangUp(peer)
    }
  }
}
