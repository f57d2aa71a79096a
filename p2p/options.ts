import { isIP } from 'node:net'
import { P2PError } from './errors.ts'
import type { PenaltyReason } from './types.ts'

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number
  /** Bucket size: how many may arrive at once. */
  burst: number
}

export interface P2POptions {
  /** EIP-155 chain id: names the gossip topics and must match every peer's status. */
  chainId: bigint
  /** Hash of block 0: must match every peer's status. */
  genesisHash: Uint8Array
  /** The node's 32-byte secp256k1 node key (DIR/nodekey); the peer id derives from it. */
  privateKey: Uint8Array
  /** TCP listen address. */
  listen: { host: string; port: number }
  /** Multiaddrs with `/p2p/<peerId>`, dialled at start and redialled while below `minPeers`. */
  bootnodes: string[]
  /** Most chain peers at once (status handshake done or under way); extra ones are not admitted. */
  maxPeers: number
  /**
   * Connections beyond `maxPeers` for app protocols (`handle`/`requestTo`) with peers that are
   * not chain peers; libp2p refuses inbound connections above `maxPeers + maxAppConnections`.
   */
  maxAppConnections: number
  /** A connection to a peer that is not a chain peer is closed after this long without app streams. */
  appIdleMs: number
  /** Below this many peers the dialer keeps (re)dialling bootnodes, added and learned peers. */
  minPeers: number
  /**
   * Peer exchange (`/medrec/peers/1`): ask chain peers for their chain peers and dial them while
   * below `minPeers`, and answer such requests. Off (geth's --nodiscover): only bootnodes and
   * added peers are dialled; inbound connections are still accepted.
   */
  discovery: boolean
  /** Each chain peer is asked for peers at most this often. */
  peerExchangeIntervalMs: number
  /** Most peers learned through peer exchange kept as dial targets (0: none). */
  maxLearnedPeers: number
  /** Largest gossiped transaction (RLP bytes). */
  maxTxBytes: number
  /**
   * Largest block (RLP bytes) in a blocks-by-range response and on gossip. gossipsub 17 cannot
   * send a frame above 4 MiB, so blocks larger than `GOSSIP_MAX_BYTES` travel only by range.
   */
  maxBlockBytes: number
  /** Largest header (RLP bytes) in a headers-by-range response. */
  maxHeaderBytes: number
  /** Most blocks or headers one by-range request returns (larger counts are capped). */
  maxRangeCount: number
  /** Largest by-range response frame; a server stops adding items before exceeding it. */
  maxResponseBytes: number
  /** Dial-to-response limit of one request (also how long a server waits for a request frame). */
  requestTimeoutMs: number
  /** Re-exchange status with every peer this often; 0 turns it off (announceStatus still works). */
  statusIntervalMs: number
  /** Gossip messages accepted per peer (above: IGNOREd and penalised). */
  gossipRate: RateLimit
  /**
   * Requests served per peer (above: answered RATE_LIMITED and penalised); the chain protocols
   * and the app protocols (`handle`) each have a bucket of this size.
   */
  requestRate: RateLimit
  /** Our score at or below which a peer is disconnected and banned for `banMs`. */
  disconnectScore: number
  banMs: number
  /** How long a peer of another chain id or genesis is not dialled nor admitted as a chain peer. */
  mismatchBanMs: number
  /** Score points a penalised peer regains per second, back up to 0. */
  scoreRecoveryPerSecond: number
  /** Score change per penalty reason (negative numbers). */
  penalties: Record<PenaltyReason, number>
  /** First redial delay after a failed dial; doubles per failure up to dialBackoffMaxMs. */
  dialBackoffMinMs: number
  dialBackoffMaxMs: number
  /** How often the dialer checks whether it is below `minPeers`. */
  dialIntervalMs: number
  /** gossipsub heartbeat (mesh maintenance, gossip emission). */
  heartbeatIntervalMs: number
  /**
   * A transaction waits at most this long for others to share its gossip message (p2p/tx-batch.ts).
   * In a full mesh every message costs each peer a noise frame, a yamux frame and gossipsub's
   * bookkeeping, once from the publisher and again from each forwarder: 100 ms (was 20) cut a
   * loaded 4-node network's CPU per transaction by ~8 % (`npm run bench -- network`).
   */
  txBatchMs: number
  /**
   * A request for announced transactions (`/medrec/txs/1`) unanswered after this long costs the
   * peer `timeout` and the hashes are asked of another announcer (geth's 5 s).
   */
  txFetchTimeoutMs: number
}

/** What `createP2P` needs; everything else has a default. */
export type P2PInit = Pick<P2POptions, 'chainId' | 'genesisHash' | 'privateKey'> &
  Partial<Omit<P2POptions, 'chainId' | 'genesisHash' | 'privateKey' | 'listen' | 'penalties'>> & {
    listen?: Partial<P2POptions['listen']>
    penalties?: Partial<P2POptions['penalties']>
  }

/** gossipsub 17 length-prefixes each RPC with it-length-prefixed's 4 MiB default and drops bigger
 * ones silently (publish resolves with no recipients); this leaves room for the RPC framing. */
export const GOSSIP_MAX_BYTES = 4 * 1024 * 1024 - 4096

/** Transaction bytes in one gossip batch before it is sent without waiting (p2p/tx-batch.ts). */
export const TX_BATCH_BYTES = 256 * 1024

/** Largest request frame (requests are a status or a range: tens of bytes). */
export const MAX_REQUEST_BYTES = 1024

