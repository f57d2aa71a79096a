import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLogger, type Logger } from '../common/logger.ts'
import { errorMessage } from '../common/errors.ts'
import { P2PError } from './errors.ts'
import type { PeerIdStr } from './types.ts'

const log: Logger = createLogger('p2p')

/** Parses a multiaddr that names its peer (`…/p2p/<peerId>`); throws P2PError INVALID_MULTIADDR. */
export function parsePeerAddr(s: string): { peer: PeerIdStr; addr: Multiaddr } {
  let addr: Multiaddr
  try {
    addr = multiaddr(s)
  } catch (err) {
    throw new P2PError('INVALID_MULTIADDR', `not a multiaddr: ${s}`, { multiaddr: s }, err)
  }
  const p2p = addr.getComponents().findLast((c) => c.name === 'p2p')
  if (p2p?.value === undefined) throw new P2PError('INVALID_MULTIADDR', `multiaddr lacks /p2p/<peerId>: ${s}`, { multiaddr: s })
  try {
    return { peer: peerIdFromString(p2p.value).toString(), addr }
  } catch (err) {
    throw new P2PError('INVALID_MULTIADDR', `bad peer id in ${s}`, { multiaddr: s }, err)
  }
}

export interface DialerOptions {
  minPeers: number
  dialBackoffMinMs: number
  dialBackoffMaxMs: number
  dialIntervalMs: number
}

export interface DialerDeps {
  self: PeerIdStr
  dial(addr: Multiaddr): Promise<void>
  isConnected(peer: PeerIdStr): boolean
  isBanned(peer: PeerIdStr): boolean
  peerCount(): number
}

interface Target {
  peer: PeerIdStr
  addr: Multiaddr
  failures: number
  nextAt: number
}

/**
 * Keeps dialling the known peers (bootnodes and `addPeer`s) that are not connected while the
 * node has fewer than `minPeers`, each with its own exponential backoff (with jitter).
 */
export class Dialer {
  readonly #opts: DialerOptions
  readonly #deps: DialerDeps
  readonly #targets = new Map<PeerIdStr, Target>()
  readonly #inFlight = new Set<PeerIdStr>()
  #timer: NodeJS.Timeout | undefined

  constructor(opts: DialerOptions, deps: DialerDeps) {
    this.#opts = opts
    this.#deps = deps
  }

  /** Adds (or updates) a target; returns its peer id. Our own address is ignored. */
  add(addr: string): PeerIdStr {
    const t = parsePeerAddr(addr)
    if (t.peer === this.#deps.self) return t.peer
    const prev = this.#targets.get(t.peer)
    if (prev) prev.addr = t.addr
    else this.#targets.set(t.peer, { ...t, failures: 0, nextAt: 0 })
    return t.peer
  }

  /** Dials one target now (admin_addPeer); rejects with a P2PError when the dial fails. */
  async dialNow(peer: PeerIdStr): Promise<void> {
    const t = this.#targets.get(peer)
    if (!t) throw new P2PError('INVALID_MULTIADDR', 'unknown dial target', { peer })
    if (this.#deps.isBanned(peer)) throw new P2PError('PEER_BANNED', 'peer is banned', { peer })
    await this.#dial(t, true)
  }

  start(): void {
    this.#tick()
    this.#timer = setInterval(() => this.#tick(), this.#opts.dialIntervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** A target disconnected: wait at least the minimum backoff before redialling it. */
  onDisconnected(peer: PeerIdStr): void {
    const t = this.#targets.get(peer)
    if (t) t.nextAt = Math.max(t.nextAt, Date.now() + this.#opts.dialBackoffMinMs)
  }

  #tick(): void {
    if (this.#deps.peerCount() >= this.#opts.minPeers) return
    const now = Date.now()
    for (const t of this.#targets.values()) {
      if (t.nextAt > now || this.#inFlight.has(t.peer) || this.#deps.isConnected(t.peer) || this.#deps.isBanned(t.peer)) continue
      this.#dial(t, false).catch(() => {})
    }
  }

  async #dial(t: Target, rethrow: boolean): Promise<void> {
    this.#inFlight.add(t.peer)
    try {
      await this.#deps.dial(t.addr)
      t.failures = 0
      t.nextAt = 0
    } catch (err) {
      t.failures++
      const backoff = Math.min(this.#opts.dialBackoffMaxMs, this.#opts.dialBackoffMinMs * 2 ** (t.failures - 1))
      t.nextAt = Date.now() + backoff * (0.75 + Math.random() / 2)
      log.debug('Dial failed', { peer: t.peer, addr: t.addr.toString(), failures: t.failures, retryMs: Math.round(t.nextAt - Date.now()) }, err)
      if (rethrow) throw err instanceof P2PError ? err : new P2PError('DIAL_FAILED', `dial ${t.addr.toString()} failed: ${errorMessage(err)}`, { peer: t.peer }, err)
    } finally {
      this.#inFlight.delete(t.peer)
    }
  }
}
