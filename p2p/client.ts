import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { errorMessage } from '../common/errors.ts'
import type { P2PCore, PenaltyRule } from './core.ts'
import { P2PError } from './errors.ts'
import { penaltyFor, request } from './reqresp.ts'
import type { PeerIdStr } from './types.ts'
import { decodeItemsResponse, encodeRangeRequest } from './wire.ts'

// Request/response, the asking side: one request over an open connection, its answer decoded,
// the remote penalised for what is its fault.

/** The connect handshake: a peer that does not speak status is simply not a chain peer. */
export const handshakePenalty: PenaltyRule = (code) => (code === 'P2P_PROTOCOL_UNSUPPORTED' ? undefined : penaltyFor(code))

/** One request to a connected `peer`; a failure the rule blames on the remote penalises it. */
export async function exchange(core: P2PCore, peer: PeerIdStr, protocol: string, body: Uint8Array, limits: { maxResponseBytes: number; timeoutMs?: number; penalty?: PenaltyRule }): Promise<Uint8Array> {
  core.node()
  let pid: PeerId
  try {
    pid = peerIdFromString(peer)
  } catch (err) {
    throw new P2PError('P2P_INVALID_PEER_ID', `not a peer id: ${peer}`, { peer }, err)
  }
  const conn = core.node().getConnections(pid).find((c) => c.status === 'open')
  if (!conn) throw new P2PError('P2P_NOT_CONNECTED', `not connected to ${peer}`, { peer })
  try {
    return await request(conn, protocol, body, { timeoutMs: limits.timeoutMs ?? core.opts.requestTimeoutMs, maxResponseBytes: limits.maxResponseBytes })
  } catch (err) {
    const reason = err instanceof P2PError ? (limits.penalty ?? penaltyFor)(err.code) : undefined
    if (reason) core.penalize(peer, reason)
    throw err
  }
}

/** `decode()` of a response; an undecodable one penalises `peer`. */
export function decodeOrPenalise<T>(core: P2PCore, peer: PeerIdStr, decode: () => T): T {
  try {
    return decode()
  } catch (err) {
    core.penalize(peer, 'invalid-response')
    throw new P2PError('P2P_INVALID_RESPONSE', `invalid response from ${peer}: ${errorMessage(err)}`, { peer }, err)
  }
}

/** Blocks or headers `from` on, at most `count` (and maxRangeCount) of them; `timeoutMs` defaults to requestTimeoutMs. */
export async function requestRange(core: P2PCore, peer: PeerIdStr, protocol: string, from: bigint, count: number, maxItemBytes: number, timeoutMs?: number): Promise<Uint8Array[]> {
  if (typeof from !== 'bigint' || from < 0n || !Number.isSafeInteger(count) || count < 1) {
    throw new P2PError('P2P_INVALID_OPTIONS', 'from must be a bigint >= 0 and count an integer >= 1', { from: String(from), count })
  }
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 1)) throw new P2PError('P2P_INVALID_OPTIONS', 'timeoutMs must be a positive integer', { timeoutMs })
  const n = Math.min(count, core.opts.maxRangeCount)
  const frame = await exchange(core, peer, protocol, encodeRangeRequest({ from, count: n }), { maxResponseBytes: core.opts.maxResponseBytes + 64, timeoutMs })
  const res = decodeOrPenalise(core, peer, () => decodeItemsResponse(frame, n, maxItemBytes))
  if (!res.ok) throw new P2PError('P2P_REMOTE_ERROR', `${protocol} refused: ${res.code} ${res.message}`, { peer, remoteCode: res.code })
  return res.value
}
