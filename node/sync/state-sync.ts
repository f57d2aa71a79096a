import { createBlockHeaderFromRLP, type Block, type BlockHeader } from '@ethereumjs/block'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../../common/index.ts'
import type { Snapshot } from '../../consensus/index.ts'
import { transactionsRoot } from '../../evm/index.ts'
import type { P2P, PeerIdStr } from '../../p2p/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import type { SenderRecovery } from '../mempool/index.ts'
import { SyncError, SyncErrorCode } from './errors.ts'
import { downloadTrie, type StateProgress, type StateWriter } from './state-download.ts'

export type { StateProgress, StateWriter } from './state-download.ts'

// State sync (geth's snap sync, by trie node rather than by range): pick a pivot block below the
// peers' head, verify every header up to it under the consensus rules (the authority set comes
// from the genesis and the votes, so the header chain is the proof), download the pivot's state
// trie, storage tries and code by hash from several peers, each value checked against its hash
// before it is kept, then make the pivot the head without executing history. Range sync then
// imports the blocks after it, as for any node.
//
// Crash safety: a node is written only once its whole subtree is in the database (children
// before parents, batches in that order), so a stored node always means a complete subtree: a
// restart skips what it finds and fetches the rest, and the pivot's root, written last, is the
// proof that the state is complete. The head moves to the pivot only after that.

const log = createLogger('state-sync')

/** The pivot is this many blocks below the peers' head (geth: 64), inside the 128 states a pruning peer keeps. */
export const PIVOT_DISTANCE = 64n
/** Blocks kept below the pivot, with their bodies: BLOCKHASH reaches 256 back, start-up checks 64. */
export const KEPT_BLOCKS = 256n
/** Headers per request (the p2p server caps ranges at 128). */
const HEADER_RANGE = 128
const BLOCK_RANGE = 64
/**
 * Requests per second to one peer (and the burst): under the serving side's per-peer limit of 20
 * a second (burst 50), so no honest sync earns a rate-limit penalty. Answers are sized by bytes
 * (state-wire.ts), so this with the answer budget sets a peer's throughput.
 */
const REQUESTS_PER_SECOND = 16
const REQUEST_TIMEOUT_MS = 10_000
/** Pivots tried before giving up (the first one's state may be pruned by the time the download ends). */
const MAX_PIVOTS = 3

export interface StateSyncDeps {
  chain: Chain
  p2p: P2P
  recovery: SenderRecovery
  writer: StateWriter
  /** Where eth_syncing's answer goes. */
  progress(p: { highestBlock: bigint; state: StateProgress }): void
  closed(): boolean
}

export type StateSyncResult = { kind: 'synced'; pivot: bigint } | { kind: 'fallback'; reason: string }

/** The pivot for a chain whose head is `head`: 64 below, or halfway on a chain younger than 128 blocks; 0 for none. */
export function pivotFor(head: bigint): bigint {
  const back = head / 2n < PIVOT_DISTANCE ? head / 2n : PIVOT_DISTANCE
  return head - back
}

const fail = (reason: string) => new SyncError(SyncErrorCode.STATE_SYNC_FAILED, reason)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Runs state sync towards the peers' head (`highest`, proven by the probe). Resolves 'synced'
 * with the chain's head at the pivot, or 'fallback' with the reason full sync must do it.
 */
export async function stateSync(deps: StateSyncDeps, highest: bigint): Promise<StateSyncResult> {
  const s = new StateSync(deps)
  try {
    return await s.run(highest)
  } catch (err) {
    return { kind: 'fallback', reason: errorMessage(err) }
  }
}

class StateSync {
  private readonly deps: StateSyncDeps
  /** Each peer's request tokens (pace). */
  private readonly slots = new Map<PeerIdStr, { tokens: number; at: number }>()
  /** Peers dropped from this sync (served bytes that did not verify, or no state protocol). */
  private readonly dropped = new Set<PeerIdStr>()
  /** Verified headers, the last few hundred, by number. */
  private readonly headers = new Map<bigint, BlockHeader>()
  private last!: BlockHeader
  private snap!: Snapshot
  private td = 0n
  private readonly progress: StateProgress = { pivot: 0n, syncedAccounts: 0, syncedAccountBytes: 0, syncedBytecodes: 0, syncedBytecodeBytes: 0, syncedStorage: 0, syncedStorageBytes: 0, healingTrienodes: 0, healingBytecode: 0 }
  private highest = 0n

  constructor(deps: StateSyncDeps) {
    this.deps = deps
  }

