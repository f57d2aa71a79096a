import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { errorMessage } from '../common/errors.ts'
import { createLogger } from '../common/logger.ts'
import { decodeOrPenalise, exchange } from './client.ts'
import type { AppPeer, AppProtocol, P2PCore, PenaltyRule } from './core.ts'
import { parsePeerAddr } from './dialer.ts'
import { P2PError } from './errors.ts'
import { APP_MAX_REQUEST_BYTES } from './options.ts'
import { isOtherChain } from './peers.ts'
import { TokenBucket } from './rate-limit.ts'
import { readInbound } from './server.ts'
import type { AppHandler, AppHandlerOptions, AppRequestOptions, PeerIdStr } from './types.ts'
import { decodeAppResponse, encodeAppResponse, encodeErrorResponse } from './wire.ts'

// Application protocols on the same host (the gatekeeper's /medrec/gatekeeper/1): usable by
// peers that are not chain peers, rate-limited apart, their idle connections closed.

const log = createLogger('p2p')

/** App requests: only a malformed answer is the remote's fault (a slow handler, a response
 * above our own limit or a protocol it does not serve are not). */
const appPenalty: PenaltyRule = (code) => (code === 'P2P_INVALID_RESPONSE' ? 'invalid-response' : undefined)

/** `p`, or the signal's reason once it aborts first (a late rejection of `p` is not unhandled). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => {})
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function positiveInts(limits: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(limits)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new P2PError('P2P_INVALID_OPTIONS', `${k} must be a positive integer`, { [k]: v })
  }
}

/** A `requestTo` target: a `/p2p/`-terminated multiaddr (dialable) or a bare peer id. */
function parseTarget(target: string): { peer: PeerIdStr; addr?: ReturnType<typeof parsePeerAddr>['addr'] } {
  if (typeof target === 'string' && target.startsWith('/')) return parsePeerAddr(target)
  try {
    return { peer: peerIdFromString(target).toString() }
  } catch (err) {
    throw new P2PError('P2P_INVALID_PEER_ID', `not a peer id nor a multiaddr: ${String(target)}`, { target }, err)
  }
}

/** Serves `protocol` with `handler` (P2P.handle). */
export function handle(core: P2PCore, protocol: string, handler: AppHandler, opts: AppHandlerOptions = {}): void {
  const node = core.node()
  if (typeof protocol !== 'string' || !/^\/\S+$/.test(protocol)) throw new P2PError('P2P_INVALID_OPTIONS', `a protocol id is a path like /medrec/gatekeeper/1, not ${JSON.stringify(protocol)}`)
  if (core.appProtocols.has(protocol) || node.getProtocols().includes(protocol)) {
    throw new P2PError('P2P_INVALID_OPTIONS', `${protocol} is already served; unhandle it first`, { protocol })
  }
  if (typeof handler !== 'function') throw new P2PError('P2P_INVALID_OPTIONS', 'handler must be a function', { protocol })
  const limits = {
    maxRequestBytes: opts.maxRequestBytes ?? APP_MAX_REQUEST_BYTES,
    maxResponseBytes: opts.maxResponseBytes ?? core.opts.maxResponseBytes,
    timeoutMs: opts.timeoutMs ?? core.opts.requestTimeoutMs,
  }
  positiveInts(limits)
  const app: AppProtocol = { handler, ...limits }
  core.appProtocols.set(protocol, app)
  // libp2p registers the handler synchronously; only its peer store update is awaited.
  node.handle(protocol, (stream, conn) => serveApp(core, app, stream, conn), { maxInboundStreams: 4, maxOutboundStreams: 4 }).catch((err: unknown) => log.warn('Registering an app protocol failed', { protocol }, err))
}

export function unhandle(core: P2PCore, protocol: string): void {
  if (!core.appProtocols.delete(protocol) || !core.libp2p || core.stopped) return
  core.libp2p.unhandle(protocol).catch((err: unknown) => log.debug('Unregistering an app protocol failed', { protocol }, err))
}

