import { bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger, errorMessage } from '../../common/index.ts'
import { keccak256 } from '../../common/keccak.ts'
import { isP2PError, P2PErrorCode, type P2P, type PeerIdStr } from '../../p2p/index.ts'
import { SyncError } from './errors.ts'
import { stateKey } from './state-serve.ts'
import { decodeStateResponse, encodeStateRequest, MAX_STATE_ITEMS, MAX_STATE_RESPONSE_BYTES, STATE_FRAME_BYTES, STATE_PROTOCOL, StateItemKind, type StateItem } from './state-wire.ts'
import { trieRefs, type TrieRef } from './trie-refs.ts'

// The trie download of state sync: the pivot's account trie, storage tries and code by hash, from
// every peer at once, each value checked against its hash before anything is built on it.
//
// Crash safety: a node is written only once its whole subtree is in the database (children
// before parents; batches written one after the other, in order), so a stored node always means
// a complete subtree: a restart skips what it finds and fetches the rest, and the root, written
// last, is the proof that the state is complete.

const log = createLogger('state-sync')

/** State requests in flight per peer: answers are checked while the next ones travel (the serving side takes 4 streams per protocol; 3 with 4,096-item requests measured faster than 4 with 8,192 on a loaded machine). */
const IN_FLIGHT_PER_PEER = 3
/** Items per request a server before this version takes. */
const EARLIER_MAX_ITEMS = 384
/** Items of a first request to a peer: what fits an earlier server's 64 KiB request frame. */
const FIRST_MAX_ITEMS = 1984
/** Items a request asks for at least (when there are as many to ask for): the earlier fixed size. */
const MIN_BATCH = 384
/** Downloaded nodes are written in batches of about this many bytes, one batch at a time, while the download goes on. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024

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

/** What the download needs of the state sync around it. */
export interface TrieDownloadContext {
  p2p: P2P
  /** Values of these keys of the trie sublevel (undefined: not stored). */
  read(keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  writer: StateWriter
  /** The peers still in the sync that hold the pivot. */
  peers(): PeerIdStr[]
  isDropped(peer: PeerIdStr): boolean
  drop(peer: PeerIdStr, why: string, penalty?: 'invalid-state'): void
  /** Waits for `peer`'s next request slot. */
  pace(peer: PeerIdStr): Promise<void>
  /** Counted here, reported by `report`. */
  progress: StateProgress
  report(): void
  /** Throws once the node is closing. */
  checkOpen(): void
  requestTimeoutMs: number
  /** After a request failed for no fault of the peer (a timeout, its rate limit), wait this long. */
  retryMs: number
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const keyOf = (r: TrieRef) => stateKey(r.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, r.hash)
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/**
 * Downloads the trie under `root`, stored bottom-up (see the top of this file). Resolves true
 * once the root is stored, or with why not when no peer serves some node of it.
 */
export async function downloadTrie(ctx: TrieDownloadContext, root: Uint8Array): Promise<true | string> {
  const [stored] = await ctx.read([root])
  if (stored !== undefined) return true // a complete state (see the top)
  ctx.writer.pin(root)
  try {
    return await new TrieDownload(ctx).run(root)
  } finally {
    ctx.writer.unpin(root)
  }
}

class TrieDownload {
  private readonly ctx: TrieDownloadContext
  private readonly pending = new Map<string, Task>()
  /** Tasks to ask for: a stack, so the download goes deep first and subtrees complete (and leave memory) early. */
  private readonly queue: Task[] = []
  private buffer: Array<{ key: Uint8Array; value: Uint8Array }> = []
  private bufferBytes = 0
  /** Ids in `buffer` or in a batch being written: complete subtrees, not looked up in the database. */
  private buffered = new Set<string>()
  private readonly writingIds: Array<Set<string>> = []
  /** The batches' writes, one after the other (a parent's batch never lands before its children's). */
  private writing: Promise<void> = Promise.resolve()
  private writeFailure: unknown
  private rootDone = false
  private unavailable: string | undefined
  /**
   * Items per request to each peer. A peer starts at what fits an earlier server's 64 KiB
   * request frame (it would refuse a bigger frame as oversized); one that answers more than
   * EARLIER_MAX_ITEMS is of this version and gets MAX_STATE_ITEMS; an earlier one refuses more
   * than EARLIER_MAX_ITEMS, says so, and is asked for that.
   */
  private readonly itemCap = new Map<PeerIdStr, number>()
  private lastReport = 0
  /** Peers asked for something at least once. */
  private readonly asked = new Set<PeerIdStr>()
  /** Values received and their bytes, for sizing requests (starting from a trie node's typical ~128 bytes). */
  private seenValues = 1
  private seenBytes = 128

  constructor(ctx: TrieDownloadContext) {
    this.ctx = ctx
  }

  async run(root: Uint8Array): Promise<true | string> {
    await this.schedule([{ ref: { kind: 'node', hash: root, trie: 'account' }, parent: undefined }])
    const running = new Map<PeerIdStr, Promise<void>>()
    let failure: unknown
    while (!this.rootDone && this.unavailable === undefined && failure === undefined && this.writeFailure === undefined) {
      this.ctx.checkOpen()
      const peers = this.ctx.peers()
      for (const p of peers) {
        if (running.has(p)) continue
        const loops = Array.from({ length: IN_FLIGHT_PER_PEER }, () => this.worker(p))
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
        this.unavailable = `no peer serves ${STATE_PROTOCOL}`
        break
      }
      // Peers that left or were dropped end their loops; new ones are looked for now and then.
      await Promise.race([...running.values(), sleep(250)])
    }
    await Promise.all(running.values())
    if (failure === undefined) this.flush()
    await this.writing
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure))
    if (this.writeFailure !== undefined) throw this.writeFailure instanceof Error ? this.writeFailure : new Error(String(this.writeFailure))
    this.ctx.report()
    if (this.rootDone) return true
    return this.unavailable ?? 'the download stopped'
  }