  async run(highest: bigint): Promise<StateSyncResult> {
    const { chain } = this.deps
    const genesis = chain.head
    if (genesis.block.header.number !== 0n) return { kind: 'fallback', reason: 'the chain is past its genesis: state sync only starts an empty node' }
    this.last = genesis.block.header
    this.snap = chain.snapshot
    this.td = genesis.totalDifficulty
    this.headers.set(0n, this.last)
    this.highest = highest
    for (let attempt = 1; attempt <= MAX_PIVOTS; attempt++) {
      const target = this.peersHead()
      if (target > this.highest) this.highest = target
      const pivot = pivotFor(this.highest)
      if (pivot < 1n) return { kind: 'fallback', reason: `the peers' chain is too short for a pivot (head ${this.highest})` }
      if (pivot < this.last.number) return { kind: 'fallback', reason: `the peers' head went back below block ${this.last.number}` }
      this.progress.pivot = pivot
      log.info('State sync: verifying headers', { pivot, highest: this.highest })
      await this.headersTo(pivot)
      const header = this.last
      log.info('State sync: downloading state', { pivot, root: bytesToHex(header.stateRoot) })
      const started = performance.now()
      const done = await downloadTrie(
        {
          p2p: this.deps.p2p,
          read: (keys) => chain.store.readState(keys),
          writer: this.deps.writer,
          peers: () => this.peers(pivot),
          isDropped: (peer) => this.dropped.has(peer),
          drop: (peer, why, penalty) => this.drop(peer, why, penalty),
          pace: (peer) => this.pace(peer),
          progress: this.progress,
          report: () => this.report(),
          checkOpen: () => this.checkOpen(),
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          retryMs: 500,
        },
        header.stateRoot,
      )
      if (done === true) {
        const { bytes } = this.counts()
        const secs = (performance.now() - started) / 1000
        log.info('State sync: state downloaded', { pivot, bytes, secs: secs.toFixed(2), MBps: (bytes / 1e6 / Math.max(secs, 0.001)).toFixed(2) })
      }
      if (done !== true) {
        if (this.peers(pivot).length === 0) return { kind: 'fallback', reason: done }
        log.warn('State sync: no peer serves the pivot state any more; trying a newer pivot', { pivot, reason: done })
        continue
      }
      // The kept blocks after the state, not side by side: their decoding and sender recovery
      // take the CPU the download needs (measured: 29 s instead of 2.6 s for the same 5.3 MB).
      await this.adopt(await this.keptBlocks(header), this.snap)
      log.info('State sync done: head set at the pivot without executing history', { pivot, hash: bytesToHex(header.hash()), ...this.counts() })
      return { kind: 'synced', pivot }
    }
    return { kind: 'fallback', reason: `no peer served the state of ${MAX_PIVOTS} pivots in a row` }
  }

  private counts() {
    const p = this.progress
    return { accounts: p.syncedAccounts, storage: p.syncedStorage, codes: p.syncedBytecodes, bytes: p.syncedAccountBytes + p.syncedStorageBytes + p.syncedBytecodeBytes }
  }

  private report(): void {
    this.deps.progress({ highestBlock: this.highest, state: { ...this.progress } })
  }

  /** Chain peers to ask, best-first by head; the highest head among them. */
  private peers(min: bigint): PeerIdStr[] {
    return this.deps.p2p
      .peers()
      .filter((p) => p.status !== null && p.status.head.number >= min && !this.dropped.has(p.id))
      .sort((a, b) => (a.status!.head.number < b.status!.head.number ? 1 : -1))
      .map((p) => p.id)
  }

  private peersHead(): bigint {
    let h = 0n
    for (const p of this.deps.p2p.peers()) if (p.status !== null && !this.dropped.has(p.id) && p.status.head.number > h) h = p.status.head.number
    return h
  }

  /** Waits for this peer's next request slot (a token bucket of our own, under its rate limit). */
  private async pace(peer: PeerIdStr): Promise<void> {
    const now = Date.now()
    const b = this.slots.get(peer) ?? { tokens: REQUESTS_PER_SECOND, at: now }
    b.tokens = Math.min(REQUESTS_PER_SECOND, b.tokens + ((now - b.at) / 1000) * REQUESTS_PER_SECOND) - 1
    b.at = now
    this.slots.set(peer, b)
    if (b.tokens < 0) await sleep((-b.tokens * 1000) / REQUESTS_PER_SECOND)
  }

  private drop(peer: PeerIdStr, why: string, penalty?: 'invalid-state' | 'invalid-header' | 'invalid-block'): void {
    if (this.dropped.has(peer)) return
    this.dropped.add(peer)
    log.warn('State sync: peer dropped', { peer, why })
    if (penalty !== undefined) this.deps.p2p.penalize(peer, penalty)
  }

  private checkOpen(): void {
    if (this.deps.closed()) throw fail('the node is closing')
  }

