import { createBlockHeaderFromRLP, type Block, type BlockHeader } from '@ethereumjs/block'
import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../../common/index.ts'
import { keccak256 } from '../../common/keccak.ts'
import type { Snapshot } from '../../consensus/index.ts'
import { transactionsRoot } from '../../evm/index.ts'
import { isP2PError, P2PErrorCode, type P2P, type PeerIdStr } from '../../p2p/index.ts'
import type { BlockBundle, Chain } from '../chain/index.ts'
import type { SenderRecovery } from '../mempool/index.ts'
import { SyncError, SyncErrorCode } from './errors.ts'
import { stateKey } from './state-serve.ts'
import { decodeStateResponse, encodeStateRequest, MAX_STATE_ITEMS, STATE_FRAME_BYTES, STATE_PROTOCOL, StateItemKind, type StateItem } from './state-wire.ts'
import { trieRefs, type TrieRef } from './trie-refs.ts'

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
/** Per-peer spacing of our requests: under the serving side's 20/s rate limit, so no honest sync earns a rate-limit penalty. */
const REQUEST_SPACING_MS = 70
/** State requests in flight per peer. */
const IN_FLIGHT_PER_PEER = 2
const REQUEST_TIMEOUT_MS = 10_000
/** Downloaded nodes are written in batches of about this many bytes. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024
/** Pivots tried before giving up (the first one's state may be pruned by the time the download ends). */
const MAX_PIVOTS = 3

/** eth_syncing's state-sync fields (geth's names). */
export interface StateProgress {
  pivot: bigint
  syncedAccounts: number
  syncedAccountBytes: number
  syncedBytecodes: number
  syncedBytecodeBytes: number
  syncedStorage: number
  syncedStorageBytes: number
  /** Trie nodes and code asked for and not yet stored. */
  healingTrienodes: number
  healingBytecode: number
}

/** Writes downloaded nodes (key: node hash, or 'c' + code hash) into the trie sublevel; `pin` keeps a root from a pruner meanwhile. */
export interface StateWriter {
  write(nodes: Array<{ key: Uint8Array; value: Uint8Array }>): Promise<void>
  pin(root: Uint8Array): void
  unpin(root: Uint8Array): void
}

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
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
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

/** A trie node or code being fetched, or waiting for its subtree. */
interface Task {
  id: string
  item: StateItem
  /** Which trie a node belongs to (code: undefined). */
  trie: 'account' | 'storage' | undefined
  parents: Task[]
  /** Children not yet stored. */
  missing: number
  value?: Uint8Array
  /** Peers that answered they lack it. */
  lackedBy: Set<PeerIdStr>
}

class StateSync {
  private readonly deps: StateSyncDeps
  private readonly nextAt = new Map<PeerIdStr, number>()
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
      const done = await this.downloadState(header.stateRoot)
      if (done !== true) {
        if (this.peers(pivot).length === 0) return { kind: 'fallback', reason: done }
        log.warn('State sync: no peer serves the pivot state any more; trying a newer pivot', { pivot, reason: done })
        continue
      }
      await this.adopt(header)
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

