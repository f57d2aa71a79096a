import type { Block, BlockHeader } from '@ethereumjs/block'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../../common/index.ts'
import { ConsensusErrorCode, isConsensusError } from '../../consensus/index.ts'
import { createP2P, isP2PError, P2PErrorCode, type GossipResult, type TxVerdict, type P2P, type P2PObserver, type PeerIdStr, type Status } from '../../p2p/index.ts'
import { ChainErrorCode, isChainError, type BlockBytes, type Chain } from '../chain/index.ts'
import { MempoolError, MempoolErrorCode, type Mempool, type SenderRecovery } from '../mempool/index.ts'
import { probePeer, type VerifiedTarget } from './probe.ts'
import { serveRanges } from './serve-ranges.ts'
import { serveState } from './state-serve.ts'
import { stateSync, type StateProgress, type StateWriter } from './state-sync.ts'

const log = createLogger('network')

export interface NetworkOptions {
  listen: { host: string; port: number }
  bootnodes: string[]
  maxPeers: number
  /** Peer exchange (--nodiscover turns it off); default on. */
  discovery?: boolean
  /** DIR/nodekey: the libp2p identity. */
  nodeKey: Uint8Array
  /** `--syncmode`: `snap` state-syncs an empty chain from a recent pivot (state-sync.ts) before range sync; default `full`. */
  syncMode?: 'full' | 'snap'
}

export interface NetworkModules {
  chain: Chain
  mempool: Mempool
  /** The worker threads that recover senders, reused for block imports. */
  recovery: SenderRecovery
  /** Gossip verdicts and penalties, for metrics (--metrics). */
  p2pObserver?: P2PObserver
  /** A gossiped block passed its precheck and is relayed (before its import), for metrics' block events (--metrics). */
  onBlockRelayed?: (hash: string, number: bigint) => void
  /** A block from `from` arrived at `arrivedMs` (Date.now()): gossiped, or fetched by range sync; for the clock monitor, before any check. */
  onBlockSeen?: (header: BlockHeader, from: PeerIdStr, arrivedMs: number, via: 'gossip' | 'sync') => void
}

/** eth_syncing's answer while catching up. */
export interface SyncProgress {
  startingBlock: bigint
  currentBlock: bigint
  highestBlock: bigint
  /** While state sync downloads the pivot's state. */
  state?: StateProgress
}

export interface Network {
  readonly p2p: P2P
  /** Gossips a transaction this node accepted over JSON-RPC. */
  broadcastTx(raw: Uint8Array): void
  /** Gossips a block this node sealed. */
  broadcastBlock(block: Block): void
  syncing(): SyncProgress | false
  /** Whether a gossiped block at this height is being received (senders recovered, executed) now. */
  receiving(number: bigint): boolean
  close(): Promise<void>
}

/** Blocks asked for per range request; the server caps it too. */
const RANGE = 64
/**
 * Pool transactions re-sent when a peer joins (geth syncs its pool to new peers likewise) or
 * a publish found no one subscribed, once the topic has had time to form.
 */
const RESEND_MAX = 4096
const RESEND_DELAY_MS = 2000
/** After a failed sync, leave that peer alone this long (no retry storms). */
const SYNC_COOLDOWN_MS = 3000
/**
 * Probes in a row a peer may let time out before it is banned: each one costs it p2p's `timeout`
 * penalty and a back-off (SYNC_COOLDOWN_MS × the count) before it is probed again, so a peer
 * busy for a while is kept and one that never answers is gone within ~20 s.
 */
const SLOW_PROBES_BANNED = 3

/** Mempool refusals that say nothing bad about the peer that relayed the transaction. */
const HARMLESS = new Set<string>([
  MempoolErrorCode.ALREADY_KNOWN,
  MempoolErrorCode.NONCE_TOO_LOW,
  MempoolErrorCode.UNDERPRICED,
  MempoolErrorCode.REPLACEMENT_UNDERPRICED,
  MempoolErrorCode.POOL_FULL,
  MempoolErrorCode.SENDER_LIMIT,
  MempoolErrorCode.RECOVERY_FAILED,
])