  private active(peer: PeerIdStr): boolean {
    return !this.rootDone && this.unavailable === undefined && this.writeFailure === undefined && !this.ctx.isDropped(peer)
  }

  /** One request loop for `peer`: take items off the stack, ask, check, hand on. */
  private async worker(peer: PeerIdStr): Promise<void> {
    while (this.active(peer)) {
      this.ctx.checkOpen()
      const batch = this.take(peer)
      if (batch === undefined) return
      if (batch.length === 0) {
        await sleep(20) // others are in flight; their children come back to the stack
        continue
      }
      await this.ctx.pace(peer)
      let values: Uint8Array[]
      try {
        const frame = await this.ctx.p2p.requestTo(peer, STATE_PROTOCOL, encodeStateRequest(batch.map((t) => t.item)), { timeoutMs: this.ctx.requestTimeoutMs, maxResponseBytes: STATE_FRAME_BYTES })
        values = decodeStateResponse(frame, batch.length)
      } catch (err) {
        this.queue.push(...batch.reverse())
        await this.failed(peer, err)
        continue
      }
      if (batch.length > EARLIER_MAX_ITEMS && this.itemCap.get(peer) === undefined) this.itemCap.set(peer, MAX_STATE_ITEMS)
      await this.answered(peer, batch, values)
    }
  }

