/**
 * Which announced transactions to ask which peer for, in the manner of geth's tx fetcher: a hash
 * is asked for from one announcer at a time; a request that times out or comes back without it
 * moves it to another announcer; a peer has at most one request under way and at most
 * `maxPending` announced hashes waiting. No I/O and no clock of its own: the caller passes the
 * time, sends what `schedule` returns and reports answers, timeouts and departures. Hashes are
 * keyed as latin1 strings of their 32 bytes.
 */
import { GET_BYTES, MAX_GET, type Announced } from './tx-announce.ts'
import type { PeerIdStr } from './types.ts'

export const hashKey = (hash: Uint8Array): string => Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1')

interface Waiting {
  hash: Uint8Array
  size: number
  /** Peers that announced it and have not failed to deliver it. */
  announcers: Set<PeerIdStr>
  /** Asked for now, from this peer. */
  asked?: PeerIdStr
  /** When it was first announced (a hash waits `waitMs` for a push before it is asked for). */
  at: number
}

export interface TxRequest {
  peer: PeerIdStr
  id: number
  hashes: Uint8Array[]
}

interface Inflight {
  id: number
  keys: string[]
  deadline: number
}

export interface DeliveryOutcome {
  /** Bodies that were asked for, as [key, bytes]. */
  delivered: [string, Uint8Array][]
  /** Bodies whose hash was not asked for in this request (a body that does not match its hash lands here). */
  unrequested: number
  /** Hashes asked for and left out. */
  missing: number
}

export interface FetcherOptions {
  /** How long an announced hash waits for a push before it is asked for. */
  waitMs: number
  /** A request without an answer after this long fails (the peer is blamed). */
  timeoutMs: number
  /** Most announced hashes waiting per peer (more are dropped). */
  maxPending: number
}

export class TxFetcher {
  readonly #opts: FetcherOptions
  readonly #waiting = new Map<string, Waiting>()
  /** Per peer: its request under way, and how many hashes it announced that still wait. */
  readonly #peers = new Map<PeerIdStr, { inflight?: Inflight; pending: number }>()
  #nextId = 1

  constructor(opts: FetcherOptions) {
    this.#opts = opts
  }

  get waiting(): number {
    return this.#waiting.size
  }

  #peer(peer: PeerIdStr) {
    let p = this.#peers.get(peer)
    if (!p) this.#peers.set(peer, (p = { pending: 0 }))
    return p
  }

  /**
   * `peer` announced `items`; `known(key)` says which we hold already. Returns how many were
   * dropped because the peer has `maxPending` waiting.
   */
  announced(peer: PeerIdStr, items: readonly Announced[], known: (key: string) => boolean, now: number): number {
    const p = this.#peer(peer)
    let dropped = 0
    for (const a of items) {
      const key = hashKey(a.hash)
      if (known(key)) continue
      const w = this.#waiting.get(key)
      if (w?.announcers.has(peer)) continue
      if (p.pending >= this.#opts.maxPending) {
        dropped++
        continue
      }
      p.pending++
      if (w) w.announcers.add(peer)
      else this.#waiting.set(key, { hash: Uint8Array.from(a.hash), size: a.size, announcers: new Set([peer]), at: now })
    }
    return dropped
  }

  /** We have the transaction now (pushed, delivered, published): nobody needs to be asked for it. */
  got(key: string): void {
    const w = this.#waiting.get(key)
    if (w) this.#drop(key, w)
  }

  #drop(key: string, w: Waiting): void {
    this.#waiting.delete(key)
    for (const peer of w.announcers) {
      const p = this.#peers.get(peer)
      if (p) p.pending--
    }
  }

  /** `peer` cannot give us `key`: ask another announcer, or forget it when none is left. */
  #failed(key: string, peer: PeerIdStr): void {
    const w = this.#waiting.get(key)
    if (!w) return
    if (w.asked === peer) w.asked = undefined
    if (w.announcers.delete(peer)) {
      const p = this.#peers.get(peer)
      if (p) p.pending--
    }
    if (w.announcers.size === 0) this.#waiting.delete(key)
  }

  /**
   * The requests to send now: hashes that waited `waitMs` and are not asked for, grouped by an
   * announcer with no request under way (the one that announced the most of them first), each
   * request up to MAX_GET hashes and GET_BYTES of announced size.
   */
  schedule(now: number): TxRequest[] {
    const byPeer = new Map<PeerIdStr, string[]>()
    for (const [key, w] of this.#waiting) {
      if (w.asked !== undefined || now - w.at < this.#opts.waitMs) continue
      for (const peer of w.announcers) {
        if (this.#peers.get(peer)?.inflight !== undefined) continue
        let list = byPeer.get(peer)
        if (!list) byPeer.set(peer, (list = []))
        list.push(key)
      }
    }
    const out: TxRequest[] = []
    for (const [peer, keys] of [...byPeer].sort((a, b) => b[1].length - a[1].length)) {
      const chosen: string[] = []
      let bytes = 0
      for (const key of keys) {
        const w = this.#waiting.get(key)!
        if (w.asked !== undefined) continue
        if (chosen.length >= MAX_GET || (chosen.length > 0 && bytes + w.size > GET_BYTES)) break
        w.asked = peer
        chosen.push(key)
        bytes += w.size
      }
      if (chosen.length === 0) continue
      const id = this.#nextId++
      this.#peer(peer).inflight = { id, keys: chosen, deadline: now + this.#opts.timeoutMs }
      out.push({ peer, id, hashes: chosen.map((k) => this.#waiting.get(k)!.hash) })
    }
    return out
  }

  /**
   * `peer` answered request `id` with `bodies`, each keyed by its own hash (`keyOf`). Returns
   * undefined when no such request is under way (an unsolicited answer).
   */
  delivered(peer: PeerIdStr, id: number, bodies: readonly Uint8Array[], keyOf: (tx: Uint8Array) => string): DeliveryOutcome | undefined {
    const p = this.#peers.get(peer)
    const req = p?.inflight
    if (!p || !req || req.id !== id) return undefined
    p.inflight = undefined
    const asked = new Set(req.keys)
    const out: DeliveryOutcome = { delivered: [], unrequested: 0, missing: 0 }
    for (const tx of bodies) {
      const key = keyOf(tx)
      if (!asked.delete(key)) {
        out.unrequested++
        continue
      }
      out.delivered.push([key, tx])
      const w = this.#waiting.get(key)
      if (w) this.#drop(key, w)
    }
    for (const key of asked) {
      out.missing++
      this.#failed(key, peer)
    }
    return out
  }

  /** Requests past their deadline: their hashes go to other announcers; returns the peers to blame. */
  expire(now: number): PeerIdStr[] {
    const late: PeerIdStr[] = []
    for (const [peer, p] of this.#peers) {
      if (!p.inflight || p.inflight.deadline > now) continue
      const keys = p.inflight.keys
      p.inflight = undefined
      for (const key of keys) this.#failed(key, peer)
      late.push(peer)
    }
    return late
  }

  /** `peer` is gone: what it announced waits for others, what it was asked for is asked again. */
  removePeer(peer: PeerIdStr): void {
    const p = this.#peers.get(peer)
    if (!p) return
    for (const key of p.inflight?.keys ?? []) this.#failed(key, peer)
    p.inflight = undefined
    if (p.pending > 0) for (const key of [...this.#waiting.keys()]) this.#failed(key, peer)
    this.#peers.delete(peer)
  }
}
