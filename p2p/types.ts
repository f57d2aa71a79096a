/** A libp2p peer id in its string form (`16Uiu2…` for secp256k1 keys). */
export type PeerIdStr = string

/** What a gossip validator decides; maps 1:1 onto gossipsub's TopicValidatorResult. */
export type GossipResult = 'accept' | 'ignore' | 'reject'

/**
 * A transaction validator's verdict: a `GossipResult`, or `unfunded` (its sender cannot pay for
 * it, or its nonce is far ahead of the sender's): not forwarded, and it costs the relaying peer
 * `penalties['unfunded-tx']` (less than an invalid transaction), so a flood of them bans it.
 */
export type TxVerdict = GossipResult | 'unfunded'

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
 * applied by p2p itself; `invalid-block`, `invalid-header`, `invalid-tx`, `useless` and
 * `false-status` are for the node (e.g. a block fetched by range fails validation;
 * `false-status`: a status claim the peer could not back with headers, a ban at the defaults).
 */
export type PenaltyReason =
  | 'gossip-reject'
  // gossipsub's own score fell below its graylist threshold (it counts invalid messages our
  // validator never sees): a ban at the defaults (p2p/gossip-bans.ts)
  | 'gossip-graylisted'
  // per transaction of a gossiped batch whose sender cannot pay or whose nonce is far ahead
  | 'unfunded-tx'
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
  | 'false-status'
  // state sync: bytes whose hash is not the one asked for (a ban at the defaults)
  | 'invalid-state'

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

/** What the dialer knows of one dial target (`P2P.dialTarget`). */
export interface DialTargetInfo {
  /** Multiaddrs ending in `/p2p/<peerId>`, tried in turn. */
  addrs: string[]
  /** Learned through peer exchange (else a bootnode or an `addPeer`). */
  learned: boolean
  /** Failed dials in a row. */
  failures: number
}

/** Everything the node hands to p2p: validators and request handlers, as plain functions. */
export interface P2PModules {
  /** Our head, read for each status handshake and announcement. */
  getHead(): ChainHead | Promise<ChainHead>
  /** Validates (and may take in) a gossiped transaction (RLP bytes) before it is forwarded. */
  validateTx(bytes: Uint8Array, from: PeerIdStr): TxVerdict | Promise<TxVerdict>
  /** Validates (and may import) a gossiped block (RLP bytes) before it is forwarded. */
  validateBlock(bytes: Uint8Array, from: PeerIdStr): GossipResult | Promise<GossipResult>
  /** Canonical blocks `from`, `from+1`, … (at most `count`, fewer at the head), RLP each. */
  getBlocksByRange(from: bigint, count: number): Promise<Uint8Array[]>
  /** Canonical headers, same range rules, RLP each. */
  getHeadersByRange(from: bigint, count: number): Promise<Uint8Array[]>
  /** Told what happens, for metrics; never changes a decision. */
  observer?: P2PObserver
}

/** Hooks called synchronously as gossip is judged and peers are penalised (metrics). */
export interface P2PObserver {
  /** The verdict on one gossiped message, including p2p's own (rate limit, size, unknown peer). */
  gossip?(topic: 'tx' | 'block', verdict: GossipResult): void
  /** A penalty was applied; `banned` when it took the peer to the ban threshold. */
  penalty?(reason: PenaltyReason, banned: boolean): void
}

export interface P2PEvents {
  /** A chain peer connected: its status handshake succeeded (same chain and genesis). */
  'peer:connected': [peer: PeerInfo]
  /** A peer that had been reported by `peer:connected` is gone. */
  'peer:disconnected': [peerId: PeerIdStr]
  /** A connected peer's status changed (it announced a new head or answered a status request). */
  'peer:status': [peerId: PeerIdStr, status: Status]
}

/**
 * Serves one request of an app protocol: `body` is the request frame as the caller sent it,
 * `from` the caller's (noise-authenticated) peer id. What it throws reaches the caller as
 * REMOTE_ERROR with the error's message (no stack), so the message must be safe to show.
 */
export type AppHandler = (body: Uint8Array, from: PeerIdStr) => Promise<Uint8Array>

/** Limits of one app protocol; defaults: 64 KiB requests, `maxResponseBytes`, `requestTimeoutMs`. */
export interface AppHandlerOptions {
  maxRequestBytes?: number
  maxResponseBytes?: number
  /** From the stream opening to the response written (reading, handler and writing). */
  timeoutMs?: number
}

