/** A libp2p peer id in its string form (`16Uiu2…` for secp256k1 keys). */
export type PeerIdStr = string

/** What a gossip validator decides; maps 1:1 onto gossipsub's TopicValidatorResult. */
export type GossipResult = 'accept' | 'ignore' | 'reject'

export interface ChainHead {
  head: { number: bigint; hash: Uint8Array }
  totalDifficulty: bigint
}

/** What `/medrec/status/1` exchanges. */
export interface Status extends ChainHead {
  chainId: bigint
  genesisHash: Uint8Array
}

/**
 * Things a peer can be penalised for (weights in `P2POptions.penalties`). The first group is
 * applied by p2p itself; `invalid-block`, `invalid-header`, `invalid-tx` and `useless` are for
 * the node (e.g. a block fetched by range fails validation).
 */
export type PenaltyReason =
  | 'gossip-reject'
  | 'invalid-frame'
  | 'oversized'
  | 'protocol-violation'
  | 'invalid-response'
  | 'timeout'
  | 'rate-limit'
  | 'invalid-block'
  | 'invalid-header'
  | 'invalid-tx'
  | 'useless'

export interface PeerInfo {
  id: PeerIdStr
  /** Remote addresses of the open connections. */
  addrs: string[]
  /** Who dialled: `outbound` when we did. */
  direction: 'inbound' | 'outbound'
  /** The last status the peer sent or answered with; null before the handshake completes. */
  status: Status | null
  /** Our score: 0 is neutral, penalties make it negative, it recovers over time. */
  score: number
  /** gossipsub's own score of the peer (mesh selection, graylisting). */
  gossipScore: number
}

/** Everything the node hands to p2p: validators and request handlers, as plain functions. */
export interface P2PModules {
  /** Our head, read for each status handshake and announcement. */
  getHead(): ChainHead | Promise<ChainHead>
  /** Validates (and may take in) a gossiped transaction (RLP bytes) before it is forwarded. */
  validateTx(bytes: Uint8Array, from: PeerIdStr): GossipResult | Promise<GossipResult>
  /** Validates (and may import) a gossiped block (RLP bytes) before it is forwarded. */
  validateBlock(bytes: Uint8Array, from: PeerIdStr): GossipResult | Promise<GossipResult>
  /** Canonical blocks `from`, `from+1`, … (at most `count`, fewer at the head), RLP each. */
  getBlocksByRange(from: bigint, count: number): Promise<Uint8Array[]>
  /** Canonical headers, same range rules, RLP each. */
  getHeadersByRange(from: bigint, count: number): Promise<Uint8Array[]>
}

export interface P2PEvents {
  /** A peer connected and its status handshake succeeded (same chain and genesis). */
  'peer:connected': [peer: PeerInfo]
  /** A peer that had been reported by `peer:connected` is gone. */
  'peer:disconnected': [peerId: PeerIdStr]
  /** A connected peer's status changed (it announced a new head or answered a status request). */
  'peer:status': [peerId: PeerIdStr, status: Status]
}

export type P2PEventName = keyof P2PEvents
export type P2PListener<E extends P2PEventName> = (...args: P2PEvents[E]) => void

export interface P2P {
  /** This node's peer id (stable for a given node key). */
  readonly peerId: PeerIdStr
  /** The gossip topic names: `/medrec/<chainId>/tx/1`, `/medrec/<chainId>/block/1`. */
  readonly topics: { readonly tx: string; readonly block: string }
  /** Listening multiaddrs ending in `/p2p/<peerId>`: usable as --bootnodes. */
  listenAddrs(): string[]
  peers(): PeerInfo[]
  peerCount(): number
  /**
   * Dials a `/p2p/`-terminated multiaddr (admin_addPeer) and keeps it among the peers redialled
   * with backoff. Resolves with the peer id once connected; rejects with a P2PError
   * (INVALID_MULTIADDR, PEER_BANNED, TOO_MANY_PEERS, DIAL_FAILED).
   */
  addPeer(multiaddr: string): Promise<PeerIdStr>
  /** Publishes a signed transaction's RLP; resolves with the number of peers it was sent to. */
  publishTx(bytes: Uint8Array): Promise<number>
  /** Publishes a block's RLP; resolves with the number of peers it was sent to. */
  publishBlock(bytes: Uint8Array): Promise<number>
  /** Sends our status and returns the peer's (also updating `peers()` and emitting `peer:status`). */
  requestStatus(peer: PeerIdStr): Promise<Status>
  requestBlocks(peer: PeerIdStr, from: bigint, count: number): Promise<Uint8Array[]>
  requestHeaders(peer: PeerIdStr, from: bigint, count: number): Promise<Uint8Array[]>
  /** Sends our status to every connected peer (call after the head changed). Never rejects. */
  announceStatus(): Promise<void>
  /** Lowers the peer's score; at the threshold the peer is disconnected and banned for a while. */
  penalize(peer: PeerIdStr, reason: PenaltyReason): void
  stop(): Promise<void>
  on<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
  once<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
  off<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
}
