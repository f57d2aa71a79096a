import type { Connection, Stream } from '@libp2p/interface'
import { errorMessage } from '../common/errors.ts'
import { createLogger } from '../common/logger.ts'
import type { P2PCore } from './core.ts'
import { peersFor } from './discovery.ts'
import { P2PError } from './errors.ts'
import { MAX_REQUEST_BYTES } from './options.ts'
import { localStatus, onStatus } from './peers.ts'
import { readRequest, type InboundRequest } from './reqresp.ts'
import type { PeerIdStr, PenaltyReason, Status } from './types.ts'
import {
  decodePeersRequest,
  decodeRangeRequest,
  decodeStatusRequest,
  encodeErrorResponse,
  encodeItemsResponse,
  encodePeersResponse,
  encodeStatusResponse,
  type RangeRequest,
} from './wire.ts'

// Request/response, the serving side: status, blocks and headers by range, peer exchange, each
// from chain peers only and within the per-peer request rate.

const log = createLogger('p2p')

/** Serves one chain-protocol request (status, ranges, peer exchange) from a chain peer. */
export async function serve(core: P2PCore, kind: 'status' | 'blocks' | 'headers' | 'peers', stream: Stream, conn: Connection): Promise<void> {
  const peer = conn.remotePeer.toString()
  const s = core.peers.get(peer)
  // Peer exchange answers other peers with an error envelope (they may try again once admitted).
  // A banned peer gets nothing, also in the moment between its ban and its connection's close.
  if (core.stopped || core.scores.isBanned(peer) || (!s && kind !== 'peers')) {
    stream.abort(new Error('not accepting requests from this peer'))
    return
  }
  const req = await readInbound(core, peer, stream, { timeoutMs: core.opts.requestTimeoutMs, maxRequestBytes: MAX_REQUEST_BYTES })
  if (!req) return
  try {
    // Only peer exchange gets here without a chain peer (see above).
    if (!s || (kind === 'peers' && !s.announced)) {
      await req.respond(encodeErrorResponse('NOT_CHAIN_PEER', 'peer exchange is served to chain peers only: complete the status handshake (same chain) first'))
      return
    }
    if (!s.requestBucket.take()) {
      core.penalize(peer, 'rate-limit')
      await req.respond(encodeErrorResponse('RATE_LIMITED', 'too many requests'))
      return
    }
    if (kind === 'status') {
      let theirs: Status
      try {
        theirs = decodeStatusRequest(req.frame)
      } catch (err) {
        await badRequest(core, peer, req, err)
        return
      }
      await req.respond(encodeStatusResponse(await localStatus(core)))
      onStatus(core, peer, theirs)
      return
    }
    if (kind === 'peers') {
      try {
        decodePeersRequest(req.frame)
      } catch (err) {
        await badRequest(core, peer, req, err)
        return
      }
      await req.respond(encodePeersResponse(await peersFor(core, peer, conn)))
      return
    }
    let range: RangeRequest
    try {
      range = decodeRangeRequest(req.frame)
    } catch (err) {
      await badRequest(core, peer, req, err)
      return
    }
    await req.respond(await serveRange(core, kind, range))
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    log.debug('Serving a request failed', { peer, protocol: stream.protocol }, err)
  }
}

/** The request frame, or undefined when the stream failed (aborted, the peer penalised). */
export async function readInbound(core: P2PCore, peer: PeerIdStr, stream: Stream, limits: { timeoutMs: number; maxRequestBytes: number }): Promise<InboundRequest | undefined> {
  try {
    return await readRequest(stream, limits)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    const code = err instanceof P2PError ? err.code : 'P2P_STREAM_FAILED'
    const reason: PenaltyReason | undefined = code === 'P2P_INVALID_RESPONSE' ? 'invalid-frame' : code === 'P2P_OVERSIZED' ? 'oversized' : code === 'P2P_TIMEOUT' ? 'timeout' : undefined
    log.debug('Bad inbound request', { peer, protocol: stream.protocol, reason }, err)
    if (reason) core.penalize(peer, reason)
    return undefined
  }
}

async function badRequest(core: P2PCore, peer: PeerIdStr, req: InboundRequest, err: unknown): Promise<void> {
  log.debug('Undecodable request', { peer }, err)
  core.penalize(peer, 'invalid-frame')
  await req.respond(encodeErrorResponse('BAD_REQUEST', errorMessage(err)))
}

async function serveRange(core: P2PCore, kind: 'blocks' | 'headers', range: RangeRequest): Promise<Uint8Array> {
  const count = Math.min(range.count, core.opts.maxRangeCount)
  const maxItem = kind === 'blocks' ? core.opts.maxBlockBytes : core.opts.maxHeaderBytes
  let items: Uint8Array[]
  try {
    items = await (kind === 'blocks' ? core.modules.getBlocksByRange(range.from, count) : core.modules.getHeadersByRange(range.from, count))
  } catch (err) {
    log.warn('By-range handler failed', { kind, from: range.from, count }, err)
    return encodeErrorResponse('SERVER_ERROR', 'cannot serve this range')
  }
  // Stay inside the limits a peer checks: the count, the item size and the frame size
  // (msgpack adds at most 5 bytes per item and a few for the envelope).
  const out: Uint8Array[] = []
  let bytes = 64
  for (const item of items.slice(0, count)) {
    if (item.length === 0 || item.length > maxItem || bytes + item.length + 5 > core.opts.maxResponseBytes) break
    out.push(item)
    bytes += item.length + 5
  }
  return encodeItemsResponse(out)
}
