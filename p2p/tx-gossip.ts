/**
 * Transaction exchange on `/medrec/txs/1` (wire: tx-announce.ts), after eth/68: what this node
 * admits goes to each chain peer not known to have it (it sent or announced it to us, or we to
 * it), gathered per peer for `txBatchMs` into one frame. A transaction above PUSH_MAX_BYTES goes
 * as (hash, type, size) and the peer asks for it if it lacks it (tx-fetcher.ts: one request per
 * hash at a time, another announcer after a timeout or a refusal); a smaller one goes in full.
 * Each peer pair keeps one long-lived stream per direction, so a frame costs one yamux frame and
 * no stream negotiation.
 *
 * Why not gossipsub (`/txs/2`): every origin's batch is a message of its own, relayed whole to
 * every mesh peer and dropped as a duplicate only after it was decrypted and hashed; here a relay
 * joins everything it passes on to a peer into one frame per tick and never sends a transaction
 * back to a peer that has it. Why small ones in full to every peer (geth pushes to √peers and
 * announces to the rest): a transfer is ~110 bytes, and what a frame costs is the frame, not its
 * bytes; an announcement costs the receiver a request and the sender an answer, three frames for
 * one. Measured with `npm run bench -- tx-gossip` (16 hosts, 50 tx/s): √peers pushed 13.3 frames
 * per transaction across the network, half of them requests and answers, all-small-pushed 4.9.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { keccak256 } from '../common/keccak.ts'
import { createLogger } from '../common/logger.ts'
import type { P2PCore } from './core.ts'
import { isP2PError, P2PError } from './errors.ts'
import { lengthDecoder } from './reqresp.ts'
import { decodeTxFrame, encodeTxFrame, GET_BYTES, MAX_ANNOUNCE, MAX_PUSH, PUSH_FRAME_BYTES, txFrameLimit, txType, type Announced, type TxFrame } from './tx-announce.ts'
import { hashKey, TxFetcher } from './tx-fetcher.ts'
import type { GossipResult, PeerIdStr, TxVerdict } from './types.ts'

const log = createLogger('p2p')

export const TX_PROTOCOL = '/medrec/txs/1'

/** Transactions up to this size are pushed in full; larger ones are announced and fetched. */
export const PUSH_MAX_BYTES = 4096
/**
 * Hashes remembered per peer as known to it: 160 s of 50 tx/s (geth keeps 32,768; at ~100 bytes
 * a hash in a Set that would be ~80 MB at 25 peers).
 */
const KNOWN_PER_PEER = 8192
/** Hashes this node has seen, and bodies it can serve, at most. */
const SEEN_MAX = 65_536
const SERVE_MAX_BYTES = 32 * 1024 * 1024
/** Announced hashes waiting per peer (geth's maxTxAnnounces). */
const PENDING_PER_PEER = 4096

interface Outbox {
  push: Uint8Array[]
  announce: Announced[]
}

interface Session {
  stream: Stream
  frames: ReturnType<typeof lpStream>
  /** Writes go one after another. */
  tail: Promise<void>
}

interface Waiting {
  resolve(recipients: number): void
  reject(err: unknown): void
  recipients: number
}

/** A bounded set in insertion order (the oldest goes first). */
class KnownSet {
  readonly #max: number
  readonly #keys = new Set<string>()
  constructor(max: number) {
    this.#max = max
  }
  has(key: string): boolean {
    return this.#keys.has(key)
  }
  add(key: string): void {
    if (this.#keys.has(key)) return
    this.#keys.add(key)
    if (this.#keys.size > this.#max) this.#keys.delete(this.#keys.values().next().value!)
  }
}

export class TxGossip {
  readonly #core: P2PCore
  readonly #fetcher: TxFetcher
  readonly #frameLimit: number
  /** Hashes seen here: the bytes when this node can serve them (published or accepted), else null. */
  readonly #seen = new Map<string, Uint8Array | null>()
  #seenBytes = 0
  readonly #known = new Map<PeerIdStr, KnownSet>()
  readonly #outbox = new Map<PeerIdStr, Outbox>()
  readonly #sessions = new Map<PeerIdStr, Promise<Session | undefined>>()
  /** Inbound streams waiting for the peer's handshake to finish here. */
  readonly #handshakes = new Map<PeerIdStr, (() => void)[]>()
  #waiting: Waiting[] = []
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(core: P2PCore) {
    this.#core = core
    this.#frameLimit = txFrameLimit(core.opts.maxTxBytes)
    this.#fetcher = new TxFetcher({ waitMs: core.opts.txBatchMs, timeoutMs: core.opts.txFetchTimeoutMs, maxPending: PENDING_PER_PEER })
  }

  /** Chain peers to send to: handshake done, not banned. */
  #targets(): PeerIdStr[] {
    const out: PeerIdStr[] = []
    for (const s of this.#core.peers.values()) if (s.announced && !this.#core.scores.isBanned(s.id)) out.push(s.id)
    return out
  }

  #knownTo(peer: PeerIdStr): KnownSet {
    let k = this.#known.get(peer)
    if (!k) this.#known.set(peer, (k = new KnownSet(KNOWN_PER_PEER)))
    return k
  }

  #remember(key: string, body: Uint8Array | null): void {
    const prev = this.#seen.get(key)
    if (prev !== undefined) {
      if (prev !== null || body === null) return
      this.#seen.delete(key)
    }
    this.#seen.set(key, body)
    this.#seenBytes += body?.length ?? 0
    while (this.#seen.size > SEEN_MAX || this.#seenBytes > SERVE_MAX_BYTES) {
      const [oldest, b] = this.#seen.entries().next().value!
      this.#seen.delete(oldest)
      this.#seenBytes -= b?.length ?? 0
    }
    this.#fetcher.got(key)
  }

