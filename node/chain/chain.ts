import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { Block, createBlock, createBlockHeader, type BlockHeader, type HeaderData } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, equalsBytes } from '@ethereumjs/util'
import { errorMessage } from '../../common/errors.ts'
import { keccak256 } from '../../common/keccak.ts'
import { createLogger } from '../../common/logger.ts'
import { AUTHORITY_SET_ADDRESS, authoritySetDeployedBytecode, authoritySetStorageUpdate } from '../../contracts/index.ts'
import { createConsensus, type Consensus, type ConsensusConfig, type Proposal, type SealFields, type Snapshot } from '../../consensus/index.ts'
import { Executor, TimeSlice, TrieLevelAdapter, createChainCommon, orderedTrieRoot, transactionsRoot, type ExecutionContext, type SenderTx, type SystemWrite, type TxSource } from '../../evm/index.ts'
import type { AuthorityKey } from '../config.ts'
import type { Genesis } from '../genesis/types.ts'
import { parseBlockBytes, type BlockBytes } from './block-bytes.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import { SnapshotCache } from './snapshots.ts'
import { ChainStore, type TxLocation } from './store.ts'
import type { BlockBundle, HeadEvent, ImportEvent, ImportResult, ReorgEvent } from './types.ts'

const log = createLogger('chain')

export interface ChainEvents {
  head: [HeadEvent]
  reorg: [ReorgEvent]
  imported: [ImportEvent]
}

/** A block this node builds: its author, where its transactions come from and when to stop. */
export interface BuildOptions {
  author: Address
  source: TxSource
  /** Stop adding transactions at this time (ms since epoch). */
  deadline: number
  now?: number
  /** A vote to carry (clique_propose), already chosen by the producer. */
  vote?: Proposal
}

/** `produce` in one step, sealed with an authority key (PoA). */
export interface ProduceOptions extends Omit<BuildOptions, 'author'> {
  signer: AuthorityKey
}