  /** Up to the peer's item limit off the stack, skipping what it said it lacks; undefined when no peer has what is left. */
  private take(peer: PeerIdStr): Task[] | undefined {
    // Sized by bytes: about one answer's budget at the value sizes seen so far; and, above
    // MIN_BATCH, no more than a share of the stack per request slot, so a wide frontier is
    // spread over every peer (small requests would make the request rate the limit).
    const fits = Math.ceil(MAX_STATE_RESPONSE_BYTES / Math.max(32, this.seenBytes / this.seenValues))
    const share = Math.ceil(this.queue.length / Math.max(1, this.ctx.peers().length * IN_FLIGHT_PER_PEER))
    let limit = Math.min(this.itemCap.get(peer) ?? FIRST_MAX_ITEMS, fits, Math.max(MIN_BATCH, share))
    // Every peer is asked early on (a liar is found, and the load spread, before the state is
    // done): while some peer of the sync has not been asked yet, one that has takes at most half.
    if (this.asked.has(peer) && this.ctx.peers().some((p) => !this.asked.has(p))) limit = Math.min(limit, Math.floor(this.queue.length / 2))
    const batch: Task[] = []
    const skipped: Task[] = []
    while (batch.length < limit && this.queue.length > 0) {
      const t = this.queue.pop()!
      if (t.lackedBy.has(peer)) skipped.push(t)
      else batch.push(t)
    }
    this.queue.push(...skipped.reverse())
    if (batch.length > 0) this.asked.add(peer)
    if (batch.length === 0 && this.queue.length > 0 && skipped.length === this.queue.length && this.lackedByAll()) {
      this.unavailable = `no peer serves node ${bytesToHex(this.queue[0]!.item.hash)}`
      return undefined
    }
    return batch
  }

  /** Every task left was refused by every peer still in the sync. */
  private lackedByAll(): boolean {
    const peers = this.ctx.peers()
    return this.queue.every((t) => peers.every((p) => t.lackedBy.has(p)))
  }

  private async failed(peer: PeerIdStr, err: unknown): Promise<void> {
    if (isP2PError(err, P2PErrorCode.PROTOCOL_UNSUPPORTED)) return this.ctx.drop(peer, `it does not serve ${STATE_PROTOCOL}`)
    if (isP2PError(err, P2PErrorCode.NOT_CONNECTED) || isP2PError(err, P2PErrorCode.PEER_BANNED)) return this.ctx.drop(peer, errorMessage(err))
    if (err instanceof SyncError) return this.ctx.drop(peer, errorMessage(err), 'invalid-state')
    // A server of an earlier version refuses more items than it takes, and says how many it takes.
    const cap = isP2PError(err, P2PErrorCode.REMOTE_ERROR) ? /at most (\d+) items/.exec(String(err.context?.remoteMessage ?? ''))?.[1] : undefined
    if (cap !== undefined && Number(cap) >= 1 && Number(cap) < (this.itemCap.get(peer) ?? FIRST_MAX_ITEMS)) {
      this.itemCap.set(peer, Number(cap))
      return
    }
    log.debug('State sync: request failed', { peer, reason: errorMessage(err) })
    await sleep(this.ctx.retryMs)
  }