  /** Our own transaction (P2P.publishTx): resolves with the peers it went to once its frames are written. */
  publish(tx: Uint8Array): Promise<number> {
    const targets = this.#targets()
    if (targets.length === 0) throw new P2PError('P2P_NO_PEERS', `publish on ${TX_PROTOCOL}: no peer has joined the topic yet (no chain peer)`, { topic: TX_PROTOCOL })
    const key = hashKey(keccak256(tx))
    this.#remember(key, tx)
    const recipients = this.#queue(tx, key, targets)
    return new Promise<number>((resolve, reject) => {
      this.#waiting.push({ resolve, reject, recipients })
      this.#arm()
    })
  }

  /** A transaction the node accepted from `from` on the legacy gossipsub topic: passed on here too. */
  relay(tx: Uint8Array, from: PeerIdStr): void {
    const key = hashKey(keccak256(tx))
    this.#knownTo(from).add(key)
    if (this.#seen.get(key)) return
    this.#remember(key, tx)
    this.#queue(tx, key, this.#targets())
  }

  /** Queues `tx` for the peers of `targets` not known to have it: pushed when small, else announced. */
  #queue(tx: Uint8Array, key: string, targets: PeerIdStr[]): number {
    const to = targets.filter((p) => !this.#knownTo(p).has(key))
    if (to.length === 0) return 0
    const push = tx.length <= PUSH_MAX_BYTES
    const announced: Announced = { hash: Buffer.from(key, 'latin1'), type: txType(tx), size: tx.length }
    for (const peer of to) {
      this.#knownTo(peer).add(key)
      let box = this.#outbox.get(peer)
      if (!box) this.#outbox.set(peer, (box = { push: [], announce: [] }))
      if (push) box.push.push(tx)
      else box.announce.push(announced)
    }
    this.#arm()
    return to.length
  }

  #arm(): void {
    if (this.#closed) return
    this.#timer ??= setTimeout(() => this.#tick(), this.#core.opts.txBatchMs)
  }

  /** Sends the outboxes, expires and schedules fetches; ticks again while anything waits. */
  #tick(): void {
    this.#timer = undefined
    if (this.#closed) return
    const sent: Promise<void>[] = []
    for (const [peer, box] of this.#outbox) {
      this.#outbox.delete(peer)
      for (const f of gossipFrames(box)) sent.push(this.#send(peer, f))
    }
    const waiting = this.#waiting
    this.#waiting = []
    void Promise.allSettled(sent).then(() => waiting.forEach((w) => w.resolve(w.recipients)))
    const now = Date.now()
    for (const peer of this.#fetcher.expire(now)) {
      log.debug('Transaction request timed out', { peer })
      this.#core.penalize(peer, 'timeout')
    }
    for (const req of this.#fetcher.schedule(now)) void this.#send(req.peer, { kind: 'get', id: req.id, hashes: req.hashes })
    if (this.#fetcher.waiting > 0) this.#arm()
  }

  /** Writes one frame to `peer` on our stream to it (opened on first use, again after a failure). */
  async #send(peer: PeerIdStr, frame: TxFrame): Promise<void> {
    const session = await this.#session(peer)
    if (!session) return
    const data = encodeTxFrame(frame)
    const write = session.tail.then(() => session.frames.write(data, { signal: AbortSignal.timeout(this.#core.opts.requestTimeoutMs) }))
    session.tail = write.catch(() => {})
    try {
      await write
    } catch (err) {
      log.debug('Writing transactions to a peer failed; the stream is reopened on the next frame', { peer }, err)
      this.#endSession(peer, session, err)
    }
  }

  #session(peer: PeerIdStr): Promise<Session | undefined> {
    let s = this.#sessions.get(peer)
    if (s) return s
    s = (async () => {
      const conn = this.#core.connections(peer)[0]
      if (!conn) return undefined
      try {
        const stream = await conn.newStream(TX_PROTOCOL, { signal: AbortSignal.timeout(this.#core.opts.requestTimeoutMs) })
        return { stream, frames: lpStream(stream, { maxDataLength: this.#frameLimit }), tail: Promise.resolve() }
      } catch (err) {
        log.debug('Opening the transaction stream failed', { peer }, err)
        this.#sessions.delete(peer)
        return undefined
      }
    })()
    this.#sessions.set(peer, s)
    return s
  }

  #endSession(peer: PeerIdStr, session: Session, err?: unknown): void {
    void this.#sessions.get(peer)?.then((s) => {
      if (s === session) this.#sessions.delete(peer)
    })
    session.stream.abort(err instanceof Error ? err : new Error('transaction stream closed'))
  }

  /** A peer's stream to us: frames read and handled one after another until it ends. */
  async serve(stream: Stream, conn: Connection): Promise<void> {
    const core = this.#core
    const peer = conn.remotePeer.toString()
    if (this.#closed || !core.peers.has(peer) || core.scores.isBanned(peer)) {
      stream.abort(new Error('transactions are exchanged with chain peers only'))
      return
    }
    const limit = this.#frameLimit
    const frames = lpStream(stream, { maxDataLength: limit, maxBufferSize: limit + 16, lengthDecoder: lengthDecoder(limit) })
    // The peer may have our status before we have its (it sends as soon as its side of the
    // handshake is done): its frames wait in the stream until ours is, rather than being dropped.
    if (!core.peers.get(peer)?.announced) await this.#handshake(peer)
    for (;;) {
      let data: Uint8Array
      try {
        data = (await frames.read()).subarray()
      } catch (err) {
        const name = err instanceof Error ? err.name : ''
        const oversized = isP2PError(err, 'P2P_OVERSIZED') || name === 'InvalidDataLengthError' || name === 'StreamBufferError'
        const garbage = name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError'
        if (oversized || garbage) {
          log.debug('Bad transaction stream from a peer', { peer }, err)
          core.penalize(peer, oversized ? 'oversized' : 'invalid-frame')
        }
        stream.abort(err instanceof Error ? err : new Error(String(err)))
        return
      }
      if (this.#closed) return
      await this.#onFrame(peer, data)
    }
  }

  /** Resolves once `peer`'s status handshake is done here (`peerReady`), it leaves, or requestTimeoutMs passes. */
  #handshake(peer: PeerIdStr): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#core.opts.requestTimeoutMs)
      const waiters = this.#handshakes.get(peer) ?? []
      waiters.push(done)
      this.#handshakes.set(peer, waiters)
      function done() {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** `peer`'s status handshake is done (p2p's `peer:connected`): its waiting frames are read. */
  peerReady(peer: PeerIdStr): void {
    const waiters = this.#handshakes.get(peer)
    this.#handshakes.delete(peer)
    for (const w of waiters ?? []) w()
  }

  async #onFrame(peer: PeerIdStr, data: Uint8Array): Promise<void> {
    const core = this.#core
    const s = core.peers.get(peer)
    // As on gossip: nothing from a peer being dropped or before its handshake completed.
    if (!s || s.status === null || core.scores.isBanned(peer)) return
    if (!s.gossipBucket.take()) {
      core.penalize(peer, 'rate-limit')
      core.modules.observer?.gossip?.('tx', 'ignore')
      return
    }
    let frame: TxFrame
    try {
      frame = decodeTxFrame(data, core.opts.maxTxBytes)
    } catch (err) {
      log.debug('Refused a transaction frame', { peer }, err)
      core.penalize(peer, isP2PError(err, 'P2P_OVERSIZED') ? 'oversized' : 'invalid-frame')
      core.modules.observer?.gossip?.('tx', 'reject')
      return
    }
    if (frame.kind === 'get') return this.#serveGet(peer, frame.id, frame.hashes)
    if (frame.kind === 'pooled') return this.#onPooled(peer, frame.id, frame.txs)
    const known = this.#knownTo(peer)
    for (const a of frame.announced) known.add(hashKey(a.hash))
    if (frame.announced.length > 0) {
      const dropped = this.#fetcher.announced(peer, frame.announced, (k) => this.#seen.has(k), Date.now())
      if (dropped > 0) {
        log.debug('Peer announced more transactions than are kept waiting for it', { peer, dropped })
        core.penalize(peer, 'rate-limit')
      }
      this.#arm()
    }
    if (frame.txs.length > 0) await this.#judge(peer, frame.txs.map((tx) => [hashKey(keccak256(tx)), tx]))
  }

  #serveGet(peer: PeerIdStr, id: number, hashes: Uint8Array[]): Promise<void> {
    const txs: Uint8Array[] = []
    let bytes = 0
    for (const h of hashes) {
      const tx = this.#seen.get(hashKey(h))
      if (!tx) continue
      txs.push(tx)
      bytes += tx.length
      // One past the soft limit, as geth answers.
      if (bytes >= GET_BYTES) break
    }
    return this.#send(peer, { kind: 'pooled', id, txs })
  }

  async #onPooled(peer: PeerIdStr, id: number, txs: Uint8Array[]): Promise<void> {
    const core = this.#core
    const out = this.#fetcher.delivered(peer, id, txs, (tx) => hashKey(keccak256(tx)))
    if (out === undefined) {
      log.debug('Peer answered a transaction request we did not make', { peer, id })
      core.penalize(peer, 'invalid-response')
      core.modules.observer?.gossip?.('tx', 'reject')
      return
    }
    if (out.unrequested > 0) {
      // A body that is not one we asked for: mismatching its hash, or never asked.
      log.debug('Peer answered with transactions that were not asked for', { peer, unrequested: out.unrequested })
      core.penalize(peer, 'invalid-response')
    }
    if (out.missing > 0) {
      // It announced them and then could not deliver (perhaps just included in a block): a little.
      log.debug('Peer did not deliver transactions it announced', { peer, missing: out.missing })
      core.penalize(peer, 'useless')
    }
    if (out.delivered.length > 0) await this.#judge(peer, out.delivered)
    this.#arm()
  }

  /**
   * The node's verdict on transactions `peer` sent, as on gossip: accepted ones go on to the other
   * peers; an invalid one costs the peer `gossip-reject`, an unfunded one `unfunded-tx` each.
   */
  async #judge(peer: PeerIdStr, items: [key: string, tx: Uint8Array][]): Promise<void> {
    const core = this.#core
    const known = this.#knownTo(peer)
    const fresh = items.filter(([key]) => {
      known.add(key)
      return !this.#seen.has(key)
    })
    if (fresh.length === 0) return
    for (const [key] of fresh) this.#remember(key, null)
    let verdicts: TxVerdict[]
    try {
      verdicts = await Promise.all(fresh.map(([, tx]) => core.modules.validateTx(tx, peer)))
    } catch (err) {
      log.warn('Transaction validator threw; ignoring the transactions', { peer }, err)
      return
    }
    if (this.#closed) return
    const targets = this.#targets()
    for (const [i, [key, tx]] of fresh.entries()) {
      if (verdicts[i] !== 'accept') continue
      this.#remember(key, tx)
      this.#queue(tx, key, targets)
    }
    const rejected = verdicts.filter((v) => v === 'reject').length
    const unfunded = verdicts.filter((v) => v === 'unfunded').length
    if (rejected > 0) core.penalize(peer, 'gossip-reject', rejected)
    if (unfunded > 0) core.penalize(peer, 'unfunded-tx', unfunded)
    const verdict: GossipResult = rejected > 0 ? 'reject' : verdicts.includes('accept') ? 'accept' : 'ignore'
    core.modules.observer?.gossip?.('tx', verdict)
  }

  /** `peer` left: its stream, what it knew and what it announced are forgotten. */
  removePeer(peer: PeerIdStr): void {
    this.peerReady(peer)
    this.#known.delete(peer)
    this.#outbox.delete(peer)
    this.#fetcher.removePeer(peer)
    const s = this.#sessions.get(peer)
    this.#sessions.delete(peer)
    void s?.then((session) => session?.stream.abort(new Error('peer left')))
    if (this.#fetcher.waiting > 0) this.#arm()
  }

  /** p2p is stopping: publishes waiting for their frame fail with `err`. */
  close(err: unknown): void {
    this.#closed = true
    for (const peer of [...this.#handshakes.keys()]) this.peerReady(peer)
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    const waiting = this.#waiting
    this.#waiting = []
    for (const w of waiting) w.reject(err)
    this.#outbox.clear()
  }
}

/** An outbox as frames within the wire's bounds. */
function gossipFrames(box: Outbox): TxFrame[] {
  const out: TxFrame[] = []
  let txs: Uint8Array[] = []
  let bytes = 0
  for (const tx of box.push) {
    if (txs.length > 0 && (txs.length >= MAX_PUSH || bytes + tx.length > PUSH_FRAME_BYTES)) {
      out.push({ kind: 'gossip', txs, announced: [] })
      txs = []
      bytes = 0
    }
    txs.push(tx)
    bytes += tx.length
  }
  for (let i = 0; i < box.announce.length || (i === 0 && txs.length > 0); i += MAX_ANNOUNCE) {
    out.push({ kind: 'gossip', txs: i === 0 ? txs : [], announced: box.announce.slice(i, i + MAX_ANNOUNCE) })
  }
  return out
}