  /**
   * Extends the verified header chain to `target`: ranges fetched from the peers side by side,
   * then checked in order (numbers, links, each header under the consensus rules with the signer
   * set its ancestors voted). A peer whose headers do not verify is penalised and dropped.
   */
  private async headersTo(target: bigint): Promise<void> {
    const { chain } = this.deps
    while (this.last.number < target) {
      this.checkOpen()
      const peers = this.peers(target)
      if (peers.length === 0) throw fail(`no peer holds block ${target} any more`)
      const jobs: Array<{ peer: PeerIdStr; from: bigint; count: number }> = []
      let from = this.last.number + 1n
      for (const peer of peers) {
        if (from > target) break
        const left = target - from + 1n
        const count = Number(left < BigInt(HEADER_RANGE) ? left : BigInt(HEADER_RANGE))
        jobs.push({ peer, from, count })
        from += BigInt(count)
      }
      const got = await Promise.all(
        jobs.map(async (j) => {
          await this.pace(j.peer)
          try {
            return await this.deps.p2p.requestHeaders(j.peer, j.from, j.count, { timeoutMs: REQUEST_TIMEOUT_MS })
          } catch (err) {
            log.debug('State sync: headers request failed', { peer: j.peer, from: j.from, reason: errorMessage(err) })
            return undefined
          }
        }),
      )
      for (const [i, j] of jobs.entries()) {
        const raw = got[i]
        if (raw === undefined || raw.length === 0) break // asked again next round (from another peer when it left)
        let ok = 0
        try {
          for (const bytes of raw) {
            const h = createBlockHeaderFromRLP(bytes, { common: chain.store.decodeCommon, setHardfork: false })
            if (h.number !== this.last.number + 1n || !equalsBytes(h.parentHash, this.last.hash())) throw new Error(`header ${h.number} does not follow block ${this.last.number}`)
            chain.consensus.verifyHeader(h, this.last, this.snap, Date.now())
            this.snap = chain.consensus.apply(this.snap, h)
            this.td += h.difficulty
            this.last = h
            this.headers.set(h.number, h)
            this.headers.delete(h.number - KEPT_BLOCKS - 1n)
            ok++
          }
        } catch (err) {
          this.drop(j.peer, `headers from ${j.from} do not verify: ${errorMessage(err)}`, 'invalid-header')
        }
        if (ok < j.count) break
      }
      this.report()
    }
  }

  /**
   * The pivot's last KEPT_BLOCKS blocks with their bodies (each must be the verified header's,
   * with its transactions root), their senders recovered.
   */
  private async keptBlocks(pivot: BlockHeader): Promise<BlockBundle[]> {
    const { chain, p2p, recovery } = this.deps
    const pivotTd = this.td
    const first = pivot.number > KEPT_BLOCKS ? pivot.number - KEPT_BLOCKS + 1n : 1n
    const blocks: Block[] = []
    let from = first
    let tries = 0
    while (from <= pivot.number) {
      this.checkOpen()
      const peers = this.peers(pivot.number)
      if (peers.length === 0) throw fail(`no peer serves blocks ${from}..${pivot.number}`)
      const peer = peers[tries++ % peers.length]!
      if (tries > 20 * peers.length) throw fail(`no peer served blocks from ${from}`)
      await this.pace(peer)
      const left = pivot.number - from + 1n
      let raw: Uint8Array[]
      try {
        raw = await p2p.requestBlocks(peer, from, Number(left < BigInt(BLOCK_RANGE) ? left : BigInt(BLOCK_RANGE)), { timeoutMs: REQUEST_TIMEOUT_MS })
      } catch (err) {
        log.debug('State sync: blocks request failed', { peer, from, reason: errorMessage(err) })
        continue
      }
      for (const bytes of raw) {
        let b: Block
        try {
          b = chain.decodeBlock(bytes)
          const want = this.headers.get(from)
          if (want === undefined || !equalsBytes(b.hash(), want.hash())) throw new Error(`block ${b.header.number} is not the verified block ${from}`)
          if (!equalsBytes(transactionsRoot(b.transactions), b.header.transactionsTrie)) throw new Error(`block ${from}: the body does not match its transactions root`)
        } catch (err) {
          this.drop(peer, errorMessage(err), 'invalid-block')
          break
        }
        blocks.push(b)
        from++
      }
    }
    // td of each kept block, from the pivot's down.
    const tds = new Map<bigint, bigint>()
    let td = pivotTd
    for (let i = blocks.length - 1; i >= 0; i--) {
      tds.set(blocks[i]!.header.number, td)
      td -= blocks[i]!.header.difficulty
    }
    // Every kept block's senders in one go: the workers then run them all side by side.
    const txs = blocks.flatMap((b) => b.transactions)
    if (txs.length > 0) await recovery.recoverMany(txs)
    return blocks.map((b) => ({ block: b, receipts: [], senders: b.transactions.map((tx) => tx.getSenderAddress()), totalDifficulty: tds.get(b.header.number)! }))
  }

  /** The kept blocks stored, then the pivot (the last of them) made the head, with the consensus snapshot at it. */
  private async adopt(bundles: BlockBundle[], snap: Snapshot): Promise<void> {
    const { chain } = this.deps
    const head = bundles.pop()!
    // Below the pivot, bodies only (no receipts: those blocks were never executed here).
    for (const b of bundles) await chain.store.commit(b, [], 'side')
    await chain.adoptSyncedHead(head, bundles.map((b) => b.block), snap)
  }
}