/** Default largest request of an app protocol (`handle`); a handler may set its own. */
export const APP_MAX_REQUEST_BYTES = 64 * 1024

export const defaultPenalties: Readonly<Record<PenaltyReason, number>> = {
  'gossip-reject': -10,
  // What gossipsub graylists (p2p/gossip-bans.ts) is banned at the default disconnectScore.
  'gossip-graylisted': -100,
  // Per transaction: a burst of 50 bans a flooder; a few stale ones from an honest relay recover (1 point/s).
  'unfunded-tx': -2,
  'invalid-frame': -25,
  oversized: -25,
  'protocol-violation': -25,
  'invalid-response': -25,
  timeout: -5,
  'rate-limit': -2,
  'invalid-block': -50,
  'invalid-header': -50,
  'invalid-tx': -10,
  useless: -5,
  // A claimed head the peer cannot back with valid headers: a ban at the default disconnectScore.
  'false-status': -100,
  // A trie node or code whose hash is not the one asked for: proof of a lie, a ban.
  'invalid-state': -100,
}

export const defaultP2POptions: Readonly<Omit<P2POptions, 'chainId' | 'genesisHash' | 'privateKey'>> = {
  listen: { host: '0.0.0.0', port: 30303 },
  bootnodes: [],
  maxPeers: 25,
  maxAppConnections: 16,
  appIdleMs: 10_000,
  minPeers: 5,
  discovery: true,
  peerExchangeIntervalMs: 30_000,
  maxLearnedPeers: 64,
  maxTxBytes: 128 * 1024,
  maxBlockBytes: 10 * 1024 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxRangeCount: 128,
  maxResponseBytes: 16 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  statusIntervalMs: 60_000,
  gossipRate: { perSecond: 2000, burst: 4000 },
  requestRate: { perSecond: 20, burst: 50 },
  disconnectScore: -100,
  banMs: 5 * 60_000,
  mismatchBanMs: 60 * 60_000,
  scoreRecoveryPerSecond: 1,
  penalties: defaultPenalties,
  dialBackoffMinMs: 1000,
  dialBackoffMaxMs: 60_000,
  dialIntervalMs: 1000,
  heartbeatIntervalMs: 1000,
  txBatchMs: 100,
  txFetchTimeoutMs: 5000,
}

/** `{ a: undefined }` must not override a default. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function invalid(message: string, context?: Record<string, unknown>): never {
  throw new P2PError('P2P_INVALID_OPTIONS', message, context)
}

/** Fills in defaults and checks the combination; throws P2PError INVALID_OPTIONS. */
export function resolveP2POptions(init: P2PInit): P2POptions {
  const d = defaultP2POptions
  const o: P2POptions = {
    ...d,
    ...definedOnly(init),
    listen: { ...d.listen, ...definedOnly(init.listen ?? {}) },
    penalties: { ...d.penalties, ...definedOnly(init.penalties ?? {}) },
    bootnodes: [...(init.bootnodes ?? d.bootnodes)],
  } as P2POptions
  if (!(o.privateKey instanceof Uint8Array) || o.privateKey.length !== 32) invalid('privateKey must be 32 bytes')
  if (!(o.genesisHash instanceof Uint8Array) || o.genesisHash.length !== 32) invalid('genesisHash must be 32 bytes')
  if (typeof o.chainId !== 'bigint' || o.chainId <= 0n) invalid('chainId must be a positive bigint')
  const ints: (keyof P2POptions)[] = ['maxPeers', 'maxAppConnections', 'appIdleMs', 'maxTxBytes', 'maxBlockBytes', 'maxHeaderBytes', 'maxRangeCount', 'maxResponseBytes', 'requestTimeoutMs', 'dialBackoffMinMs', 'dialBackoffMaxMs', 'dialIntervalMs', 'heartbeatIntervalMs', 'peerExchangeIntervalMs', 'txFetchTimeoutMs']
  for (const k of ints) {
    const v = o[k]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) invalid(`${k} must be a positive integer`, { [k]: v })
  }
  if (typeof o.discovery !== 'boolean') invalid('discovery must be true or false', { discovery: o.discovery })
  for (const k of ['minPeers', 'maxLearnedPeers', 'statusIntervalMs', 'banMs', 'mismatchBanMs', 'txBatchMs'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) invalid(`${k} must be a non-negative integer`, { [k]: o[k] })
  }
  if (isIP(o.listen.host) === 0) invalid('listen.host must be an IPv4 or IPv6 address', { host: o.listen.host })
  if (!Number.isInteger(o.listen.port) || o.listen.port < 0 || o.listen.port > 65535) invalid('listen.port must be 0..65535', { port: o.listen.port })
  if (o.maxResponseBytes < o.maxBlockBytes + 1024) invalid('maxResponseBytes must exceed maxBlockBytes (one block must fit a response)')
  if (!(o.disconnectScore < 0)) invalid('disconnectScore must be negative')
  if (!(o.scoreRecoveryPerSecond >= 0)) invalid('scoreRecoveryPerSecond must be >= 0')
  for (const [reason, w] of Object.entries(o.penalties)) if (!(w <= 0)) invalid(`penalty ${reason} must be <= 0`)
  for (const r of [o.gossipRate, o.requestRate]) if (!(r.perSecond > 0 && r.burst >= 1)) invalid('rate limits need perSecond > 0 and burst >= 1')
  return o
}