/**
 * Refusals that cost the relaying peer a little (p2p's `unfunded` verdict): what a flood of
 * transactions from senders who cannot pay looks like. Harmless while we sync (our state is
 * behind, the fault may be ours).
 */
const UNFUNDED = new Set<string>([MempoolErrorCode.INSUFFICIENT_FUNDS, MempoolErrorCode.NONCE_GAP_TOO_FAR])

const sameHead = (a: Status, b: Status): boolean => a.head.number === b.head.number && a.totalDifficulty === b.totalDifficulty && equalsBytes(a.head.hash, b.head.hash)

/** Chain refusals that mean "not now" rather than "invalid": the peer is not at fault. */
const notYet = (err: unknown): boolean => isChainError(err, ChainErrorCode.UNKNOWN_PARENT) || isConsensusError(err, ConsensusErrorCode.FUTURE_BLOCK)

/**
 * Wires the chain and the mempool to libp2p: gossip validation (a block is relayed after the
 * checks that need no execution and imported in the background), range sync towards the
 * heaviest peer, status announcements on every new head.
 */
export async function startNetwork(opts: NetworkOptions, modules: NetworkModules): Promise<Network> {
  const { chain, mempool, recovery } = modules
  let sync: SyncProgress | false = false
  let syncRunning: Promise<void> | undefined
  let closed = false

  /**
   * Fills each transaction's public-key cache without recovering on the main thread (where the
   * chain and the EVM read senders): most transactions were gossiped first and sit in the pool
   * already recovered; the rest go to the workers at once. A signature that does not recover is
   * left for the import to report.
   */
  async function primeSenders(block: Block): Promise<void> {
    const missing = block.transactions.filter((tx) => {
      const key = mempool.senderKey(tx.hash())
      if (key !== undefined) tx.cache.senderPubKey = key
      return key === undefined
    })
    if (missing.length > 0) await recovery.recoverMany(missing).catch(() => undefined)
  }

  const importBlock = async (block: Block) => {
    await primeSenders(block)
    return chain.importBlock(block)
  }

  // Heights of gossiped blocks between arrival and the end of their import: an out-of-turn
  // sealer gives way to them instead of forking a block that is only slow to import.
  const receiving = new Map<bigint, number>()
  const markReceiving = (n: bigint, by: 1 | -1) => {
    const left = (receiving.get(n) ?? 0) + by
    if (left <= 0) receiving.delete(n)
    else receiving.set(n, left)
  }
  /**
   * Gossiped blocks relayed and importing in the background, by hash. A child is prechecked
   * against such a parent's header and relayed at once; only its import waits for the parent's.
   */
  const importing = new Map<string, { header: BlockHeader; done: Promise<void> }>()

  /**
   * A gossiped block is relayed once it passes the checks that need no execution (parent known,
   * header, seal, transactions root: only an authority or real work makes one), then imported in
   * the background. Relaying only after a full import made every hop cost an execution of the
   * block: in a star of 16 the leaves saw a block seconds late and out-of-turn sealers forked it.
   * A relayed block that then fails to execute costs the peer that sent it (geth drops such a
   * peer too).
   */
  async function validateBlock(bytes: Uint8Array, from: PeerIdStr): Promise<GossipResult> {
    const arrived = performance.now()
    const arrivedAt = Date.now()
    let parsed: BlockBytes
    try {
      parsed = chain.parseBlock(bytes)
    } catch {
      return 'reject'
    }
    const hash = bytesToHex(parsed.hash)
    if (importing.has(hash)) return 'ignore'
    modules.onBlockSeen?.(parsed.header, from, arrivedAt, 'gossip')
    const parent = importing.get(bytesToHex(parsed.header.parentHash))
    const n = parsed.header.number
    markReceiving(n, 1)
    let relayed = false
    try {
      if ((await chain.precheck(parsed, parent?.header)) === 'known') return 'ignore'
      log.debug('Relaying gossiped block', { number: n, hash, checked: `${Math.round(performance.now() - arrived)}ms` })
      modules.onBlockRelayed?.(hash, n)
      let started = 0
      const imported = (parent?.done ?? Promise.resolve())
        .then(async () => {
          started = performance.now()
          return importBlock(await chain.decodePrechecked(parsed, (h) => mempool.get(h)?.tx))
        })
        .then(
          (r) => {
            if (r.status !== 'known') log.info('Imported gossiped block', { number: n, hash, txs: parsed.transactions.length, status: r.status, elapsed: `${Math.round(performance.now() - started)}ms` })
          },
          (err: unknown) => {
            log.warn('A relayed block failed to import', { number: n, hash, from, reason: errorMessage(err) })
            if (!notYet(err)) p2p.penalize(from, 'invalid-block')
          },
        )
        .finally(() => {
          importing.delete(hash)
          markReceiving(n, -1)
        })
      importing.set(hash, { header: parsed.header, done: imported })
      relayed = true
      return 'accept'
    } catch (err) {
      if (isChainError(err, ChainErrorCode.UNKNOWN_PARENT)) {
        // We are behind or on another branch: fetch the ancestors from this peer.
        const status = p2p.peers().find((p) => p.id === from)?.status
        // After this block has left `receiving` (below), or the sync would wait for itself.
        if (status !== undefined && status !== null) setImmediate(() => consider(from, status))
      }
      if (notYet(err)) return 'ignore'
      log.debug('Rejected gossiped block', { number: n, from, reason: errorMessage(err) })
      return 'reject'
    } finally {
      if (!relayed) markReceiving(n, -1)
    }
  }

  async function validateTx(bytes: Uint8Array): Promise<TxVerdict> {
    try {
      await mempool.addRaw(bytes)
      return 'accept'
    } catch (err) {
      if (err instanceof MempoolError && HARMLESS.has(err.code)) return 'ignore'
      if (err instanceof MempoolError && UNFUNDED.has(err.code)) return sync === false ? 'unfunded' : 'ignore'
      return 'reject'
    }
  }

  const p2p = await createP2P(
    {
      chainId: chain.common.chainId(),
      genesisHash: chain.genesisHash,
      privateKey: opts.nodeKey,
      listen: opts.listen,
      bootnodes: opts.bootnodes,
      maxPeers: opts.maxPeers,
      minPeers: Math.min(opts.maxPeers, 5),
      discovery: opts.discovery,
    },
    {
      getHead: () => ({ head: { number: chain.head.block.header.number, hash: chain.head.block.hash() }, totalDifficulty: chain.head.totalDifficulty }),
      validateTx,
      validateBlock,
      ...serveRanges(chain),
      observer: modules.p2pObserver,
    },
  )
  serveState(p2p, chain.store)
  /** Until state sync ran once (or when the chain is not empty): then range sync alone. */
  let snapPending = opts.syncMode === 'snap'
  const stateWriter: StateWriter = {
    write: (nodes) => chain.store.writeTrieNodes(nodes),
    pin: (root) => chain.store.trieWrites.pinned.add(bytesToHex(root)),
    unpin: (root) => chain.store.trieWrites.pinned.delete(bytesToHex(root)),
  }

  /** Peers a sync or a probe with just failed, and until when they are left alone. */
  const cooldown = new Map<PeerIdStr, number>()
  const cooling = (peer: PeerIdStr) => (cooldown.get(peer) ?? 0) > Date.now()
  /** Peer heads we already hold (synced, or stored on a side chain that lost fork choice). */
  const held = new Set<string>()
  const hold = (hash: Uint8Array) => {
    if (held.size > 10_000) held.clear()
    held.add(bytesToHex(hash))
  }
  /** What each peer proved of its status (probe.ts): only these peers get the sync slot. */
  const verified = new Map<PeerIdStr, VerifiedTarget>()
  /** Peers whose status is being checked now. */
  const probing = new Set<PeerIdStr>()
  /** Probes in a row each peer let time out (reset by any answer that settles a probe). */
  const slowProbes = new Map<PeerIdStr, number>()
  /** Re-probes of slow peers, due after their back-off. */
  const reprobes = new Map<PeerIdStr, NodeJS.Timeout>()

  /**
   * A peer is worth syncing from when its head is at least as heavy as ours and is a block we do
   * not hold: at equal weight its head may still win EIP-3436's tie-breaks, which only the
   * imported header can tell (so equal forks converge instead of each side keeping its own).
   */
  function wantsSync(status: Status): boolean {
    // A peer announces its new head as soon as it has it, usually while the same block is still
    // arriving here by gossip: fetching it again by range would only queue a second import.
    // Should the gossiped block fail, its validator (or the next announcement) starts the sync.
    if (receiving.has(status.head.number)) return false
    return status.totalDifficulty >= chain.head.totalDifficulty && !equalsBytes(status.head.hash, chain.head.block.hash()) && !held.has(bytesToHex(status.head.hash))
  }

  /**
   * A peer's status says it is ahead: believe it only as far as its headers prove (probe.ts),
   * then give the sync slot to the best proven peer. Probes of several peers run side by side,
   * so a peer that never answers delays nobody; one that cannot back its claim is banned.
   */
  function consider(peer: PeerIdStr, status: Status): void {
    if (closed || !wantsSync(status) || cooling(peer)) return
    const v = verified.get(peer)
    if (v !== undefined && sameHead(v.status, status)) return trySync()
    // While a sync runs, new claims wait for its end (then every peer is looked at again).
    if (probing.has(peer) || syncRunning !== undefined) return
    probing.add(peer)
    probePeer({ chain, p2p, seen: (h, from, at) => modules.onBlockSeen?.(h, from, at, 'sync') }, peer, status)
      .then((outcome) => {
        if (outcome.kind !== 'slow') slowProbes.delete(peer)
        if (outcome.kind === 'slow') {
          slowToAnswer(peer, status, outcome.reason)
        } else if (outcome.kind === 'verified') {
          verified.set(peer, outcome.target)
          log.debug('Peer status verified', { peer, head: outcome.target.status.head.number, highest: outcome.target.highest, from: outcome.target.from })
        } else if (outcome.kind === 'held') {
          hold(status.head.hash)
        } else if (outcome.kind === 'later') {
          cooldown.set(peer, Date.now() + SYNC_COOLDOWN_MS)
          log.debug('Peer status not checked now', { peer, reason: outcome.reason })
        } else {
          verified.delete(peer)
          log.warn('Peer could not back its status: banned', { peer, claimed: status.head.number, reason: outcome.reason })
          p2p.penalize(peer, 'false-status')
        }
      })
      .catch((err: unknown) => {
        cooldown.set(peer, Date.now() + SYNC_COOLDOWN_MS)
        log.warn('Checking a peer status failed', { peer, reason: errorMessage(err) })
      })
      .finally(() => {
        probing.delete(peer)
        trySync()
      })
  }

  /**
   * A probe request timed out (p2p already charged the peer its `timeout` penalty): not proof of a
   * lie, as a loaded peer can miss the limit. The peer is probed again after a back-off with the
   * status it then has; only SLOW_PROBES_BANNED probes in a row timing out get it banned.
   */
  function slowToAnswer(peer: PeerIdStr, status: Status, reason: string): void {
    const n = (slowProbes.get(peer) ?? 0) + 1
    if (n >= SLOW_PROBES_BANNED) {
      slowProbes.delete(peer)
      verified.delete(peer)
      log.warn('Peer could not back its status: banned', { peer, claimed: status.head.number, reason: `${n} probes in a row timed out; the last: ${reason}` })
      p2p.penalize(peer, 'false-status')
      return
    }
    if (slowProbes.size > 10_000) slowProbes.clear() // bounded: peers that timed out once and left
    slowProbes.set(peer, n)
    const wait = SYNC_COOLDOWN_MS * n
    cooldown.set(peer, Date.now() + wait)
    log.info('Peer slow to back its status: probed again later', { peer, claimed: status.head.number, timedOut: n, retryInMs: wait, reason })
    clearTimeout(reprobes.get(peer))
    const timer = setTimeout(() => {
      reprobes.delete(peer)
      const now = p2p.peers().find((p) => p.id === peer)?.status
      if (now !== undefined && now !== null) consider(peer, now)
    }, wait + 10)
    timer.unref()
    reprobes.set(peer, timer)
  }

  /** Starts a sync with the best proven peer unless one runs; when it ends, everyone is looked at again. */
  function trySync(): void {
    if (closed || syncRunning !== undefined) return
    const best = bestPeer()
    if (best === undefined) return
    const [peer, target] = best
    const snap = snapPending && chain.head.block.header.number === 0n
    snapPending = false
    syncRunning = (snap ? runStateSync(target) : syncWith(peer, target))
      .then((ok) => {
        if (!ok) cooldown.set(peer, Date.now() + SYNC_COOLDOWN_MS)
      })
      .catch((err: unknown) => {
        // Slow, gone or failing: this peer cools down and the next proven one takes over at once.
        cooldown.set(peer, Date.now() + SYNC_COOLDOWN_MS)
        log.warn('Sync with peer failed', { peer, reason: errorMessage(err) })
      })
      .finally(() => {
        syncRunning = undefined
        sync = false
        // A target is proven once: a later status of this peer is checked again.
        verified.delete(peer)
        // Someone else may still be ahead (on the next turn of the event loop, never in a tight loop).
        setTimeout(() => {
          for (const p of p2p.peers()) if (p.status !== null) consider(p.id, p.status)
          trySync()
        }, 0)
      })
  }

  /** The proven peer to sync from: one that proved its head first, then the heaviest. */
  function bestPeer(): [PeerIdStr, VerifiedTarget] | undefined {
    let best: [PeerIdStr, VerifiedTarget] | undefined
    for (const [peer, v] of verified) {
      if (cooling(peer) || !wantsSync(v.status)) continue
      const better = best === undefined || (v.headProven && !best[1].headProven) || (v.headProven === best[1].headProven && v.status.totalDifficulty > best[1].status.totalDifficulty)
      if (better) best = [peer, v]
    }
    return best
  }

  /**
   * Catches up with `peer` towards the head it proved: range requests from the start of its
   * verified headers, walking back to a common ancestor should its branch have changed since.
   * Resolves false when the peer proved useless or wrong (it then cools down).
   */
  async function syncWith(peer: PeerIdStr, target: VerifiedTarget): Promise<boolean> {
    const claim = target.status
    const start = chain.head.block.header.number
    let from = target.from
    let back = BigInt(RANGE)
    log.info('Syncing', { peer, from, to: target.highest })
    while (!closed && claim.totalDifficulty >= chain.head.totalDifficulty && !(await chain.store.hasBlock(claim.head.hash))) {
      const current = chain.head.block.header.number
      // Only what headers or imported blocks back: never a bare claim.
      sync = { startingBlock: start, currentBlock: current, highestBlock: target.highest > current ? target.highest : current }
      // Imported up to its claimed height without reaching its head: its branch moved; its next status is checked anew.
      if (from > claim.head.number) return true
      const raw = await p2p.requestBlocks(peer, from, RANGE)
      if (raw.length === 0) {
        const now = p2p.peers().find((p) => p.id === peer)?.status
        if (from <= target.rangeEnd && now !== undefined && now !== null && now.head.number >= from) {
          // It proved headers up to rangeEnd and still claims them, but serves none of the blocks.
          log.warn('Peer serves no blocks for the headers it proved: banned', { peer, from, rangeEnd: target.rangeEnd })
          p2p.penalize(peer, 'false-status')
        } else {
          p2p.penalize(peer, 'useless')
        }
        return false
      }
      let blocks: Block[]
      try {
        blocks = raw.map((b) => chain.decodeBlock(b))
      } catch {
        p2p.penalize(peer, 'invalid-block')
        return false
      }
      const fetchedAt = Date.now()
      for (const b of blocks) modules.onBlockSeen?.(b.header, peer, fetchedAt, 'sync')
      if (!(await chain.store.hasBlock(blocks[0]!.header.parentHash))) {
        // Its branch forked below `from`: look further back for a block we share. Block 1's
        // parent is the genesis both sides checked at the handshake, so that one must connect.
        if (from <= 1n) {
          p2p.penalize(peer, 'invalid-block')
          return false
        }
        from = from > back ? from - back : 1n
        back *= 2n
        continue
      }
      for (const b of blocks) {
        try {
          await importBlock(b)
        } catch (err) {
          if (notYet(err)) {
            log.debug('Sync paused: block not importable yet', { peer, number: b.header.number, reason: errorMessage(err) })
            return false
          }
          log.warn('Peer served an invalid block', { peer, number: b.header.number, reason: errorMessage(err) })
          p2p.penalize(peer, 'invalid-block')
          return false
        }
      }
      from = blocks[blocks.length - 1]!.header.number + 1n
    }
    hold(claim.head.hash)
    log.info('Synced', { head: chain.head.block.header.number, hash: bytesToHex(chain.head.block.hash()) })
    return true
  }

  /**
   * State sync towards the proven head, then (the caller looks at every peer again) range sync
   * from the pivot. Should it not be possible, full sync does the whole chain: said once, loudly.
   */
  async function runStateSync(target: VerifiedTarget): Promise<boolean> {
    const result = await stateSync(
      {
        chain,
        p2p,
        recovery,
        writer: stateWriter,
        progress: (p) => {
          sync = { startingBlock: 0n, currentBlock: chain.head.block.header.number, highestBlock: p.highestBlock, state: p.state }
        },
        closed: () => closed,
      },
      target.highest,
    )
    if (result.kind === 'fallback') log.warn('State sync not possible: falling back to full sync (every block executed from the genesis)', { reason: result.reason })
    return true
  }

  // A new peer has not seen the pool: a transaction sent before any peer was there (a
  // gatekeeper's first transaction at start-up) would otherwise never leave this node, and every
  // later nonce of its sender would wait behind it on the sealers. Once the new peer is in the
  // gossip mesh (a heartbeat or two), the pool goes out again; peers drop what they have.
  let resend: NodeJS.Timeout | undefined
  const resendPool = () => {
    resend = undefined
    if (closed) return
    const { pending } = mempool.content()
    const txs = Object.values(pending).flatMap((bySender) => Object.values(bySender)).slice(0, RESEND_MAX)
    // Those peers already had come back as duplicates (nothing sent); one that still finds no
    // peer in the topic is tried again later.
    for (const { tx } of txs) p2p.publishTx(tx.serialize()).catch(retryLater)
    if (txs.length > 0) log.debug('Re-sent pool transactions', { txs: txs.length })
  }
  const retryLater = (err: unknown) => {
    const again = isP2PError(err, P2PErrorCode.NO_PEERS) && p2p.peerCount() > 0
    log.debug(again ? 'Transaction not gossiped yet; will re-send' : 'Transaction not gossiped', undefined, errorMessage(err))
    if (again) resend ??= setTimeout(resendPool, RESEND_DELAY_MS)
  }
  p2p.on('peer:connected', (peer) => {
    if (peer.status !== null) consider(peer.id, peer.status)
    resend ??= setTimeout(resendPool, RESEND_DELAY_MS)
  })
  p2p.on('peer:status', (peer, status) => consider(peer, status))
  p2p.on('peer:disconnected', (peer) => {
    verified.delete(peer)
    clearTimeout(reprobes.get(peer))
    reprobes.delete(peer)
  })
  let announce: NodeJS.Timeout | undefined
  const onHead = () => {
    // One announcement per burst of heads (sync imports many blocks in a row).
    announce ??= setTimeout(() => {
      announce = undefined
      void p2p.announceStatus()
    }, 50)
  }
  chain.on('head', onHead)
  log.info('P2P listening', { peerId: p2p.peerId, addrs: p2p.listenAddrs() })

  return {
    p2p,
    broadcastTx(raw) {
      // No peer in the topic yet (just started, peers just joined): sent again with the pool.
      p2p.publishTx(raw).catch(retryLater)
    },
    broadcastBlock(block) {
      p2p.publishBlock(chain.store.encodeBlock(block)).catch((err) => log.debug('Block not gossiped', undefined, errorMessage(err)))
    },
    syncing: () => sync,
    receiving: (number) => receiving.has(number),
    async close() {
      closed = true
      chain.off('head', onHead)
      if (resend !== undefined) clearTimeout(resend)
      if (announce !== undefined) clearTimeout(announce)
      for (const timer of reprobes.values()) clearTimeout(timer)
      await syncRunning
      await p2p.stop()
      await Promise.all([...importing.values()].map((i) => i.done))
    },
  }
}
