import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLogger, type Logger } from '../common/logger.ts'
import { errorMessage } from '../common/errors.ts'
import { P2PError } from './errors.ts'
import type { DialTargetInfo, PeerIdStr } from './types.ts'

const log: Logger = createLogger('p2p')

/** Parses a multiaddr that names its peer (`…/p2p/<peerId>`); throws P2PError INVALID_MULTIADDR. */
export function parsePeerAddr(s: string): { peer: PeerIdStr; addr: Multiaddr } {
  let addr: Multiaddr
  try {
    addr = multiaddr(s)
  } catch (err) {
    throw new P2PError('P2P_INVALID_MULTIADDR', `not a multiaddr: ${s}`, { multiaddr: s }, err)
  }
  const p2p = addr.getComponents().findLast((c) => c.name === 'p2p')
  if (p2p?.value === undefined) throw new P2PError('P2P_INVALID_MULTIADDR', `multiaddr lacks /p2p/<peerId>: ${s}`, { multiaddr: s })
  try {
    return { peer: peerIdFromString(p2p.value).toString(), addr }
  } catch (err) {
    throw new P2PError('P2P_INVALID_MULTIADDR', `bad peer id in ${s}`, { multiaddr: s }, err)
  }
}

export interface DialerOptions {
  minPeers: number
  dialBackoffMinMs: number
  dialBackoffMaxMs: number
  dialIntervalMs: number
  /** Most learned targets (from peer exchange) kept at once. */
  maxLearnedPeers: number
}

export interface DialerDeps {
  self: PeerIdStr
  /** Dials one peer at any of its addresses (libp2p tries them in turn). */
  dial(addrs: Multiaddr[]): Promise<void>
  isConnected(peer: PeerIdStr): boolean
  isBanned(peer: PeerIdStr): boolean
  peerCount(): number
  /** Called on each interval while below `minPeers`, after the dials (peer exchange asks for more). */
  onBelowMinPeers?(): void
}

/** A learned target is forgotten after this many failed dials in a row. */
export const LEARNED_MAX_FAILURES = 3

interface Target {
  peer: PeerIdStr
  addrs: Multiaddr[]
  /** From peer exchange: bounded in number, forgotten after failures; else static (bootnode, addPeer). */
  learned: boolean
  /** When it was added (for evicting the oldest learned target). */
  since: number
  failures: number
  nextAt: number
}