/** Limits of one `requestTo`; defaults: `requestTimeoutMs` (dial included), `maxResponseBytes`. */
export interface AppRequestOptions {
  timeoutMs?: number
  maxResponseBytes?: number
}

export type P2PEventName = keyof P2PEvents
export type P2PListener<E extends P2PEventName> = (...args: P2PEvents[E]) => void

export interface P2P {
  /** This node's peer id (stable for a given node key). */
  readonly peerId: PeerIdStr
  /** The gossip topic names: `/medrec/<chainId>/txs/2` (read only: transactions go on `/medrec/txs/1`), `/medrec/<chainId>/block/1`. */
  readonly topics: { readonly tx: string; readonly block: string }
  /** Listening multiaddrs ending in `/p2p/<peerId>`: usable as --bootnodes. */
  listenAddrs(): string[]
  /** Chain peers (status handshake done or under way); app-only connections are not listed. */
  peers(): PeerInfo[]
  peerCount(): number
  /**
   * Dials a `/p2p/`-terminated multiaddr (admin_addPeer) and keeps it among the peers redialled
   * with backoff. Resolves with the peer id once connected; rejects with a P2PError
   * (INVALID_MULTIADDR, PEER_BANNED, TOO_MANY_PEERS, DIAL_FAILED).
   */
  addPeer(multiaddr: string): Promise<PeerIdStr>
  /** The dialer's target for `peer` (bootnode, added or learned), or undefined. Read-only. */
  dialTarget(peer: PeerIdStr): DialTargetInfo | undefined
  /** How many peers learned through peer exchange are kept as dial targets. */
  learnedPeerCount(): number
  /**
   * Sends a signed transaction's RLP on `/medrec/txs/1` to the chain peers not known to have it;
   * resolves with their number once its frames are written (0: every peer has it). NO_PEERS when
   * there is no chain peer.
   */
  publishTx(bytes: Uint8Array): Promise<number>
  /** Publishes a block's RLP; resolves with the number of peers it was sent to. */
  publishBlock(bytes: Uint8Array): Promise<number>
  /** Sends our status and returns the peer's (also updating `peers()` and emitting `peer:status`). */
  requestStatus(peer: PeerIdStr): Promise<Status>
  /** `opts.timeoutMs` overrides `requestTimeoutMs` for this request (sync probes ask with less). */
  requestBlocks(peer: PeerIdStr, from: bigint, count: number, opts?: { timeoutMs?: number }): Promise<Uint8Array[]>
  requestHeaders(peer: PeerIdStr, from: bigint, count: number, opts?: { timeoutMs?: number }): Promise<Uint8Array[]>
  /** Sends our status to every connected peer (call after the head changed). Never rejects. */
  announceStatus(): Promise<void>
  /**
   * Serves an app protocol (e.g. `/medrec/gatekeeper/1`) to any peer that is not banned, chain
   * peer or not, with the req/resp framing, limits, deadline and per-peer rate limit. Throws
   * P2PError INVALID_OPTIONS for a protocol already served or bad limits.
   */
  handle(protocol: string, handler: AppHandler, opts?: AppHandlerOptions): void
  /** Stops serving a protocol registered with `handle` (requests under way finish). */
  unhandle(protocol: string): void
  /**
   * Sends one request of an app protocol and returns the response bytes. `target` is a multiaddr
   * ending in `/p2p/<peerId>` (dialled if not connected, as a one-off: never redialled, and not
   * a chain peer unless its status handshake succeeds and there is room) or the id of a
   * connected peer. Rejects with a P2PError: INVALID_MULTIADDR, INVALID_PEER_ID, NOT_CONNECTED,
   * PEER_BANNED, DIAL_FAILED, TIMEOUT, PROTOCOL_UNSUPPORTED, REMOTE_ERROR (`context.remoteCode`,
   * `context.remoteMessage`), OVERSIZED, INVALID_RESPONSE, STREAM_FAILED, STOPPED.
   */
  requestTo(target: string, protocol: string, body: Uint8Array, opts?: AppRequestOptions): Promise<Uint8Array>
  /** Lowers the peer's score; at the threshold the peer is disconnected and banned for a while. */
  penalize(peer: PeerIdStr, reason: PenaltyReason): void
  stop(): Promise<void>
  on<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
  once<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
  off<E extends P2PEventName>(event: E, listener: P2PListener<E>): this
}
