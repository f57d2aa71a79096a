/**
 * The libp2p layer: TCP + noise + yamux, transactions on /medrec/txs/1, a gossipsub topic for blocks,
 * request/response protocols (status, blocks-by-range, headers-by-range), peer scoring.
 * Never imports consensus/, evm/ or node/: the node passes validators and handlers in.
 */
export * from './errors.ts'
export * from './options.ts'
export type * from './types.ts'
export { createP2P } from './p2p.ts'
export { peerIdFromNodeKey } from './identity.ts'
export { parsePeerAddr } from './dialer.ts'
export { PROTOCOLS, topicNames } from './wire.ts'
