import type { Connection } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLogger } from '../common/logger.ts'
import { decodeOrPenalise, exchange, handshakePenalty } from './client.ts'
import type { P2PCore } from './core.ts'
import { P2PError } from './errors.ts'
import { advertisedAddrs, ipOf, learnableAddrs } from './peer-exchange.ts'
import type { PeerIdStr } from './types.ts'
import { MAX_EXCHANGED_PEERS, PEERS_MAX_RESPONSE_BYTES, PROTOCOLS, decodePeersResponse, encodePeersRequest, type ExchangedPeer } from './wire.ts'

// Peer exchange over the host (/medrec/peers/1): asking chain peers for theirs while below
// minPeers, and answering with ours. The schedule and address rules are peer-exchange.ts.

const log = createLogger('p2p')

/** Peer exchange: a peer run with discovery off does not serve it, and need not. */
const exchangePenalty = handshakePenalty

/**
 * While below minPeers, asks one chain peer (`peer`, else one at random) for its chain peers
 * and hands them to the dialer as learned targets: at most one request in flight, each peer
 * at most once per peerExchangeIntervalMs.
 */
export function askForPeers(core: P2PCore, peer?: PeerIdStr): void {
  if (!core.opts.discovery || core.stopped || core.peers.size >= core.opts.minPeers) return
  const candidates = peer !== undefined ? [peer] : [...core.peers.values()].filter((s) => s.announced).map((s) => s.id)
  const asked = core.pex.next(candidates)
  if (asked === undefined) return
  requestPeers(core, asked)
    .then(
      (added) => log.debug('Peer exchange', { peer: asked, added, learned: core.dialer.learnedCount() }),
      (err: unknown) => log.debug('Peer exchange failed', { peer: asked }, err),
    )
    .finally(() => core.pex.done())
}

/** One peer exchange with `peer`; resolves with how many new dial targets it gave. */
async function requestPeers(core: P2PCore, peer: PeerIdStr): Promise<number> {
  const frame = await exchange(core, peer, PROTOCOLS.peers, encodePeersRequest(), { maxResponseBytes: PEERS_MAX_RESPONSE_BYTES, penalty: exchangePenalty })
  const res = decodeOrPenalise(core, peer, () => decodePeersResponse(frame))
  if (!res.ok) throw new P2PError('P2P_REMOTE_ERROR', `peer exchange refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
  const conn = core.connections(peer)[0]
  const from = conn === undefined ? undefined : ipOf(conn.remoteAddr)
  let added = 0
  for (const p of res.value) if (core.dialer.learn(p.id, learnableAddrs(p.id, p.addrs, from))) added++
  return added
}

/**
 * Up to MAX_EXCHANGED_PEERS of our chain peers other than `requester` (a random choice when
 * there are more), each with its listen addresses as identify stored them (not the ephemeral
 * port of an inbound connection), those relayable to the requester's IP only.
 */
export async function peersFor(core: P2PCore, requester: PeerIdStr, conn: Connection): Promise<ExchangedPeer[]> {
  const node = core.node()
  const to = ipOf(conn.remoteAddr)
  const ids = [...core.peers.values()].filter((p) => p.announced && p.id !== requester).map((p) => p.id)
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
