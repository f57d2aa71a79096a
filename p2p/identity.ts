import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { P2PError } from './errors.ts'
import type { PeerIdStr } from './types.ts'

/** The node key (32-byte secp256k1 secret, DIR/nodekey) as a libp2p private key. */
export function nodeKeyToPrivateKey(nodeKey: Uint8Array): PrivateKey {
  if (!(nodeKey instanceof Uint8Array) || nodeKey.length !== 32) throw new P2PError('P2P_INVALID_OPTIONS', 'the node key must be 32 bytes')
  try {
    return privateKeyFromRaw(nodeKey)
  } catch (err) {
    throw new P2PError('P2P_INVALID_OPTIONS', 'the node key is not a valid secp256k1 secret key', undefined, err)
  }
}

/** The peer id a node key gives (what `/p2p/<peerId>` in a bootnode multiaddr names). */
export function peerIdFromNodeKey(nodeKey: Uint8Array): PeerIdStr {
  return peerIdFromPrivateKey(nodeKeyToPrivateKey(nodeKey)).toString()
}
