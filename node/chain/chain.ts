import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { Block, createBlock, createBlockHeader, type BlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { Address, bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger } from '../../common/logger.ts'
import { AUTHORITY_SET_ADDRESS, authoritySetDeployedBytecode, authoritySetStorageUpdate } from '../../contracts/index.ts'
import { PoaEngine, genesisExtraData, type PoaSnapshot, type Proposal } from '../../consensus/index.ts'
import { Executor, TrieLevelAdapter, createChainCommon, type ExecutionContext, type SenderTx, type SystemWrite, type TxSource } from '../../evm/index.ts'
import type { AuthorityKey } from '../config.ts'
import type { Genesis } from '../genesis/types.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import { SnapshotCache } from './snapshots.ts'
import { ChainStore, type TxLocation } from './store.ts'
import type { BlockBundle, HeadEvent, ImportResult, ReorgEvent } from './types.ts'

const log = createLogger('chain')

export interface ChainEvents {
  head: [HeadEvent]
  reorg: [ReorgEvent]
}

/** A block produced by this node: where building stops and how it is sealed. */
export interface ProduceOptions {
  signer: AuthorityKey
  source: TxSource
  /** Stop adding transactions at this time (ms since epoch). */
  deadline: number
  now?: number
  /** A vote to carry (clique_propose), already chosen by the producer. */
  vote?: Proposal
}

/** Builds the genesis block header for a genesis description and its state root. */
export function genesisBlock(genesis: Genesis, common: Common, stateRoot: Uint8Array): Block {
  return createBlock(
    {
      header: {
        number: 0n,
        gasLimit: genesis.gasLimit,
        timestamp: genesis.timestamp,
        extraData: genesisExtraData(genesis.vanity, genesis.authorities),
        difficulty: 1n,
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
  readonly consensus: PoaEngine
  readonly store: ChainStore
  readonly executor: Executor
  readonly genesisHash: Uint8Array
  private headBundle: BlockBundle
  private headSnap: PoaSnapshot
  private readonly snapshots: SnapshotCache
  /** Whether the AuthoritySet predeploy is in the genesis, so the node keeps it in step. */
  private readonly followAuthorities: boolean
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    parts: { common: Common; consensus: PoaEngine; store: ChainStore; executor: Executor; genesisHash: Uint8Array; snapshots: SnapshotCache; followAuthorities: boolean },
    head: BlockBundle,
    snap: PoaSnapshot,
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
    const common = createChainCommon({ chainId: genesis.chainId, period: genesis.poa.period, epoch: genesis.poa.epoch })
    const consensus = new PoaEngine({ period: genesis.poa.period, epoch: genesis.poa.epoch })
    const store = await ChainStore.open(join(datadir, 'chaindata'), common)
    try {
      const executor = await Executor.create({
        common,
        db: new TrieLevelAdapter(store.state),
        blockHash: (n) => store.canonicalHash(n),
      })
      // The genesis block is derived from genesis.json every start, so a changed file is caught.
      const genesisRoot = await executor.applyGenesis(genesis.alloc)
      const gBlock = genesisBlock(genesis, common, genesisRoot)
      const storedGenesis = await store.canonicalHash(0n)
      const config = { chainId: genesis.chainId, period: genesis.poa.period, epoch: genesis.poa.epoch }
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
        if (stored !== undefined && stored[k] !== want) {
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

  get snapshot(): PoaSnapshot {
    return this.headSnap
  }

  /** The consensus snapshot after block `hash` (clique_getSnapshot), or undefined if unknown. */
  async snapshotAt(hash: Uint8Array): Promise<PoaSnapshot | undefined> {
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

  /** Builds, seals and commits the next block on the current head. */
  produce(opts: ProduceOptions): Promise<BlockBundle> {
    return this.exclusive(async () => {
      const parent = this.headBundle
      const now = opts.now ?? Date.now()
      const signer = new Address(opts.signer.address)
      // The head may have moved (an import) since the producer planned this block.
      const plan = this.consensus.sealPlan(signer, parent.block.header, this.headSnap, now)
      if (!plan.canSeal) throw new ChainError(ChainErrorCode.CANNOT_SEAL, `cannot seal on block ${parent.block.header.number}: ${plan.reason}`)
      const prep = this.consensus.prepare(signer, parent.block.header, this.headSnap, now, opts.vote)
      const number = parent.block.header.number + 1n
      const baseFee = parent.block.header.calcNextBaseFee()
      const nextSigners = this.consensus.signersAfter(this.headSnap, number, signer, prep)
      const ctx: ExecutionContext = {
        number,
        timestamp: prep.timestamp,
        gasLimit: parent.block.header.gasLimit,
        baseFeePerGas: baseFee,
        difficulty: prep.difficulty,
        author: signer,
        systemWrites: this.authorityWrites(this.headSnap.signers, nextSigners),
      }
      const res = await this.executor.build(ctx, opts.source, { deadline: opts.deadline })
      const headerData = {
        parentHash: parent.block.hash(),
        coinbase: prep.coinbase,
        stateRoot: res.stateRoot,
        transactionsTrie: res.transactionsRoot,
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
      const unsealed = createBlockHeader(headerData, { common: this.common, setHardfork: false })
      const extraData = this.consensus.seal(unsealed, opts.signer.privateKey)
      // The executed transaction objects themselves, not copies (createBlock rebuilds each one):
      // they carry their hash and recovered sender, which the commit and RPC reuse.
      const blockOpts = { common: this.common, setHardfork: false }
      const block = new Block(createBlockHeader({ ...headerData, extraData }, blockOpts), res.txs.map((t) => t.tx), [], undefined, blockOpts)
      const bundle: BlockBundle = {
        block,
        receipts: res.receipts,
        senders: res.txs.map((t) => t.sender),
        totalDifficulty: parent.totalDifficulty + prep.difficulty,
      }
      const snap = this.consensus.apply(this.headSnap, block.header)
      await this.store.commit(bundle, this.executor.drainWrites())
      this.executor.writesFlushed()
      await this.setHead(bundle, snap)
      return bundle
    })
  }

  /** AuthoritySet storage writes turning `prev` signers into `next` (none when unchanged). */
  private authorityWrites(prev: string[], next: string[]): SystemWrite[] | undefined {
    if (!this.followAuthorities || prev.join() === next.join()) return undefined
    const bytes = (xs: string[]) => xs.map((a) => new Uint8Array(Buffer.from(a.slice(2), 'hex')))
    return [{ address: new Address(Buffer.from(AUTHORITY_SET_ADDRESS.slice(2), 'hex')), entries: authoritySetStorageUpdate(bytes(prev), bytes(next)) }]
  }

  /**
   * Verifies, executes and stores a block whose parent is known, then applies fork choice: it
   * becomes the head (extending it, or by a reorg onto its branch) or stays on a side chain.
   * Senders may be given when already recovered (mempool workers).
   */
  importBlock(block: Block, senders?: Address[]): Promise<ImportResult> {
    return this.exclusive(async () => {
      const header = block.header
      const hash = block.hash()
      const known = await this.store.bundle(hash)
      if (known !== undefined) return { bundle: known, status: 'known' }
      const parent = await this.store.bundle(header.parentHash)
      if (parent === undefined) {
        throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} has an unknown parent ${bytesToHex(header.parentHash)}: sync its ancestors first`)
      }
      this.verifyBody(block, parent.block.header)
      const parentSnap = await this.snapshots.at(parent.block.header)
      this.consensus.verifyHeader(header, parent.block.header, parentSnap, Date.now())
      const snap = this.consensus.apply(parentSnap, header)
      const txs: SenderTx[] = block.transactions.map((tx, i) => ({ tx, sender: senders?.[i] ?? tx.getSenderAddress() }))
      const ctx = { ...this.contextOf(header, this.consensus.author(header)), systemWrites: this.authorityWrites(parentSnap.signers, snap.signers) }
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
        ['transactions root', res.transactionsRoot, header.transactionsTrie],
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
  private verifyBody(block: Block, parent: BlockHeader): void {
    const h = block.header
    const fail = (msg: string): never => {
      throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${h.number}: ${msg}`)
    }
    if (h.number !== parent.number + 1n) fail(`number should be ${parent.number + 1n}`)
    if (h.gasUsed > h.gasLimit) fail(`gas used ${h.gasUsed} exceeds gas limit ${h.gasLimit}`)
    const bound = parent.gasLimit / 1024n
    if (h.gasLimit >= parent.gasLimit + bound || h.gasLimit <= parent.gasLimit - bound || h.gasLimit < 5000n) fail(`gas limit ${h.gasLimit} moves too far from parent ${parent.gasLimit}`)
    if (h.baseFeePerGas !== parent.calcNextBaseFee()) fail(`base fee ${h.baseFeePerGas} should be ${parent.calcNextBaseFee()}`)
    if (block.uncleHeaders.length > 0) fail('uncles are not allowed')
  }

  private async setHead(bundle: BlockBundle, snap: PoaSnapshot): Promise<void> {
    this.headBundle = bundle
    this.headSnap = snap
    await this.snapshots.remember(snap)
    this.emit('head', bundle)
  }
}
