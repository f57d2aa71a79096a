import type { PeerId } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import { createLogger } from '../common/logger.ts'
import { decodeOrPenalise, exchange, handshakePenalty } from './client.ts'
import type { P2PCore, PeerState, PenaltyRule } from './core.ts'
import { askForPeers } from './discovery.ts'
import { P2PError } from './errors.ts'
import { TokenBucket } from './rate-limit.ts'
import type { PeerIdStr, PeerInfo, Status } from './types.ts'
import { PROTOCOLS, decodeStatusResponse, encodeStatusRequest } from './wire.ts'

// Chain peers: admission on connect (bans, other chains, maxPeers), the status handshake, and
// what a status from a peer changes.

const log = createLogger('p2p')

/** Parts of gossipsub's class that its `GossipSub` interface does not declare. */
type GossipSubExtras = { getScore?(peer: string): number }

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function sameStatus(a: Status, b: Status): boolean {
  return a.head.number === b.head.number && sameBytes(a.head.hash, b.head.hash) && a.totalDifficulty === b.totalDifficulty
}

export function peerState(core: P2PCore, peer: PeerIdStr): PeerState {
  let s = core.peers.get(peer)
  if (!s) {
    s = { id: peer, status: null, announced: false, gossipBucket: new TokenBucket(core.opts.gossipRate), requestBucket: new TokenBucket(core.opts.requestRate) }
    core.peers.set(peer, s)
  }
  return s
}

export function peerInfo(core: P2PCore, s: PeerState): PeerInfo {
  const conns = core.connections(s.id)
  const pubsub = core.libp2p?.services.pubsub as (GossipSub & GossipSubExtras) | undefined
  return {
    id: s.id,
    addrs: conns.map((c) => c.remoteAddr.toString()),
    direction: conns[0]?.direction ?? 'inbound',
    status: s.status,
    score: core.scores.score(s.id),
    gossipScore: pubsub?.getScore?.(s.id) ?? 0,
  }
}

export function onConnect(core: P2PCore, id: PeerId): void {
  const peer = id.toString()
  if (core.stopped || core.peers.has(peer)) return
  if (core.scores.isBanned(peer)) {
    core.hangUp(peer)
    return
  }
  // Not admitted as a chain peer, the connection stays for app protocols until idle (reapIdle, app.ts).
  if (isOtherChain(core, peer)) {
    log.debug('Peer of another chain connected: app protocols only', { peer })
    return
  }
  if (core.peers.size >= core.opts.maxPeers) {
    log.debug('Too many peers: app protocols only', { peer, maxPeers: core.opts.maxPeers })
    return
  }
  peerState(core, peer)
  log.debug('Peer connected', { peer })
  requestStatus(core, peer, handshakePenalty).catch((err: unknown) => {
    if (!core.peers.has(peer) || core.peers.get(peer)?.announced) return
    log.debug('Status handshake failed: app protocols only', { peer }, err)
    demote(core, peer)
  })
}

/** No longer a chain peer; its connection stays for app protocols until idle (reapIdle, app.ts). */
function demote(core: P2PCore, peer: PeerIdStr): void {
  const s = core.peers.get(peer)
  if (!s) return
  core.peers.delete(peer)
  if (s.announced) core.emit('peer:disconnected', peer)
}

export function isOtherChain(core: P2PCore, peer: PeerIdStr): boolean {
  const until = core.otherChain.get(peer)
  if (until === undefined) return false
  if (until > Date.now()) return true
  core.otherChain.delete(peer)
  return false
}

export function onDisconnect(core: P2PCore, id: PeerId): void {
  const peer = id.toString()
  core.dialer.onDisconnected(peer)
  const s = core.peers.get(peer)
  if (!s) return
  core.peers.delete(peer)
  log.debug('Peer disconnected', { peer })
  if (s.announced) core.emit('peer:disconnected', peer)
}

/** A status from `peer` (its request or its response). False when it is of another chain. */
export function onStatus(core: P2PCore, peer: PeerIdStr, status: Status): boolean {
  if (status.chainId !== core.opts.chainId || !sameBytes(status.genesisHash, core.opts.genesisHash)) {
    log.info('Peer is on another chain: not a chain peer (app protocols only)', {
      peer,
      chainId: status.chainId,
      genesis: status.genesisHash,
      banMs: core.opts.mismatchBanMs,
    })
    core.otherChain.set(peer, Date.now() + core.opts.mismatchBanMs)
    demote(core, peer)
    return false
  }
  const s = core.peers.get(peer)
  if (!s) return true
  const prev = s.status
  s.status = status
  if (!s.announced) {
    s.announced = true
    core.emit('peer:connected', peerInfo(core, s))
    askForPeers(core, peer)
  } else if (!prev || !sameStatus(prev, status)) {
    core.emit('peer:status', peer, status)
  }
  return true
}

export async function localStatus(core: P2PCore): Promise<Status> {
  const h = await core.modules.getHead()
  return { chainId: core.opts.chainId, genesisHash: core.opts.genesisHash, head: h.head, totalDifficulty: h.totalDifficulty }
}

/** The status handshake with `peer`: its status, after ours. */
export async function requestStatus(core: P2PCore, peer: PeerIdStr, penalty: PenaltyRule): Promise<Status> {
  const body = encodeStatusRequest(await localStatus(core))
  const frame = await exchange(core, peer, PROTOCOLS.status, body, { maxResponseBytes: 1024, penalty })
  const res = decodeOrPenalise(core, peer, () => decodeStatusResponse(frame))
  if (!res.ok) throw new P2PError('P2P_REMOTE_ERROR', `status refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
  if (!onStatus(core, peer, res.value)) {
    throw new P2PError('P2P_WRONG_CHAIN', `peer ${peer} is on chain ${res.value.chainId} with another genesis or id`, { peer, chainId: res.value.chainId })
  }
  return res.value
}
