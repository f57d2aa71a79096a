import { createBlockFromRLP, type Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { Address, bytesToHex } from '@ethereumjs/util'
import { open as openFile, readFile, type FileHandle } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { Packr } from 'msgpackr'
import { errorCode } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { TrieWriteLog, createDecodeCommon, writeTrieNodes, type PendingWrite, type TrieNode } from '../../evm/index.ts'
import type { ChainError } from './errors.ts'
import { openFault, storageFault } from './storage-fault.ts'
import type { BlockBundle, StoredReceipt } from './types.ts'

/**
 * LevelDB layout (one database, sublevels by purpose):
 *   b  block hash            → block RLP (standard Ethereum encoding)
 *   r  block hash            → msgpack { receipts, senders, td } (node-private, never hashed)
 *   n  number (8 bytes BE)   → canonical block hash
 *   t  transaction hash      → msgpack [block hash, index]
 *   m  "head"                → head block hash
 *   s  trie node key         → trie node (the Merkle Patricia state)
 *   p  block hash            → consensus snapshot after that block (JSON; saved periodically)
 *   h  number ‖ block hash   → the block's state root, for every stored block (canonical or side):
 *                              the roots the state pruner keeps (prune.ts), found by one range read
 * Blocks of side chains are stored too (b, r and their state), but only canonical blocks have
 * number (n) and transaction index (t) entries; a reorg rewrites those in the same batch.
 * A block, its receipts, index entries, its state nodes and the new head are written in one
 * atomic batch: after any crash the head is a complete block with all of its state.
 *
 * Beside LevelDB's own files, ACKED_HEAD holds the last head this process made visible (number,
 * 8 bytes BE, and hash), overwritten in place after each batch and before the head is announced:
 * a restart that recovers a lower head than that knows it lost acknowledged blocks (see
 * Chain.open). A failed write of any kind is fatal (storage-fault.ts).
 */
interface Sub {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
}
type BatchOp =
  | { type: 'put'; sublevel: Sub; key: Uint8Array; value: Uint8Array }
  | { type: 'del'; sublevel: Sub; key: Uint8Array }

/**
 * Sublevels the call workers read (evm/call-worker.ts): state trie nodes, and canonical hashes for
 * BLOCKHASH (keys: block number, 8 bytes big-endian).
 */
export const CALL_SUBLEVELS = { state: 's', canonical: 'n' } as const

/** Chain databases this process has open (see open). */
const openPaths = new Set<string>()

const log = createLogger('chain')
/** In the database directory; LevelDB leaves files whose names it does not know alone. */
const ACKED_HEAD_FILE = 'ACKED_HEAD'
const ACKED_HEAD_SIZE = 40

/** The head this node last acknowledged (ACKED_HEAD), as read at open. */
export interface AckedHead {
  number: bigint
  hash: Uint8Array
}

export interface StoreOpenOptions {
  /** Run LevelDB's repair on the directory before opening (`--db.repair`: only when the operator asks). */
  repair?: boolean
}

const packr = new Packr({ useRecords: false, useBigIntExtension: true } as ConstructorParameters<typeof Packr>[0])
const HEAD_KEY = new TextEncoder().encode('head')
const CONFIG_KEY = new TextEncoder().encode('config')

interface BodyExtra {
  receipts: StoredReceipt[]
  senders: Uint8Array[]
  td: bigint
}

function numberKey(n: bigint): Uint8Array {
  const k = new Uint8Array(8)
  new DataView(k.buffer).setBigUint64(0, n)
  return k
}

/** How a committed block changes the canonical chain. */
export interface CanonicalUpdate {
  /** Blocks that become canonical, ascending; the last one is the new head. */
  add: Block[]
  /** Blocks that stop being canonical (a reorg's old branch). */
  remove: Block[]
}

export interface TxLocation {
  blockHash: Uint8Array
  index: number
}

/** A block's state root as indexed under 'h'. */
export interface StateRootEntry {
  number: bigint
  hash: Uint8Array
  root: Uint8Array
}

/** What the pruner and raw trie writes use of a bytes sublevel (abstract-level's methods). */
interface BytesSublevel extends Sub {
  getMany(keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  keys(opts?: { gte?: Uint8Array; lt?: Uint8Array }): AsyncIterable<Uint8Array>
  iterator(opts?: { gte?: Uint8Array; lt?: Uint8Array }): AsyncIterable<[Uint8Array, Uint8Array]>
  batch(ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array }>): Promise<void>
}

export class ChainStore {
  readonly db: Level<Uint8Array, Uint8Array>
  /** The database directory (absolute): the call workers open it too. */
  readonly location: string
  readonly state: Sub
  /** Trie writes while a prune cycle runs, and the order of trie writes and prune deletes (state-db.ts). */
  readonly trieWrites = new TrieWriteLog()
  private readonly stateLevel: BytesSublevel
  private readonly roots: BytesSublevel
  private readonly blocks: Sub
  private readonly extras: Sub
  private readonly canonical: Sub
  private readonly txIndex: Sub
  private readonly meta: Sub
  private readonly snapshots: Sub
  /** Decodes stored and received blocks and transactions (evm's createDecodeCommon). */
  readonly decodeCommon: Common
  /** Recently used bundles by hash: RPC asks for the same few blocks over and over. */
  private readonly cache = new Map<string, BlockBundle>()
  private static readonly CACHE_SIZE = 512
  /** Hashes of the blocks this process wrote, oldest first (see wroteRecently). */
  private readonly written = new Set<string>()
  private static readonly WRITTEN_SIZE = 4096
  /** Each block's RLP, kept from its arrival or first encoding: the commit and the gossip reuse it. */
  private readonly encodings = new WeakMap<Block, Uint8Array>()
  /** The first failed write: every later write is refused with it (the handle is never written again). */
  private failure: ChainError | undefined
  /** Told once, at the first failed write (the Chain turns it into its 'fatal' event). */
  onFault: ((err: ChainError) => void) | undefined
  private readonly ackFile: FileHandle
  /** ACKED_HEAD as found at open (undefined: a database from before it existed, or a new one). */
  readonly ackedAtOpen: AckedHead | undefined
  /** Lines of LevelDB's LOG from this open that report dropped or corrupt data (recovery of a torn log). */
  readonly recoveryProblems: string[]

  private constructor(db: Level<Uint8Array, Uint8Array>, common: Common, location: string, ack: { file: FileHandle; atOpen: AckedHead | undefined }, problems: string[]) {
    this.db = db
    this.location = location
    this.ackFile = ack.file
    this.ackedAtOpen = ack.atOpen
    this.recoveryProblems = problems
    this.decodeCommon = createDecodeCommon(common)
    const sub = (name: string): Sub => db.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
    this.blocks = sub('b')
    this.extras = sub('r')
    this.canonical = sub(CALL_SUBLEVELS.canonical)
    this.txIndex = sub('t')
    this.meta = sub('m')
    this.stateLevel = db.sublevel<Uint8Array, Uint8Array>(CALL_SUBLEVELS.state, { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as BytesSublevel
    this.state = this.stateLevel
    this.roots = db.sublevel<Uint8Array, Uint8Array>('h', { keyEncoding: 'view', valueEncoding: 'view' }) as unknown as BytesSublevel
    this.snapshots = sub('p')
  }

  static async open(path: string, common: Common, opts: StoreOpenOptions = {}): Promise<ChainStore> {
    // `multithreading`: the call workers open this same database from their threads (classic-level
    // shares one LevelDB handle per path within the process; every opener must pass the option).
    // LevelDB's file lock still keeps other processes out, but no longer a second open in this
    // one, so refuse that here as the lock would (node.ts reports it as "data dir in use").
    const location = resolve(path)
    if (openPaths.has(location)) {
      throw Object.assign(new Error('Database failed to open', { cause: new Error(`IO error: lock ${location}/LOCK: already held by this process`) }), { code: 'LEVEL_DATABASE_NOT_OPEN' })
    }
    if (opts.repair === true) {
      log.warn('Repairing the chain database (--db.repair): LevelDB keeps what it can read and drops the rest', { location })
      try {
        // level's Level is classic-level's ClassicLevel in Node, whose static repair its types omit.
        await (Level as unknown as { repair(location: string): Promise<void> }).repair(location)
      } catch (err) {
        throw openFault(err, location)
      }
    }
    const db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view', multithreading: true })
    try {
      await db.open()
    } catch (err) {
      throw openFault(err, location)
    }
    openPaths.add(location)
    try {
      const ack = await openAckedHead(location)
      return new ChainStore(db, common, location, ack, await recoveryProblems(location))
    } catch (err) {
      await db.close()
      openPaths.delete(location)
      throw storageFault(err, location, `opening ${ACKED_HEAD_FILE}`)
    }
  }

  async close(): Promise<void> {
    await this.ackFile.close().catch(() => {})
    await this.db.close()
    openPaths.delete(this.location)
  }

  /** The fatal write error, once one happened (then every write is refused). */
  get fault(): ChainError | undefined {
    return this.failure
  }

  /**
   * Every write to the database goes through here: after one failure no other write reaches
   * LevelDB (storage-fault.ts says why), and the first failure is reported once.
   */
  private async write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.failure !== undefined) throw this.failure
    try {
      return await fn()
    } catch (err) {
      // Another write may have failed while this one waited (the getter: TS narrowed the field above).
      const earlier = this.fault
      if (earlier !== undefined) throw earlier
      this.failure = storageFault(err, this.location, what)
      this.onFault?.(this.failure)
      throw this.failure
    }
  }

  async headHash(): Promise<Uint8Array | undefined> {
    return this.meta.get(HEAD_KEY)
  }

  /** Chain parameters that the genesis hash does not cover (chain id, period, epoch). */
  async chainConfig(): Promise<Record<string, unknown> | undefined> {
    const v = await this.meta.get(CONFIG_KEY)
    return v === undefined ? undefined : (packr.unpack(v) as Record<string, unknown>)
  }

  async putChainConfig(config: Record<string, unknown>): Promise<void> {
    await this.write('writing the chain config', () => (this.meta as unknown as { put(k: Uint8Array, v: Uint8Array): Promise<void> }).put(CONFIG_KEY, packr.pack(config)))
  }

  async canonicalHash(n: bigint): Promise<Uint8Array | undefined> {
    return this.canonical.get(numberKey(n))
  }

  async txLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    const v = await this.txIndex.get(hash)
    if (v === undefined) return undefined
    const [blockHash, index] = packr.unpack(v) as [Uint8Array, number]
    return { blockHash: new Uint8Array(blockHash), index }
  }

  async bundle(hash: Uint8Array): Promise<BlockBundle | undefined> {
    const key = bytesToHex(hash)
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit
    const [raw, extraRaw] = await Promise.all([this.blocks.get(hash), this.extras.get(hash)])
    if (raw === undefined || extraRaw === undefined) return undefined
    const block = this.decodeBlock(raw)
    this.encodings.set(block, raw) // stored bytes are encodeBlock's own
    const extra = packr.unpack(extraRaw) as BodyExtra
    const bundle: BlockBundle = {
      block,
      receipts: extra.receipts.map(reviveReceipt),
      senders: extra.senders.map((s) => new Address(new Uint8Array(s))),
      totalDifficulty: extra.td,
    }
    this.remember(key, bundle)
    return bundle
  }

  private remember(key: string, bundle: BlockBundle): void {
    if (this.cache.size >= ChainStore.CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string)
    this.cache.set(key, bundle)
  }

  async snapshot(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.snapshots.get(hash)
  }

  async putSnapshot(hash: Uint8Array, bytes: Uint8Array): Promise<void> {
    await this.write('writing a consensus snapshot', () => (this.snapshots as unknown as { put(k: Uint8Array, v: Uint8Array): Promise<void> }).put(hash, bytes))
  }

  async hasBlock(hash: Uint8Array): Promise<boolean> {
    return this.wroteRecently(hash) || (await this.blocks.get(hash)) !== undefined
  }

  /**
   * Whether this process wrote the block (one of the last 4,096) or holds it in its cache: an
   * answer from memory, for checks that must not wait for a LevelDB read. False is not "absent".
   */
  wroteRecently(hash: Uint8Array): boolean {
    const key = bytesToHex(hash)
    return this.written.has(key) || this.cache.has(key)
  }

  /**
   * Writes a block with its state writes in one batch and moves the canonical chain in the same
   * batch: `'head'` makes the block the new head, a CanonicalUpdate applies a whole reorg, and
   * `'side'` stores the block on a side chain without touching the canonical one.
   */
  async commit(bundle: BlockBundle, stateWrites: PendingWrite[], placement: 'head' | 'side' | CanonicalUpdate = 'head'): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    const canon = placement === 'side' ? undefined : placement === 'head' ? { add: [bundle.block], remove: [] } : placement
    const { block } = bundle
    const hash = block.hash()
    const ops: BatchOp[] = []
    const put = (sublevel: Sub, key: Uint8Array, value: Uint8Array) => ops.push({ type: 'put', sublevel, key, value })
    for (const w of stateWrites) {
      if (w.value === undefined) ops.push({ type: 'del', sublevel: this.state, key: w.key })
      else put(this.state, w.key, w.value)
    }
    put(this.blocks, hash, this.encodeBlock(block))
    put(this.roots, rootKey(block.header.number, hash), block.header.stateRoot)
    const extra: BodyExtra = {
      receipts: bundle.receipts,
      senders: bundle.senders.map((s) => s.bytes),
      td: bundle.totalDifficulty,
    }
    put(this.extras, hash, packr.pack(extra))
    if (canon !== undefined && canon.add.length > 0) {
      const head = canon.add[canon.add.length - 1]!
      for (const old of canon.remove) {
        for (const tx of old.transactions) ops.push({ type: 'del', sublevel: this.txIndex, key: tx.hash() })
        if (old.header.number > head.header.number) ops.push({ type: 'del', sublevel: this.canonical, key: numberKey(old.header.number) })
      }
      for (const b of canon.add) {
        const h = b.hash()
        for (const [i, tx] of b.transactions.entries()) put(this.txIndex, tx.hash(), packr.pack([h, i]))
        put(this.canonical, numberKey(b.header.number), h)
      }
      put(this.meta, HEAD_KEY, head.hash())
    }
    // Sublevels of this database, so LevelDB applies the whole list atomically. In the trie
    // log's order, recorded first: a prune sweep never deletes a node this block (re)writes.
    await this.trieWrites.exclusive(() => {
      this.trieWrites.record(stateWrites.map((w) => w.key))
      return this.write(`writing block ${block.header.number}`, () => (this.db.batch as unknown as (ops: BatchOp[]) => Promise<void>).call(this.db, ops))
    })
    if (canon !== undefined && canon.add.length > 0) await this.write('recording the acknowledged head', () => this.recordAcked(canon.add[canon.add.length - 1]!))
    const key = bytesToHex(hash)
    this.remember(key, bundle)
    this.written.add(key)
    if (this.written.size > ChainStore.WRITTEN_SIZE) this.written.delete(this.written.values().next().value as string)
  }

  // ---- state pruning (prune.ts) and raw trie writes (state sync) ----

  /** Stored blocks' state roots from block `from` up (every branch), ascending by number. */
  async *stateRoots(from: bigint, below?: bigint): AsyncGenerator<StateRootEntry> {
    const range = below === undefined ? { gte: numberKey(from) } : { gte: numberKey(from), lt: numberKey(below) }
    for await (const [k, v] of this.roots.iterator(range)) {
      yield { number: new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0), hash: k.slice(8), root: v }
    }
  }

  /** Trie sublevel entries, many at once (the pruner's mark phase). */
  readStateNodes(keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return this.stateLevel.getMany(keys)
  }

  /** Every key of the trie sublevel, in key order (the pruner's sweep; a snapshot of the moment it starts). */
  stateKeys(): AsyncIterable<Uint8Array> {
    return this.stateLevel.keys()
  }

  /**
   * Deletes trie entries the pruner found dead, except any written since its cycle began
   * (checked in the trie log's order, so no write can slip in between). Resolves the deleted keys.
   */
  deleteStateNodes(keys: Uint8Array[], rootsBelow?: bigint): Promise<Uint8Array[]> {
    return this.trieWrites.exclusive(async () => {
      const dead = keys.filter((k) => !this.trieWrites.wrote(k))
      const ops: BatchOp[] = dead.map((key) => ({ type: 'del', sublevel: this.stateLevel, key }))
      if (rootsBelow !== undefined && rootsBelow > 0n) {
        for await (const e of this.stateRoots(0n, rootsBelow)) ops.push({ type: 'del', sublevel: this.roots, key: rootKey(e.number, e.hash) })
      }
      if (ops.length > 0) await this.write('deleting pruned state', () => (this.db.batch as unknown as (ops: BatchOp[]) => Promise<void>).call(this.db, ops))
      return dead
    })
  }

  /** Trie sublevel values of `keys` in one read (state sync's lookups and its serving side). */
  readState(keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return this.stateLevel.getMany(keys)
  }

  /**
   * Writes raw trie nodes and code (state sync: key = the node's keccak hash, or 'c' + code
   * hash for code), outside any block. They count as live for a prune cycle running meanwhile;
   * pin the download's root in `trieWrites.pinned` (hex) while it runs across cycles.
   */
  writeTrieNodes(nodes: TrieNode[]): Promise<void> {
    return this.write('writing downloaded state', () => writeTrieNodes(this.stateLevel, this.trieWrites, nodes))
  }

  /** Overwrites ACKED_HEAD in place (same size every time: no new space needed on a full disk). */
  private async recordAcked(head: Block): Promise<void> {
    const buf = new Uint8Array(ACKED_HEAD_SIZE)
    new DataView(buf.buffer).setBigUint64(0, head.header.number)
    buf.set(head.hash(), 8)
    await this.ackFile.write(buf, 0, ACKED_HEAD_SIZE, 0)
  }

  /** Stored block RLP, for re-execution and (later) serving peers. */
  async blockRlp(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.blocks.get(hash)
  }

  /** A block from its RLP (stored, gossiped or synced), decoded with the shared decode Common. */
  decodeBlock(raw: Uint8Array): Block {
    return createBlockFromRLP(raw, { common: this.decodeCommon, setHardfork: false })
  }

  /** The block's RLP, encoded once per block object. */
  encodeBlock(block: Block): Uint8Array {
    let bytes = this.encodings.get(block)
    if (bytes === undefined) {
      bytes = block.serialize()
      this.encodings.set(block, bytes)
    }
    return bytes
  }

  /** Records `bytes` as `block`'s RLP: only for bytes known to be its canonical encoding. */
  adoptEncoding(block: Block, bytes: Uint8Array): void {
    this.encodings.set(block, bytes)
  }
}

