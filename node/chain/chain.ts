import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { createBlock, type Block, type BlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import type { TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, equalsBytes } from '@ethereumjs/util'
import { errorCode, errorMessage, isCodedError } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { AUTHORITY_SET_ADDRESS, authoritySetDeployedBytecode } from '../../contracts/index.ts'
import { createConsensus, type Consensus, type ConsensusConfig, type SealFields, type Snapshot } from '../../consensus/index.ts'
import { DEFAULT_FORK, Executor, TrieLevelAdapter, createChainCommon, type ExecutionContext } from '../../evm/index.ts'
import type { Genesis } from '../genesis/index.ts'
import { parseBlockBytes, type BlockBytes } from './block-bytes.ts'
import { buildOnHead, commitPending, type BuildOptions, type PendingBlock, type ProduceOptions } from './build.ts'
import { contextOf, type ChainCore } from './core.ts'
import { DiskWatch } from './disk-watch.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import { decodePrechecked, importLocked, precheck, type ImportMarks } from './import.ts'
import { DEFAULT_STATE_RECENT, type GcMode } from '../config/index.ts'
import { StatePruner } from './prune.ts'
import { SnapshotCache } from './snapshots.ts'
import { checkStoredHead, reportRecovery } from './startup-check.ts'
import { ChainStore, type TxLocation } from './store.ts'
import type { BlockBundle, HeadEvent, ImportEvent, ImportResult, ReorgEvent } from './types.ts'

const log = createLogger('chain')

export interface ChainEvents {
  head: [HeadEvent]
  reorg: [ReorgEvent]
  imported: [ImportEvent]
  /** A write to the database failed (CHAIN_STORAGE_FAULT): nothing is written again; stop the node. */
  fatal: [ChainError]
}

export interface ChainOptions {
  /** Pause sealing and import while the data dir's filesystem has less free space (bytes; 0 or absent: off). */
  minFreeDiskBytes?: number
  /** Run LevelDB's repair before opening (`--db.repair`). */
  repair?: boolean
  /** `--gcmode`: 'full' deletes state older than `stateRecent` blocks (prune.ts); absent or 'archive': keep all. */
  gcMode?: GcMode
  /** `--state.recent`: blocks whose state a full node keeps (default DEFAULT_STATE_RECENT). */
  stateRecent?: number
  /** Blocks between prune cycles (default: stateRecent). */
  pruneInterval?: number
}

/** The consensus rules a genesis chose. */
export function consensusConfig(genesis: Genesis): ConsensusConfig {
  return genesis.consensus === 'poa' ? { engine: 'poa', ...genesis.poa } : { engine: 'pow', ...genesis.pow }
}

/** Builds the genesis block header for a genesis description and its state root. */
export function genesisBlock(genesis: Genesis, consensus: Consensus, common: Common, stateRoot: Uint8Array): Block {
  return createBlock(
    {
      header: {
        number: 0n,
        gasLimit: genesis.gasLimit,
        timestamp: genesis.timestamp,
        extraData: consensus.genesisExtraData(genesis.vanity, genesis.authorities),
        difficulty: genesis.difficulty,
        baseFeePerGas: genesis.baseFeePerGas,
        stateRoot,
      },
    },
    { common, setHardfork: false },
  )
}

/**
 * The canonical chain on disk: genesis, head, snapshots of consensus state, block production
 * and import. Every operation that writes state runs one at a time (`exclusive`).
 */
export class Chain extends EventEmitter<ChainEvents> {
  readonly common: Common
  readonly consensus: Consensus
  readonly store: ChainStore
  readonly executor: Executor
  readonly genesisHash: Uint8Array
  private headBundle: BlockBundle
  private headSnap: Snapshot
  private readonly snapshots: SnapshotCache
  /** What building (build.ts) and importing (import.ts) work on. */
  private readonly core: ChainCore
  private readonly marks: ImportMarks = { txRootChecked: new WeakSet(), prechecked: new WeakSet() }
  private queue: Promise<unknown> = Promise.resolve()
  /** The low-disk watermark (--datadir.minfreedisk). */
  readonly disk: DiskWatch
  /** State pruning (--gcmode full); undefined in archive mode. */
  readonly pruner: StatePruner | undefined

  private constructor(
    parts: { common: Common; consensus: Consensus; store: ChainStore; executor: Executor; genesisHash: Uint8Array; snapshots: SnapshotCache; followAuthorities: boolean; disk: DiskWatch; pruner?: StatePruner },
    head: BlockBundle,
    snap: Snapshot,
  ) {
    super()
    this.disk = parts.disk
    this.pruner = parts.pruner
    this.common = parts.common
    this.consensus = parts.consensus
    this.store = parts.store
    this.executor = parts.executor
    this.genesisHash = parts.genesisHash
    this.snapshots = parts.snapshots
    this.headBundle = head
    this.headSnap = snap
    this.core = {
      common: parts.common,
      consensus: parts.consensus,
      store: parts.store,
      executor: parts.executor,
      snapshots: parts.snapshots,
      followAuthorities: parts.followAuthorities,
      head: () => this.headBundle,
      headSnap: () => this.headSnap,
      setHead: (bundle, snap) => this.setHead(bundle, snap),
      reorged: (ev) => void this.emit('reorg', ev),
    }
    parts.store.onFault = (err) => {
      log.error('Chain database write failed: stopping block production and import', { location: parts.store.location, fix: 'free space or fix the disk, then restart' }, err.message)
      this.emit('fatal', err)
    }
  }

  /** The storage fault that stopped this chain's writes, if one happened. */
  get fault(): ChainError | undefined {
    return this.store.fault
  }

  /** Opens (or initialises from `genesis`) the chain database in `datadir/chaindata`. */
  static async open(datadir: string, genesis: Genesis, opts: ChainOptions = {}): Promise<Chain> {
    const engine = consensusConfig(genesis)
    const consensus = createConsensus(engine)
    const common = createChainCommon({ chainId: genesis.chainId, consensus: consensus.commonConsensus, hardfork: genesis.hardfork })
    const store = await ChainStore.open(join(datadir, 'chaindata'), common, { repair: opts.repair })
    try {
      const trie = new TrieLevelAdapter(store.state)
      const executor = await Executor.create({
        common,
        db: trie,
        blockHash: (n) => store.canonicalHash(n),
      })
      // The genesis block is derived from genesis.json every start, so a changed file is caught.
      const genesisRoot = await executor.applyGenesis(genesis.alloc)
      const gBlock = genesisBlock(genesis, consensus, common, genesisRoot)
      const storedGenesis = await store.canonicalHash(0n)
      // Rules outside the genesis block itself: a changed file must not silently change the chain.
      const { engine: kind, ...rules } = engine
      // (PoW values as strings: a reward may not fit msgpack's 64-bit integers.)
      const config: Record<string, unknown> =
        kind === 'poa' ? { chainId: genesis.chainId, ...rules } : { chainId: genesis.chainId, engine: kind, ...Object.fromEntries(Object.entries(rules).map(([k, v]) => [k, String(v)])) }
      // The fork changes what every transaction does but not the genesis hash. Data dirs from
      // before forks could be chosen have no entry: they ran Shanghai.
      config.hardfork = genesis.hardfork
      if (storedGenesis === undefined) {
        await store.putChainConfig(config)
        const bundle: BlockBundle = { block: gBlock, receipts: [], senders: [], totalDifficulty: gBlock.header.difficulty }
        await store.commit(bundle, executor.drainWrites())
        executor.writesFlushed()
        log.info('Wrote genesis block', { hash: gBlock.hash(), chainId: genesis.chainId })
      } else if (!equalsBytes(storedGenesis, gBlock.hash())) {
        throw new ChainError(
          ChainErrorCode.GENESIS_MISMATCH,
          `database genesis ${bytesToHex(storedGenesis)} differs from genesis.json (${bytesToHex(gBlock.hash())}): the data dir belongs to another chain; use another --datadir`,
        )
      }
      const stored = await store.chainConfig()
      for (const [k, want] of Object.entries(config)) {
        const have = k === 'hardfork' ? (stored?.[k] ?? DEFAULT_FORK) : stored?.[k]
        if (stored !== undefined && String(have) !== String(want)) {
          throw new ChainError(ChainErrorCode.GENESIS_MISMATCH, `genesis.json sets ${k} ${want} but the chain in this data dir has ${String(have)}: use another --datadir`)
        }
      }
      // Genesis state re-derived above is on disk, or was pruned: checkStoredHead's reset
      // drops it (flushing it would put pruned nodes back into the clean cache).
      const headHash = (await store.headHash()) ?? gBlock.hash()
      const head = await checkStoredHead(store, executor, headHash)
      await reportRecovery(store, head)
      const snapshots = new SnapshotCache(store, consensus, consensus.genesisSnapshot(gBlock.header))
      const followAuthorities = bytesToHex(genesis.alloc.get(AUTHORITY_SET_ADDRESS)?.code ?? new Uint8Array()) === authoritySetDeployedBytecode
      const headSnap = await snapshots.at(head.block.header)
      const disk = new DiskWatch(store.location, opts.minFreeDiskBytes ?? 0)
      await disk.check()
      disk.start()
      const pruner = opts.gcMode === 'full' ? new StatePruner(store, trie, { recent: opts.stateRecent ?? DEFAULT_STATE_RECENT, interval: opts.pruneInterval }) : undefined
      const chain = new Chain({ common, consensus, store, executor, genesisHash: gBlock.hash(), snapshots, followAuthorities, disk, pruner }, head, headSnap)
      log.info('Loaded chain head', { number: head.block.header.number, hash: headHash, root: head.block.header.stateRoot })
      return chain
    } catch (err) {
      await store.close()
      throw err
    }
  }

  get head(): BlockBundle {
    return this.headBundle
  }

  get snapshot(): Snapshot {
    return this.headSnap
  }

  /** The consensus snapshot after block `hash` (clique_getSnapshot), or undefined if unknown. */
  async snapshotAt(hash: Uint8Array): Promise<Snapshot | undefined> {
    const b = await this.store.bundle(hash)
    return b === undefined ? undefined : this.snapshots.at(b.block.header)
  }

  async close(): Promise<void> {
    this.disk.stop()
    await this.pruner?.close()
    await this.queue.catch(() => {})
    // After a storage fault nothing is written again, not even the snapshot.
    if (this.store.fault === undefined) await this.snapshots.save(this.headSnap)
    await this.store.close()
  }

  /** Runs `fn` after every earlier write operation; refused at once after a storage fault. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      if (this.store.fault !== undefined) throw this.store.fault
      return fn()
    }
    const run = this.queue.then(guarded, guarded)
    this.queue = run.catch(() => {})
    return run
  }

  async blockByNumber(n: bigint): Promise<Block | undefined> {
    return (await this.bundleByNumber(n))?.block
  }

  async bundleByNumber(n: bigint): Promise<BlockBundle | undefined> {
    if (n > this.headBundle.block.header.number) return undefined
    if (n === this.headBundle.block.header.number) return this.headBundle
    const hash = await this.store.canonicalHash(n)
    return hash === undefined ? undefined : this.store.bundle(hash)
  }

  async bundleByHash(hash: Uint8Array): Promise<BlockBundle | undefined> {
    return this.store.bundle(hash)
  }

  /** An account at the committed head (the mempool's and RPC's view of "latest"). */
  async headAccount(address: Address): Promise<{ nonce: bigint; balance: bigint }> {
    return this.executor.getAccount(address, this.headBundle.block.header.stateRoot)
  }

  /** A block from its RLP (gossip, sync), decoded as stored blocks are. */
  decodeBlock(bytes: Uint8Array): Block {
    return this.store.decodeBlock(bytes)
  }

  /** A gossiped block read as far as `precheck` needs; throws INVALID_BLOCK on bad bytes. */
  parseBlock(bytes: Uint8Array): BlockBytes {
    try {
      return parseBlockBytes(bytes, this.store.decodeCommon)
    } catch (err) {
      throw new ChainError(ChainErrorCode.INVALID_BLOCK, errorMessage(err), undefined, err)
    }
  }

  /**
   * The whole block of `parsed`, for its import, transaction by transaction with turns of the
   * event loop (a thousand decodes at once held a loaded node's loop for ~300 ms, gossip unread).
   * A transaction `known` by its hash (the pool's, decoded and recovered when it arrived) is
   * reused: the same hash is the same bytes. Any other must decode to the very bytes the root
   * was checked over (ethereumjs takes some non-canonical encodings, which would hash
   * differently), so a prechecked block's root is not computed again and its bytes are stored
   * as they came.
   */
  decodePrechecked(parsed: BlockBytes, known?: (hash: Uint8Array) => TypedTransaction | undefined): Promise<Block> {
    return decodePrechecked(this.core, this.marks, parsed, known)
  }

  async txLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    return this.store.txLocation(hash)
  }

  /** The execution context of block `header`'s successor or of `header` itself. */
  contextOf(header: BlockHeader, author: Address): ExecutionContext {
    return contextOf(header, author)
  }

  /** Builds, seals (with `opts.signer`'s key) and commits the next block on the current head, in one step. */
  produce(opts: ProduceOptions): Promise<BlockBundle> {
    return this.exclusive(async () => {
      const author = new Address(opts.signer.address)
      await this.disk.assertWritable('block production')
      const sealer = this.consensus.createSealer({ address: author, privateKey: opts.signer.privateKey })
      const pending = await buildOnHead(this.core, { author, source: opts.source, deadline: opts.deadline, now: opts.now, vote: opts.vote })
      const seal = await sealer.seal(pending.header, new AbortController().signal)
      await sealer.close()
      const bundle = seal === undefined ? undefined : await commitPending(this.core, pending, seal)
      if (bundle === undefined) throw new ChainError(ChainErrorCode.CANNOT_SEAL, `cannot seal on block ${pending.parent.block.header.number}: the sealer gave up`)
      return bundle
    })
  }

  /**
   * Executes the next block on the current head and returns it unsealed; `commitBlock` adds
   * it once sealed. Imports may run in between (sealing by proof of work takes seconds).
   */
  buildBlock(opts: BuildOptions): Promise<PendingBlock> {
    return this.exclusive(async () => {
      await this.disk.assertWritable('block production')
      return buildOnHead(this.core, opts)
    })
  }

  /** Seals and commits a built block if its parent is still the head; undefined when the head moved on. */
  commitBlock(pending: PendingBlock, seal: SealFields): Promise<BlockBundle | undefined> {
    return this.exclusive(() => commitPending(this.core, pending, seal))
  }

  /**
   * The checks a block passes before it is worth relaying, without executing it (geth's block
   * fetcher relays after the header verifies too): parent known, header and consensus rules
   * (the seal: only an authorised signer or enough work makes one), and the body bound to the
   * sealed header by its transactions root. Resolves 'known' if the block is stored already.
   * Throws what `importBlock` would throw for those faults. `importingParent` is the parent's
   * header when the parent passed this check itself and is still being imported: a child is
   * checked against it (its snapshot derives from the stored grandparent) instead of waiting.
   */
  precheck(block: BlockBytes, importingParent?: BlockHeader): Promise<'known' | 'ok'> {
    return precheck(this.core, this.marks, block, importingParent)
  }

  /**
   * Verifies, executes and stores a block whose parent is known, then applies fork choice: it
   * becomes the head (extending it, or by a reorg onto its branch) or stays on a side chain.
   * Senders may be given when already recovered (mempool workers).
   */
  async importBlock(block: Block, senders?: Address[]): Promise<ImportResult> {
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000
    try {
      const result = await this.importLocked(block, senders)
      this.emit('imported', { status: result.status, seconds: seconds() })
      return result
    } catch (err) {
      this.emit('imported', { status: 'failed', code: isCodedError(err) ? err.code : (errorCode(err) ?? 'UNKNOWN'), seconds: seconds() })
      throw err
    }
  }

  private importLocked(block: Block, senders?: Address[]): Promise<ImportResult> {
    return this.exclusive(async () => {
      await this.disk.assertWritable('block import')
      return importLocked(this.core, this.marks, block, senders)
    })
  }

  /**
   * State sync (node/sync/state-sync.ts): makes `bundle` the head without executing the blocks
   * before it. Its state is in the database already, complete and checked node by node against
   * its root; `ancestors` (oldest first) were stored with `store.commit(…, 'side')` and become
   * canonical with it, in one batch; `snap` is the consensus snapshot after it, saved so that
   * later snapshots never walk below it. Only a chain still at its genesis may jump.
   */
  adoptSyncedHead(bundle: BlockBundle, ancestors: Block[], snap: Snapshot): Promise<void> {
    return this.exclusive(async () => {
      if (this.headBundle.block.header.number !== 0n) throw new ChainError(ChainErrorCode.CORRUPT_DATABASE, `a state-synced head replaces only the genesis, not head ${this.headBundle.block.header.number}`)
      await this.store.putSnapshot(bundle.block.hash(), this.consensus.encodeSnapshot(snap))
      await this.store.commit(bundle, [], { add: [...ancestors, bundle.block], remove: [] })
      await this.executor.resetTo(bundle.block.header.stateRoot)
      await this.setHead(bundle, snap)
    })
  }

  private async setHead(bundle: BlockBundle, snap: Snapshot): Promise<void> {
    this.headBundle = bundle
    this.headSnap = snap
    await this.snapshots.remember(snap)
    this.pruner?.onHead(bundle.block.header.number)
    this.emit('head', bundle)
  }
}