/**
 * Keeps dialling the known peers that are not connected while the node has fewer than
 * `minPeers`, each with its own exponential backoff (with jitter). Static targets (bootnodes,
 * `addPeer`) are kept for good; learned ones (peer exchange) are a bounded set apart: they
 * never replace a static target's address, are dialled only as far as the node lacks peers,
 * and are forgotten after LEARNED_MAX_FAILURES failed dials in a row or once banned.
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

  /** Adds (or updates) a static target; returns its peer id. Our own address is ignored. */
  add(addr: string): PeerIdStr {
    const t = parsePeerAddr(addr)
    if (t.peer === this.#deps.self) return t.peer
    const prev = this.#targets.get(t.peer)
    if (prev) {
      // A static address wins over a learned one, and the target is static from now on.
      if (prev.learned) Object.assign(prev, { learned: false, failures: 0, nextAt: 0 })
      prev.addrs = [t.addr]
    } else this.#targets.set(t.peer, { peer: t.peer, addrs: [t.addr], learned: false, since: Date.now(), failures: 0, nextAt: 0 })
    return t.peer
  }

  /**
   * Adds a target learned from a peer (addresses already checked to end in `/p2p/<peer>`).
   * Ignored for ourselves, a banned peer, or a peer already known (a static target keeps its
   * address; a learned one keeps the addresses first heard, so a later liar cannot redirect
   * it). When `maxLearnedPeers` are known, the most failed (then oldest) learned target that
   * is neither connected nor being dialled makes room, else the new one is dropped.
   * Returns whether it was added.
   */
  learn(peer: PeerIdStr, addrs: readonly Multiaddr[]): boolean {
    if (addrs.length === 0 || peer === this.#deps.self || this.#targets.has(peer) || this.#deps.isBanned(peer)) return false
    if (this.learnedCount() >= this.#opts.maxLearnedPeers && !this.#evictLearned()) return false
    this.#targets.set(peer, { peer, addrs: [...addrs], learned: true, since: Date.now(), failures: 0, nextAt: 0 })
    return true
  }

  /** How many learned targets are kept. */
  learnedCount(): number {
    let n = 0
    for (const t of this.#targets.values()) if (t.learned) n++
    return n
  }

  /** One dial target as the dialer knows it, or undefined. */
  target(peer: PeerIdStr): DialTargetInfo | undefined {
    const t = this.#targets.get(peer)
    return t && { addrs: t.addrs.map((a) => a.toString()), learned: t.learned, failures: t.failures }
  }

  /** Dials one target now (admin_addPeer); rejects with a P2PError when the dial fails. */
  async dialNow(peer: PeerIdStr): Promise<void> {
    const t = this.#targets.get(peer)
    if (!t) throw new P2PError('P2P_INVALID_MULTIADDR', 'unknown dial target', { peer })
    if (this.#deps.isBanned(peer)) throw new P2PError('P2P_PEER_BANNED', 'peer is banned', { peer })
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

  #evictLearned(): boolean {
    let victim: Target | undefined
    for (const t of this.#targets.values()) {
      if (!t.learned || this.#inFlight.has(t.peer) || this.#deps.isConnected(t.peer)) continue
      if (!victim || t.failures > victim.failures || (t.failures === victim.failures && t.since < victim.since)) victim = t
    }
    if (victim) this.#targets.delete(victim.peer)
    return victim !== undefined
  }

  #tick(): void {
    const missing = this.#opts.minPeers - this.#deps.peerCount()
    if (missing <= 0) return
    const now = Date.now()
    // Learned targets are dialled only as many at a time as peers are missing.
    let room = missing - [...this.#inFlight].filter((p) => this.#targets.get(p)?.learned).length
    for (const t of [...this.#targets.values()]) {
      if (t.nextAt > now || this.#inFlight.has(t.peer) || this.#deps.isConnected(t.peer)) continue
      if (this.#deps.isBanned(t.peer)) {
        if (t.learned) this.#targets.delete(t.peer)
        continue
      }
      if (t.learned && room-- <= 0) continue
      this.#dial(t, false).catch(() => {})
    }
    this.#deps.onBelowMinPeers?.()
  }

  async #dial(t: Target, rethrow: boolean): Promise<void> {
    this.#inFlight.add(t.peer)
    try {
      await this.#deps.dial(t.addrs)
      t.failures = 0
      t.nextAt = 0
    } catch (err) {
      t.failures++
      const backoff = Math.min(this.#opts.dialBackoffMaxMs, this.#opts.dialBackoffMinMs * 2 ** (t.failures - 1))
      t.nextAt = Date.now() + backoff * (0.75 + Math.random() / 2)
      const forget = t.learned && t.failures >= LEARNED_MAX_FAILURES
      log.debug(forget ? 'Dial failed: learned peer forgotten' : 'Dial failed', { peer: t.peer, addr: t.addrs.join(','), failures: t.failures, retryMs: forget ? undefined : Math.round(t.nextAt - Date.now()) }, err)
      if (forget && this.#targets.get(t.peer) === t) this.#targets.delete(t.peer)
      if (rethrow) throw err instanceof P2PError ? err : new P2PError('P2P_DIAL_FAILED', `dial ${t.addrs.join(' or ')} failed: ${errorMessage(err)}`, { peer: t.peer }, err)
    } finally {
      this.#inFlight.delete(t.peer)
    }
  }
}