function rootKey(n: bigint, hash: Uint8Array): Uint8Array {
  const k = new Uint8Array(40)
  k.set(numberKey(n), 0)
  k.set(hash, 8)
  return k
}

/** Opens (creating) DIR/ACKED_HEAD for in-place writes and reads what it held. */
async function openAckedHead(location: string): Promise<{ file: FileHandle; atOpen: AckedHead | undefined }> {
  const path = join(location, ACKED_HEAD_FILE)
  // 'r+' writes in place (append mode would ignore the position); 'w+' only to create it.
  const file = await openFile(path, 'r+').catch((err: unknown) => {
    if (errorCode(err) === 'ENOENT') return openFile(path, 'w+')
    throw err
  })
  const buf = new Uint8Array(ACKED_HEAD_SIZE)
  const { bytesRead } = await file.read(buf, 0, ACKED_HEAD_SIZE, 0)
  const atOpen = bytesRead === ACKED_HEAD_SIZE ? { number: new DataView(buf.buffer).getBigUint64(0), hash: buf.slice(8) } : undefined
  return { file, atOpen }
}

/**
 * LevelDB writes its recovery to DIR/LOG at each open (the previous one becomes LOG.old); a
 * dropped or corrupt log record shows there and nowhere else.
 */
async function recoveryProblems(location: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(join(location, 'LOG'), 'utf8')
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return []
    throw err
  }
  return text.split('\n').filter((l) => /corruption|dropping \d+ bytes/i.test(l)).slice(0, 20)
}

/** msgpack hands back Buffers and plain objects; give them the exact stored shape. */
function reviveReceipt(r: StoredReceipt): StoredReceipt {
  const u = (b: Uint8Array) => new Uint8Array(b)
  return {
    status: r.status,
    cumulativeGasUsed: BigInt(r.cumulativeGasUsed),
    gasUsed: BigInt(r.gasUsed),
    logsBloom: u(r.logsBloom),
    logs: r.logs.map(([a, topics, data]) => [u(a), topics.map(u), u(data)]),
    contractAddress: r.contractAddress == null ? undefined : u(r.contractAddress),
    effectiveGasPrice: BigInt(r.effectiveGasPrice),
  }
}
