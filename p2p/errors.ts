import { CodedError, codedErrorGuard } from '../common/errors.ts'

/** Why a p2p call failed. Request errors carry `context.peer` (the remote peer id). */
export const P2PErrorCode = {
  /** Options that cannot work (bad node key, limits out of range, unparsable multiaddr). */
  INVALID_OPTIONS: 'P2P_INVALID_OPTIONS',
  /** The TCP listener could not bind (`context.errno` is 'EADDRINUSE' when the port is taken). */
  LISTEN_FAILED: 'P2P_LISTEN_FAILED',
  /** A multiaddr that does not parse or lacks `/p2p/<peerId>`. */
  INVALID_MULTIADDR: 'P2P_INVALID_MULTIADDR',
  /** A peer id string that does not parse. */
  INVALID_PEER_ID: 'P2P_INVALID_PEER_ID',
  /** A request to a peer we have no connection to (and, for `requestTo`, no address to dial). */
  NOT_CONNECTED: 'P2P_NOT_CONNECTED',
  /** The peer is banned (low score or another chain) and will not be dialled now. */
  PEER_BANNED: 'P2P_PEER_BANNED',
  /**
   * The peer's status names another chain id or genesis: it is no longer a chain peer and is not
   * dialled nor admitted as one for `mismatchBanMs` (app protocols still work).
   */
  WRONG_CHAIN: 'P2P_WRONG_CHAIN',
  /** addPeer: the node already has `maxPeers` peers (the address is kept for later dials). */
  TOO_MANY_PEERS: 'P2P_TOO_MANY_PEERS',
  /** Dialling a peer failed (unreachable, refused, handshake or encryption failure). */
  DIAL_FAILED: 'P2P_DIAL_FAILED',
  /** The peer did not answer within `requestTimeoutMs`. */
  TIMEOUT: 'P2P_TIMEOUT',
  /** The peer does not speak the protocol (multistream negotiation failed). */
  PROTOCOL_UNSUPPORTED: 'P2P_PROTOCOL_UNSUPPORTED',
  /** The response did not decode, had the wrong shape, or broke the request's bounds. */
  INVALID_RESPONSE: 'P2P_INVALID_RESPONSE',
  /** A gossip message that does not decode (a transaction batch that is not a list of byte strings). */
  INVALID_MESSAGE: 'P2P_INVALID_MESSAGE',
  /** A frame longer than the protocol's limit. */
  OVERSIZED: 'P2P_OVERSIZED',
  /** The peer answered with an error envelope (`context.remoteCode`). */
  REMOTE_ERROR: 'P2P_REMOTE_ERROR',
  /** The stream broke (reset, closed early) before a response arrived. */
  STREAM_FAILED: 'P2P_STREAM_FAILED',
  /** Publishing: the payload is above the topic's limit (or gossipsub's 4 MiB frame ceiling). */
  MESSAGE_TOO_LARGE: 'P2P_MESSAGE_TOO_LARGE',
  /** Nobody to gossip to yet (no peer subscribed to the topic): send it again later. */
  NO_PEERS: 'P2P_NO_PEERS',
  /** gossipsub refused to publish (e.g. not started). */
  PUBLISH_FAILED: 'P2P_PUBLISH_FAILED',
  /** The p2p node was stopped (or not started). */
  STOPPED: 'P2P_STOPPED',
} as const
export type P2PErrorCode = (typeof P2PErrorCode)[keyof typeof P2PErrorCode]

export class P2PError extends CodedError<P2PErrorCode> {}

/** `err` is a P2PError (with code `code`, when given). */
export const isP2PError = codedErrorGuard(P2PError)