/** A block built on `parent` and not yet sealed: its header, executed transactions and state writes. */
export interface PendingBlock {
  parent: BlockBundle
  /** The unsealed header (what the seal commits to). */
  header: BlockHeader
  fields: HeaderData
  txs: SenderTx[]
  receipts: BlockBundle['receipts']
  writes: ReturnType<Executor['drainWrites']>
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
  /** Whether the AuthoritySet predeploy is in the genesis, so the node keeps it in step. */
  private readonly followAuthorities: boolean
  /** Blocks whose transactions root was checked (precheck for relay, then import). */
  private readonly txRootChecked = new WeakSet<Block>()
  /** Gossiped blocks that passed precheck, transactions root included. */
  private readonly prechecked = new WeakSet<BlockBytes>()
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    parts: { common: Common; consensus: Consensus; store: ChainStore; executor: Executor; genesisHash: Uint8Array; snapshots: SnapshotCache; followAuthorities: boolean },
    head: BlockBundle,
    snap: Snapshot,
  ) {
    super()
    this.common = parts.common
    this.consensus = parts.consensus
    this.store = parts.store
    this.executor = parts.executor
    this.genesisHash = parts.genesisHash
    this.snapshots = parts.snapshots
    this.followAuthorities = parts.followAuthorities
    this.headBundle = head
    this.headSnap = snap
  }

  /** Opens (or initialises from `genesis`) the chain database in `datadir/chaindata`. */
  static async open(datadir: string, genesis: Genesis): Promise<Chain> {
    const engine = consensusConfig(genesis)
    const consensus = createConsensus(engine)
    const common = createChainCommon({ chainId: genesis.chainId, consensus: consensus.commonConsensus })
    const store = await ChainStore.open(join(datadir, 'chaindata'), common)
    try {
      const executor = await Executor.create({
        common,
        db: new TrieLevelAdapter(store.state),
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
        if (stored !== undefined && String(stored[k]) !== String(want)) {
          throw new ChainError(ChainErrorCode.GENESIS_MISMATCH, `genesis.json sets ${k} ${want} but the chain in this data dir has ${String(stored[k])}: use another --datadir`)
        }
      }
      // Genesis state re-derived above is already on disk.
      executor.drainWrites()
      executor.writesFlushed()
      const headHash = (await store.headHash()) ?? gBlock.hash()
      const head = await store.bundle(headHash)
      if (head === undefined) throw new ChainError(ChainErrorCode.CORRUPT_DATABASE, `head block ${bytesToHex(headHash)} is missing from the database`)
      await executor.resetTo(head.block.header.stateRoot)
      const snapshots = new SnapshotCache(store, consensus, consensus.genesisSnapshot(gBlock.header))
      const followAuthorities = bytesToHex(genesis.alloc.get(AUTHORITY_SET_ADDRESS)?.code ?? new Uint8Array()) === authoritySetDeployedBytecode
      const headSnap = await snapshots.at(head.block.header)
      const chain = new Chain({ common, consensus, store, executor, genesisHash: gBlock.hash(), snapshots, followAuthorities }, head, headSnap)
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
    await this.queue.catch(() => {})
    await this.snapshots.save(this.headSnap)
    await this.store.close()
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
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
  async decodePrechecked(parsed: BlockBytes, known?: (hash: Uint8Array) => TypedTransaction | undefined): Promise<Block> {
    const { header } = parsed
    if (parsed.uncles > 0) throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: uncles are not allowed`)
    const txs: TypedTransaction[] = []
    const slice = new TimeSlice()
    for (const [i, bytes] of parsed.transactions.entries()) {
      if (slice.due()) await slice.yield()
      const hash = keccak256(bytes)
      let tx = known?.(hash)
      if (tx === undefined) {
        try {
          tx = createTxFromRLP(bytes, { common: this.store.decodeCommon })
        } catch (err) {
          throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transaction ${i}: ${errorMessage(err)}`, undefined, err)
        }
        if (!equalsBytes(tx.serialize(), bytes)) throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transaction ${i} is not canonically encoded`)
        tx.cache.hash = hash
      }
      txs.push(tx)
    }
    const block = new Block(header, txs, [], undefined, { common: this.store.decodeCommon, setHardfork: false })
    if (this.prechecked.has(parsed)) this.txRootChecked.add(block)
    this.store.adoptEncoding(block, parsed.bytes)
    return block
  }

  async txLocation(hash: Uint8Array): Promise<TxLocation | undefined> {
    return this.store.txLocation(hash)
  }

  /** The execution context of block `header`'s successor or of `header` itself. */
  contextOf(header: BlockHeader, author: Address): ExecutionContext {
    return {
      number: header.number,
      timestamp: header.timestamp,
      gasLimit: header.gasLimit,
      baseFeePerGas: header.baseFeePerGas ?? 0n,
      difficulty: header.difficulty,
      author,
    }
  }

  /** Builds, seals (with `opts.signer`'s key) and commits the next block on the current head, in one step. */
  produce(opts: ProduceOptions): Promise<BlockBundle> {
    return this.exclusive(async () => {
      const author = new Address(opts.signer.address)
      const sealer = this.consensus.createSealer({ address: author, privateKey: opts.signer.privateKey })
      const pending = await this.buildLocked({ author, source: opts.source, deadline: opts.deadline, now: opts.now, vote: opts.vote })
      const seal = await sealer.seal(pending.header, new AbortController().signal)
      await sealer.close()
      const bundle = seal === undefined ? undefined : await this.commitLocked(pending, seal)
      if (bundle === undefined) throw new ChainError(ChainErrorCode.CANNOT_SEAL, `cannot seal on block ${pending.parent.block.header.number}: the sealer gave up`)
      return bundle
    })
  }

  /**
   * Executes the next block on the current head and returns it unsealed; `commitBlock` adds
   * it once sealed. Imports may run in between (sealing by proof of work takes seconds).
   */
  buildBlock(opts: BuildOptions): Promise<PendingBlock> {
    return this.exclusive(() => this.buildLocked(opts))
  }

  /** Seals and commits a built block if its parent is still the head; undefined when the head moved on. */
  commitBlock(pending: PendingBlock, seal: SealFields): Promise<BlockBundle | undefined> {
    return this.exclusive(() => this.commitLocked(pending, seal))
  }

  private async buildLocked(opts: BuildOptions): Promise<PendingBlock> {
    const parent = this.headBundle
    const parentHeader = parent.block.header
    const now = opts.now ?? Date.now()
    // The head may have moved (an import) since the producer planned this block.
    const plan = this.consensus.sealPlan(opts.author, parentHeader, this.headSnap, now)
    if (!plan.canSeal) throw new ChainError(ChainErrorCode.CANNOT_SEAL, `cannot seal on block ${parentHeader.number}: ${plan.reason}`)
    const prep = this.consensus.prepare(opts.author, parentHeader, this.headSnap, now, opts.vote)
    const number = parentHeader.number + 1n
    const baseFee = parentHeader.calcNextBaseFee()
    const ctx: ExecutionContext = {
      number,
      timestamp: prep.timestamp,
      gasLimit: parentHeader.gasLimit,
      baseFeePerGas: baseFee,
      difficulty: prep.difficulty,
      author: opts.author,
      reward: this.consensus.blockReward(number),
      systemWrites: this.authorityWrites(this.consensus.authorities(this.headSnap), this.consensus.authoritiesAfter(this.headSnap, number, opts.author, prep)),
    }
    // A built block that was never sealed (the sealer gave up) left the executor on its state.
    if (!equalsBytes(this.executor.stateRoot, parentHeader.stateRoot)) await this.executor.resetTo(parentHeader.stateRoot)
    const res = await this.executor.build(ctx, opts.source, { deadline: opts.deadline })
    const fields: HeaderData = {
        parentHash: parent.block.hash(),
        coinbase: prep.coinbase,
        stateRoot: res.stateRoot,
        transactionsTrie: transactionsRoot(res.txs.map((t) => t.tx)),
        receiptTrie: res.receiptsRoot,
        logsBloom: res.logsBloom,
        difficulty: prep.difficulty,
        number,
        gasLimit: ctx.gasLimit,
        gasUsed: res.gasUsed,
        timestamp: prep.timestamp,
        extraData: prep.extraData,
        mixHash: prep.mixHash,
        nonce: prep.nonce,
        baseFeePerGas: baseFee,
      }
    const header = createBlockHeader(fields, { common: this.common, setHardfork: false })
    // The state writes travel with the block until it is committed (or dropped).
    return { parent, header, fields, txs: res.txs, receipts: res.receipts, writes: this.executor.drainWrites() }
  }

  private async commitLocked(pending: PendingBlock, seal: SealFields): Promise<BlockBundle | undefined> {
    if (!equalsBytes(pending.parent.block.hash(), this.headBundle.block.hash())) return undefined
    const blockOpts = { common: this.common, setHardfork: false }
    const header = createBlockHeader({ ...pending.fields, ...seal }, blockOpts)
    // The executed transaction objects themselves, not copies (createBlock rebuilds each one):
    // they carry their hash and recovered sender, which the commit and RPC reuse.
    const block = new Block(header, pending.txs.map((t) => t.tx), [], undefined, blockOpts)
    const bundle: BlockBundle = {
      block,
      receipts: pending.receipts,
      senders: pending.txs.map((t) => t.sender),
      totalDifficulty: pending.parent.totalDifficulty + header.difficulty,
    }
    const snap = this.consensus.apply(this.headSnap, header)
    await this.store.commit(bundle, pending.writes)
    this.executor.writesFlushed()
    if (!equalsBytes(this.executor.stateRoot, header.stateRoot)) await this.executor.resetTo(header.stateRoot)
    await this.setHead(bundle, snap)
    return bundle
  }

  /** AuthoritySet storage writes turning `prev` signers into `next` (none when unchanged or fixed). */
  private authorityWrites(prev: string[] | undefined, next: string[] | undefined): SystemWrite[] | undefined {
    if (!this.followAuthorities || prev === undefined || next === undefined || prev.join() === next.join()) return undefined
    const bytes = (xs: string[]) => xs.map((a) => new Uint8Array(Buffer.from(a.slice(2), 'hex')))
    return [{ address: new Address(Buffer.from(AUTHORITY_SET_ADDRESS.slice(2), 'hex')), entries: authoritySetStorageUpdate(bytes(prev), bytes(next)) }]
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
  async precheck(block: BlockBytes, importingParent?: BlockHeader): Promise<'known' | 'ok'> {
    const { header, hash } = block
    // From memory near the head: a LevelDB read here waited behind the import's writes (up to
    // 180 ms at a loaded node). A block stored before a restart may so be relayed once more; its
    // import then finds it stored.
    const nearHead = header.number + 64n > this.headBundle.block.header.number
    if (nearHead ? this.store.wroteRecently(hash) : await this.store.hasBlock(hash)) return 'known'
    const parent = importingParent !== undefined && equalsBytes(importingParent.hash(), header.parentHash) ? importingParent : (await this.store.bundle(header.parentHash))?.block.header
    if (parent === undefined) {
      throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} has an unknown parent ${bytesToHex(header.parentHash)}: sync its ancestors first`)
    }
    this.verifyBody(header, block.uncles, parent)
    this.consensus.verifyHeader(header, parent, await this.snapshots.at(parent), Date.now())
    // Over the encodings as received: no transaction objects, nothing re-encoded.
    this.checkRoot(header, orderedTrieRoot(block.transactions))
    this.prechecked.add(block)
    return 'ok'
  }

  /**
   * The body belongs to the sealed header: its transactions root matches. Remembered per block
   * object (blocks are frozen): a block built by decodePrechecked from bytes whose root precheck
   * checked is not hashed again at import.
   */
  private checkTransactionsRoot(block: Block): void {
    if (this.txRootChecked.has(block)) return
    this.checkRoot(block.header, transactionsRoot(block.transactions))
    this.txRootChecked.add(block)
  }

  private checkRoot(header: BlockHeader, root: Uint8Array): void {
    if (!equalsBytes(root, header.transactionsTrie)) {
      throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transactions root ${bytesToHex(root)}, header says ${bytesToHex(header.transactionsTrie)}`)
    }
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
      this.emit('imported', { status: 'failed', code: String((err as { code?: unknown }).code ?? 'UNKNOWN'), seconds: seconds() })
      throw err
    }
  }

  private importLocked(block: Block, senders?: Address[]): Promise<ImportResult> {
    return this.exclusive(async () => {
      const header = block.header
      const hash = block.hash()
      const known = await this.store.bundle(hash)
      if (known !== undefined) return { bundle: known, status: 'known' }
      const parent = await this.store.bundle(header.parentHash)
      if (parent === undefined) {
        throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} has an unknown parent ${bytesToHex(header.parentHash)}: sync its ancestors first`)
      }
      this.verifyBody(header, block.uncleHeaders.length, parent.block.header)
      const parentSnap = await this.snapshots.at(parent.block.header)
      this.consensus.verifyHeader(header, parent.block.header, parentSnap, Date.now())
      this.checkTransactionsRoot(block)
      const snap = this.consensus.apply(parentSnap, header)
      const txs: SenderTx[] = block.transactions.map((tx, i) => ({ tx, sender: senders?.[i] ?? tx.getSenderAddress() }))
      const ctx: ExecutionContext = {
        ...this.contextOf(header, this.consensus.author(header)),
        reward: this.consensus.blockReward(header.number),
        systemWrites: this.authorityWrites(this.consensus.authorities(parentSnap), this.consensus.authorities(snap)),
      }
      const headRoot = this.headBundle.block.header.stateRoot
      if (!equalsBytes(this.executor.stateRoot, parent.block.header.stateRoot)) await this.executor.resetTo(parent.block.header.stateRoot)
      let res
      try {
        res = await this.executor.execute(ctx, txs)
      } catch (err) {
        await this.executor.resetTo(headRoot)
        throw err
      }
      const mismatch = [
        ['state root', res.stateRoot, header.stateRoot],
        ['receipts root', res.receiptsRoot, header.receiptTrie],
        ['logs bloom', res.logsBloom, header.logsBloom],
      ].find(([, got, want]) => !equalsBytes(got as Uint8Array, want as Uint8Array))
      if (mismatch !== undefined || res.gasUsed !== header.gasUsed) {
        await this.executor.resetTo(headRoot)
        const what = mismatch === undefined ? `gas used ${res.gasUsed}, header says ${header.gasUsed}` : `${mismatch[0]} ${bytesToHex(mismatch[1] as Uint8Array)}, header says ${bytesToHex(mismatch[2] as Uint8Array)}`
        throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number} execution mismatch: ${what}`)
      }
      const bundle: BlockBundle = {
        block,
        receipts: res.receipts,
        senders: txs.map((t) => t.sender),
        totalDifficulty: parent.totalDifficulty + header.difficulty,
      }
      const head = this.headBundle
      const extendsHead = equalsBytes(header.parentHash, head.block.hash())
      const headParent = extendsHead ? undefined : await this.store.bundle(head.block.header.parentHash)
      const better =
        extendsHead ||
        this.consensus.isBetterHead(
          { header, totalDifficulty: bundle.totalDifficulty, parentSnap },
          { header: head.block.header, totalDifficulty: head.totalDifficulty, parentSnap: headParent === undefined ? this.headSnap : await this.snapshots.at(headParent.block.header) },
        )
      const writes = this.executor.drainWrites()
      if (!better) {
        await this.store.commit(bundle, writes, 'side')
        this.executor.writesFlushed()
        await this.snapshots.remember(snap)
        await this.executor.resetTo(headRoot)
        return { bundle, status: 'side' }
      }
      if (extendsHead) {
        await this.store.commit(bundle, writes)
        this.executor.writesFlushed()
        await this.setHead(bundle, snap)
        return { bundle, status: 'head' }
      }
      const { removed, added } = await this.branches(head, bundle)
      await this.store.commit(bundle, writes, { add: added.map((b) => b.block), remove: removed.map((b) => b.block) })
      this.executor.writesFlushed()
      log.info('Chain reorganised', { from: head.block.header.number, to: header.number, dropped: removed.length, added: added.length })
      // After the new head is in place, so listeners (the mempool taking back the dropped
      // branch's transactions) see the state they must be checked against.
      await this.setHead(bundle, snap)
      this.emit('reorg', { removed, added })
      return { bundle, status: 'reorg' }
    })
  }

  /** The blocks leaving and joining the canonical chain when `to` replaces `from` as head. */
  private async branches(from: BlockBundle, to: BlockBundle): Promise<{ removed: BlockBundle[]; added: BlockBundle[] }> {
    const removed: BlockBundle[] = []
    const added: BlockBundle[] = []
    let a: BlockBundle = from
    let b: BlockBundle = to
    const parentOf = async (x: BlockBundle): Promise<BlockBundle> => {
      const p = await this.store.bundle(x.block.header.parentHash)
      if (p === undefined) throw new ChainError(ChainErrorCode.CORRUPT_DATABASE, `block ${x.block.header.number - 1n} is missing from the database`)
      return p
    }
    while (a.block.header.number > b.block.header.number) {
      removed.push(a)
      a = await parentOf(a)
    }
    while (b.block.header.number > a.block.header.number) {
      added.push(b)
      b = await parentOf(b)
    }
    while (!equalsBytes(a.block.hash(), b.block.hash())) {
      removed.push(a)
      added.push(b)
      a = await parentOf(a)
      b = await parentOf(b)
    }
    return { removed, added: added.reverse() }
  }

  /** Header rules that do not depend on the consensus engine (EIP-1559, gas, body). */
  private verifyBody(h: BlockHeader, uncles: number, parent: BlockHeader): void {
    const fail = (msg: string): never => {
      throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${h.number}: ${msg}`)
    }
    if (h.number !== parent.number + 1n) fail(`number should be ${parent.number + 1n}`)
    if (h.gasUsed > h.gasLimit) fail(`gas used ${h.gasUsed} exceeds gas limit ${h.gasLimit}`)
    const bound = parent.gasLimit / 1024n
    if (h.gasLimit >= parent.gasLimit + bound || h.gasLimit <= parent.gasLimit - bound || h.gasLimit < 5000n) fail(`gas limit ${h.gasLimit} moves too far from parent ${parent.gasLimit}`)
    if (h.baseFeePerGas !== parent.calcNextBaseFee()) fail(`base fee ${h.baseFeePerGas} should be ${parent.calcNextBaseFee()}`)
    if (uncles > 0) fail('uncles are not allowed')
  }

  private async setHead(bundle: BlockBundle, snap: Snapshot): Promise<void> {
    this.headBundle = bundle
    this.headSnap = snap
    await this.snapshots.remember(snap)
    this.emit('head', bundle)
  }
}