  /** Waits for this peer's next request slot (our own pacing, under its rate limit). */
  private async pace(peer: PeerIdStr): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.nextAt.get(peer) ?? 0)
    this.nextAt.set(peer, at + REQUEST_SPACING_MS)
    if (at > now) await sleep(at - now)
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
   * Downloads the trie under `root`, bottom-up stored (see the top of this file). Resolves true
   * once the root is stored, or with why not when no peer serves some node of it.
   */
  private async downloadState(root: Uint8Array): Promise<true | string> {
    const { chain, writer } = this.deps
    const pending = new Map<string, Task>()
    const queue: Task[] = []
    let buffer: Array<{ key: Uint8Array; value: Uint8Array }> = []
    let bufferBytes = 0
    /** Stored or about to be (in the buffer): a complete subtree. */
    const buffered = new Set<string>()
    let rootDone = false
    let unavailable: string | undefined

    const flush = async () => {
      if (buffer.length === 0) return
      const nodes = buffer
      buffer = []
      bufferBytes = 0
      await writer.write(nodes)
      buffered.clear()
    }
    const complete = (t: Task) => {
      pending.delete(t.id)
      buffer.push({ key: stateKey(t.item.kind, t.item.hash), value: t.value! })
      bufferBytes += t.value!.length + 33
      buffered.add(t.id)
      if (t.item.kind === StateItemKind.CODE) this.progress.healingBytecode--
      else this.progress.healingTrienodes--
      if (t.parents.length === 0) rootDone = true
      for (const p of t.parents) if (--p.missing === 0 && p.value !== undefined) complete(p)
    }
    /** Tasks for the refs not stored yet; each makes `parent` wait for it. */
    const schedule = async (refs: TrieRef[], parent: Task | undefined) => {
      const ids = refs.map((r) => hex(stateKey(r.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, r.hash)))
      const present = await Promise.all(refs.map((r, i) => (buffered.has(ids[i]!) || pending.has(ids[i]!) ? undefined : chain.store.state.get(stateKey(r.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, r.hash)))))
      for (const [i, r] of refs.entries()) {
        const id = ids[i]!
        if (buffered.has(id) || present[i] !== undefined) continue
        const known = pending.get(id)
        if (known !== undefined) {
          if (parent !== undefined) {
            known.parents.push(parent)
            parent.missing++
          }
          continue
        }
        const t: Task = { id, item: { kind: r.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, hash: r.hash }, trie: r.kind === 'node' ? r.trie : undefined, parents: parent === undefined ? [] : [parent], missing: 0, lackedBy: new Set() }
        if (parent !== undefined) parent.missing++
        pending.set(id, t)
        queue.push(t)
        if (t.item.kind === StateItemKind.CODE) this.progress.healingBytecode++
        else this.progress.healingTrienodes++
      }
    }
    /** A verified value arrived: count it, schedule what it points at, store it when nothing is missing. */
    const received = async (t: Task, value: Uint8Array) => {
      t.value = value
      let refs: TrieRef[] = []
      if (t.item.kind === StateItemKind.CODE) {
        this.progress.syncedBytecodes++
        this.progress.syncedBytecodeBytes += value.length
      } else {
        const found = trieRefs(value, t.trie!)
        refs = found.refs
        if (t.trie === 'account') {
          this.progress.syncedAccountBytes += value.length
          this.progress.syncedAccounts += found.leaves
        } else {
          this.progress.syncedStorageBytes += value.length
          this.progress.syncedStorage += found.leaves
        }
      }
      await schedule(refs, t)
      if (t.missing === 0) complete(t)
      if (bufferBytes >= WRITE_BATCH_BYTES) await flush()
    }

    if (await chain.store.state.get(root)) return true // stored already: a complete state (see the top)
    writer.pin(root)
    try {
      await schedule([{ kind: 'node', hash: root, trie: 'account' }], undefined)
      let lastReport = 0
      /** One peer's loop: take items off the stack, ask, check, hand on. */
      const worker = async (peer: PeerIdStr) => {
        while (!rootDone && unavailable === undefined && !this.dropped.has(peer)) {
          this.checkOpen()
          const batch: Task[] = []
          const skipped: Task[] = []
          while (batch.length < MAX_STATE_ITEMS && queue.length > 0) {
            const t = queue.pop()!
            if (t.lackedBy.has(peer)) skipped.push(t)
            else batch.push(t)
          }
          queue.push(...skipped.reverse())
          if (batch.length === 0) {
            if (queue.length > 0 && skipped.length === queue.length && this.lackedByAll(queue)) {
              unavailable = `no peer serves node ${bytesToHex(queue[0]!.item.hash)}`
              return
            }
            await sleep(20) // others are in flight; their children come back to the stack
            continue
          }
          await this.pace(peer)
          let values: Uint8Array[]
          try {
            const frame = await this.deps.p2p.requestTo(peer, STATE_PROTOCOL, encodeStateRequest(batch.map((t) => t.item)), { timeoutMs: REQUEST_TIMEOUT_MS, maxResponseBytes: STATE_FRAME_BYTES })
            values = decodeStateResponse(frame, batch.length)
          } catch (err) {
            queue.push(...batch.reverse())
            if (isP2PError(err, P2PErrorCode.PROTOCOL_UNSUPPORTED)) this.drop(peer, `it does not serve ${STATE_PROTOCOL}`)
            else if (isP2PError(err, P2PErrorCode.NOT_CONNECTED) || isP2PError(err, P2PErrorCode.PEER_BANNED)) this.drop(peer, errorMessage(err))
            else if (err instanceof SyncError) this.drop(peer, errorMessage(err), 'invalid-state')
            else {
              log.debug('State sync: request failed', { peer, reason: errorMessage(err) })
              await sleep(500)
            }
            continue
          }
          const again: Task[] = []
          let bad: string | undefined
          for (const [i, t] of batch.entries()) {
            const v = values[i]
            if (v === undefined) {
              again.push(t) // past the answer's byte budget: ask again
            } else if (v.length === 0) {
              t.lackedBy.add(peer)
              again.push(t)
            } else if (bad !== undefined || !equalsBytes(keccak256(v), t.item.hash)) {
              bad ??= `its value for ${bytesToHex(t.item.hash)} hashes to ${bytesToHex(keccak256(v))}`
              again.push(t)
            } else {
              try {
                await received(t, v)
              } catch (err) {
                // The hash matched, so these are the bytes someone hashed: the state itself is broken.
                unavailable = `node ${bytesToHex(t.item.hash)} is not a trie node: ${errorMessage(err)}`
                return
              }
            }
          }
          queue.push(...again.reverse())
          if (bad !== undefined) this.drop(peer, bad, 'invalid-state')
          if (Date.now() - lastReport > 500) {
            lastReport = Date.now()
            this.report()
          }
        }
      }
      const running = new Map<PeerIdStr, Promise<void>>()
      let failure: unknown
      while (!rootDone && unavailable === undefined && failure === undefined) {
        this.checkOpen()
        const peers = this.peers(this.progress.pivot)
        for (const p of peers) {
          if (running.has(p)) continue
          const loops = Array.from({ length: IN_FLIGHT_PER_PEER }, () => worker(p))
          running.set(
            p,
            Promise.all(loops)
              .then(
                () => undefined,
                (err: unknown) => {
                  failure ??= err
                },
              )
              .finally(() => running.delete(p)),
          )
        }
        if (peers.length === 0 && running.size === 0) {
          unavailable = `no peer serves ${STATE_PROTOCOL}`
          break
        }
        // Peers that left or were dropped end their loops; new ones are looked for now and then.
        await Promise.race([...running.values(), sleep(250)])
      }
      await Promise.all(running.values())
      if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure))
      await flush()
      this.report()
      if (rootDone) return true
      return unavailable ?? 'the download stopped'
    } finally {
      writer.unpin(root)
    }
  }

  /** Every task of `tasks` was refused by every peer still in the sync. */
  private lackedByAll(tasks: Task[]): boolean {
    const peers = this.peers(this.progress.pivot)
    return tasks.every((t) => peers.every((p) => t.lackedBy.has(p)))
  }

  /**
   * The pivot's last KEPT_BLOCKS blocks with their bodies (each must be the verified header's,
   * with its transactions root), their senders recovered; stored, then the pivot becomes the head.
   */
  private async adopt(pivot: BlockHeader): Promise<void> {
    const { chain, p2p, recovery } = this.deps
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
    let td = this.td
    for (let i = blocks.length - 1; i >= 0; i--) {
      tds.set(blocks[i]!.header.number, td)
      td -= blocks[i]!.header.difficulty
    }
    const bundles: BlockBundle[] = []
    for (const b of blocks) {
      if (b.transactions.length > 0) await recovery.recoverMany(b.transactions)
      bundles.push({ block: b, receipts: [], senders: b.transactions.map((tx) => tx.getSenderAddress()), totalDifficulty: tds.get(b.header.number)! })
    }
    const head = bundles.pop()!
    // Below the pivot, bodies only (no receipts: those blocks were never executed here).
    for (const b of bundles) await chain.store.commit(b, [], 'side')
    await chain.adoptSyncedHead(head, bundles.map((b) => b.block), this.snap)
  }
}