/** One app request to `target`, dialled when not connected (P2P.requestTo). */
export async function requestTo(core: P2PCore, target: string, protocol: string, body: Uint8Array, opts: AppRequestOptions = {}): Promise<Uint8Array> {
  const node = core.node()
  const timeoutMs = opts.timeoutMs ?? core.opts.requestTimeoutMs
  const maxResponseBytes = opts.maxResponseBytes ?? core.opts.maxResponseBytes
  positiveInts({ timeoutMs, maxResponseBytes })
  if (!(body instanceof Uint8Array)) throw new P2PError('P2P_INVALID_OPTIONS', 'the request body must be a Uint8Array', { protocol })
  const deadline = Date.now() + timeoutMs
  const { peer, addr } = parseTarget(target)
  if (peer === core.peerId) throw new P2PError('P2P_INVALID_MULTIADDR', 'that is our own address', { target })
  if (core.scores.isBanned(peer)) throw new P2PError('P2P_PEER_BANNED', `peer ${peer} is banned (${core.scores.banReason(peer)})`, { peer })
  const use = appPeer(core, peer)
  use.active++ // keeps the connection from being reaped while the request is under way
  try {
    if (core.connections(peer).length === 0) {
      if (!addr) throw new P2PError('P2P_NOT_CONNECTED', `not connected to ${peer}; pass its multiaddr (…/p2p/<peerId>) to dial it`, { peer })
      const signal = AbortSignal.timeout(timeoutMs)
      try {
        // A one-off dial: not a Dialer target, so never redialled.
        await node.dial(addr, { signal })
      } catch (err) {
        const why = signal.aborted ? `timed out after ${timeoutMs} ms` : errorMessage(err)
        throw new P2PError('P2P_DIAL_FAILED', `dial ${target} failed: ${why}`, { peer }, err)
      }
    }
    let frame: Uint8Array
    try {
      // An error envelope must fit even under a tiny limit; the data's own size is checked below.
      frame = await exchange(core, peer, protocol, body, { maxResponseBytes: Math.max(maxResponseBytes, 1024) + 64, timeoutMs: Math.max(1, deadline - Date.now()), penalty: appPenalty })
    } catch (err) {
      if (err instanceof P2PError && err.code === 'P2P_PROTOCOL_UNSUPPORTED') throw new P2PError(err.code, `peer ${peer} does not serve ${protocol}`, { peer, protocol }, err)
      if (err instanceof P2PError && err.code === 'P2P_TIMEOUT') throw new P2PError(err.code, `${protocol} request to ${peer} timed out after ${timeoutMs} ms`, { peer, protocol }, err)
      throw err
    }
    const res = decodeOrPenalise(core, peer, () => decodeAppResponse(frame))
    if (!res.ok) {
      throw new P2PError('P2P_REMOTE_ERROR', `${protocol} at ${peer} answered ${res.code}: ${res.message}`, { peer, protocol, remoteCode: res.code, remoteMessage: res.message })
    }
    if (res.value.length > maxResponseBytes) {
      throw new P2PError('P2P_OVERSIZED', `${protocol} response of ${res.value.length} bytes exceeds maxResponseBytes ${maxResponseBytes}`, { peer, protocol })
    }
    return res.value
  } finally {
    use.active--
    use.last = Date.now()
  }
}

function appPeer(core: P2PCore, peer: PeerIdStr): AppPeer {
  let a = core.appPeers.get(peer)
  if (!a) {
    a = { active: 0, last: Date.now(), bucket: new TokenBucket(core.opts.requestRate) }
    core.appPeers.set(peer, a)
  }
  return a
}

async function serveApp(core: P2PCore, app: AppProtocol, stream: Stream, conn: Connection): Promise<void> {
  const peer = conn.remotePeer.toString()
  if (core.stopped || core.scores.isBanned(peer)) {
    stream.abort(new Error('not accepting requests from this peer'))
    return
  }
  const use = appPeer(core, peer)
  use.active++
  try {
    const req = await readInbound(core, peer, stream, app)
    if (!req) return
    // `requestRate` per peer for app requests, apart from the chain protocols' bucket so that
    // neither starves the other, and kept whether or not the peer is (or becomes) a chain peer.
    if (!use.bucket.take()) {
      core.penalize(peer, 'rate-limit')
      await req.respond(encodeErrorResponse('RATE_LIMITED', 'too many requests'))
      return
    }
    let out: Uint8Array
    try {
      out = await untilAborted(Promise.resolve().then(() => app.handler(req.frame, peer)), req.signal)
    } catch (err) {
      if (req.signal.aborted) {
        log.warn('App handler timed out', { peer, protocol: stream.protocol, timeoutMs: app.timeoutMs })
        // The deadline has passed: a short grace to say so rather than reset the stream.
        await req.respond(encodeErrorResponse('SERVER_ERROR', `handler timed out after ${app.timeoutMs} ms`), AbortSignal.timeout(1000))
        return
      }
      log.debug('App handler failed', { peer, protocol: stream.protocol }, err)
      await req.respond(encodeErrorResponse('HANDLER_ERROR', errorMessage(err)))
      return
    }
    if (!(out instanceof Uint8Array) || out.length > app.maxResponseBytes) {
      const why = out instanceof Uint8Array ? `response of ${out.length} bytes exceeds this server's limit of ${app.maxResponseBytes}` : 'handler returned no bytes'
      log.warn('App handler answer refused', { peer, protocol: stream.protocol, why })
      await req.respond(encodeErrorResponse('SERVER_ERROR', why))
      return
    }
    await req.respond(encodeAppResponse(out))
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    log.debug('Serving an app request failed', { peer, protocol: stream.protocol }, err)
  } finally {
    use.active--
    use.last = Date.now()
  }
}

/**
 * Closes connections of peers that are not chain peers (app-only, refused at maxPeers, failed
 * handshake, another chain) once they have had no app stream for `appIdleMs`.
 */
export function reapIdle(core: P2PCore): void {
  const node = core.libp2p
  if (!node || core.stopped) return
  const now = Date.now()
  const open = new Set<PeerIdStr>()
  for (const conn of node.getConnections()) {
    const peer = conn.remotePeer.toString()
    open.add(peer)
    if (core.peers.has(peer) || conn.status !== 'open') continue
    const use = core.appPeers.get(peer)
    if ((use?.active ?? 0) > 0 || now - Math.max(conn.timeline.open, use?.last ?? 0) < core.opts.appIdleMs) continue
    log.debug('Closing an idle connection of a peer that is not a chain peer', { peer })
    conn.close({ signal: AbortSignal.timeout(1000) }).catch((err: unknown) => {
      conn.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
  for (const [peer, use] of core.appPeers) if (use.active === 0 && !open.has(peer)) core.appPeers.delete(peer)
  for (const peer of [...core.otherChain.keys()]) isOtherChain(core, peer)
}