  /**
   * An answer: each value checked against its hash; the good ones are counted, what they point
   * at is looked up in the database in one read and scheduled, and complete subtrees are stored.
   */
  private async answered(peer: PeerIdStr, batch: Task[], values: Uint8Array[]): Promise<void> {
    const again: Task[] = []
    const good: Array<{ task: Task; refs: TrieRef[] }> = []
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
        this.seenValues++
        this.seenBytes += v.length
        try {
          good.push({ task: t, refs: this.accept(t, v) })
        } catch (err) {
          // The hash matched, so these are the bytes someone hashed: the state itself is broken.
          this.unavailable = `node ${bytesToHex(t.item.hash)} is not a trie node: ${errorMessage(err)}`
          return
        }
      }
    }
    this.queue.push(...again.reverse())
    if (bad !== undefined) this.ctx.drop(peer, bad, 'invalid-state')
    await this.schedule(good.flatMap((g) => g.refs.map((ref) => ({ ref, parent: g.task }))))
    // (a task of this answer may have been completed already, as the parent of another one)
    for (const g of good) if (g.task.missing === 0 && this.pending.has(g.task.id)) this.complete(g.task)
    if (this.bufferBytes >= WRITE_BATCH_BYTES) this.flush()
    // Writes run behind the download, but no further than one batch behind (memory stays bounded).
    if (this.writingIds.length > 1) await this.writing
    if (Date.now() - this.lastReport > 500) {
      this.lastReport = Date.now()
      this.ctx.report()
    }
  }

  /** A verified value: counted, its references returned. */
  private accept(t: Task, value: Uint8Array): TrieRef[] {
    const p = this.ctx.progress
    if (t.item.kind === StateItemKind.CODE) {
      t.value = value
      p.syncedBytecodes++
      p.syncedBytecodeBytes += value.length
      return []
    }
    const found = trieRefs(value, t.trie!)
    t.value = value
    if (t.trie === 'account') {
      p.syncedAccountBytes += value.length
      p.syncedAccounts += found.leaves
    } else {
      p.syncedStorageBytes += value.length
      p.syncedStorage += found.leaves
    }
    return found.refs
  }

  private known(id: string): boolean {
    return this.buffered.has(id) || this.writingIds.some((s) => s.has(id))
  }

  /** Tasks for the refs not stored yet (one database read for all of them); each makes its parent wait for it. */
  private async schedule(refs: Array<{ ref: TrieRef; parent: Task | undefined }>): Promise<void> {
    const ids = refs.map((r) => hex(keyOf(r.ref)))
    const look = refs.flatMap((r, i) => (this.known(ids[i]!) || this.pending.has(ids[i]!) ? [] : [i]))
    const found = look.length === 0 ? [] : await this.ctx.read(look.map((i) => keyOf(refs[i]!.ref)))
    const present = new Set(look.filter((_, j) => found[j] !== undefined))
    const p = this.ctx.progress
    for (const [i, { ref, parent }] of refs.entries()) {
      const id = ids[i]!
      if (present.has(i) || this.known(id)) continue
      const pending = this.pending.get(id)
      if (pending !== undefined) {
        if (parent !== undefined) {
          pending.parents.push(parent)
          parent.missing++
        }
        continue
      }
      const t: Task = { id, item: { kind: ref.kind === 'code' ? StateItemKind.CODE : StateItemKind.NODE, hash: ref.hash }, trie: ref.kind === 'node' ? ref.trie : undefined, parents: parent === undefined ? [] : [parent], missing: 0, lackedBy: new Set() }
      if (parent !== undefined) parent.missing++
      this.pending.set(id, t)
      this.queue.push(t)
      if (t.item.kind === StateItemKind.CODE) p.healingBytecode++
      else p.healingTrienodes++
    }
  }

  /** `t` and its whole subtree are downloaded: into the write buffer, and so may its parents be. */
  private complete(first: Task): void {
    const p = this.ctx.progress
    const stack = [first]
    while (stack.length > 0) {
      const t = stack.pop()!
      this.pending.delete(t.id)
      this.buffer.push({ key: stateKey(t.item.kind, t.item.hash), value: t.value! })
      this.bufferBytes += t.value!.length + 33
      this.buffered.add(t.id)
      t.value = undefined
      if (t.item.kind === StateItemKind.CODE) p.healingBytecode--
      else p.healingTrienodes--
      if (t.parents.length === 0) this.rootDone = true
      for (const parent of t.parents) if (--parent.missing === 0 && parent.value !== undefined) stack.push(parent)
    }
  }

  /** Starts writing the buffer (after the batches before it). */
  private flush(): void {
    if (this.buffer.length === 0) return
    const nodes = this.buffer
    const ids = this.buffered
    this.buffer = []
    this.bufferBytes = 0
    this.buffered = new Set()
    this.writingIds.push(ids)
    this.writing = this.writing.then(async () => {
      if (this.writeFailure !== undefined) return
      try {
        await this.ctx.writer.write(nodes)
      } catch (err) {
        this.writeFailure = err
      } finally {
        this.writingIds.splice(this.writingIds.indexOf(ids), 1)
      }
    })
  }
}
