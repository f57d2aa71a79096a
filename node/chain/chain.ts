import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { createBlock, createBlockHeader, type Block, type BlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { Address, bytesToHex, equalsBytes } from '@ethereumjs/util'
import { createLogger } from '../../common/logger.ts'
import { PoaEngine, genesisExtraData, type PoaSnapshot } from '../../consensus/index.ts'
import { Executor, TrieLevelAdapter, createChainCommon, type ExecutionContext, type SenderTx, type TxSource } from '../../evm/index.ts'
import type { AuthorityKey } from '../config.ts'
import type { Genesis } from '../genesis/types.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import { ChainStore, type TxLocation } from './store.ts'
import type { BlockBundle, HeadEvent } from './types.ts'

const log = createLogger('chain')

export interface ChainEvents {
  head: [HeadEvent]
}

/** A block produced by this node: where building stops and how it is sealed. */
export interface ProduceOptions {
  signer: AuthorityKey
  source: TxSource
  /** Stop adding transactions at this time (ms since epoch). */
  deadline: number
  now?: number
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
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(
    parts: { common: Common; consensus: PoaEngine; store: ChainStore; executor: Executor; genesisHash: Uint8Array },
    head: BlockBundle,
    snap: PoaSnapshot,
  ) {
    super()
    this.common = parts.common
    this.consensus = parts.consensus
    this.store = parts.store
    this.executor = parts.executor
    this.genesisHash = parts.genesisHash
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
      const chain = new Chain({ common, consensus, store, executor, genesisHash: gBlock.hash() }, head, consensus.genesisSnapshot(gBlock.header))
      await chain.rebuildSnapshot()
      log.info('Loaded chain head', { number: head.block.header.number, hash: headHash, root: head.block.header.stateRoot })
      return chain
    } catch (err) {
      await store.close()
      throw err
    }
  }

  /** Recent signers are all a fixed signer set needs: replay the last floor(N/2)+1 headers. */
  private async rebuildSnapshot(): Promise<void> {
    const genesis = await this.blockByNumber(0n)
    let snap = this.consensus.genesisSnapshot(genesis!.header)
    const head = this.head.block.header.number
    const depth = BigInt(snap.signers.length)
    const from = head > depth ? head - depth : 1n
    for (let n = from; n <= head; n++) snap = this.consensus.apply(snap, (await this.blockByNumber(n))!.header)
    this.headSnap = snap
  }

  get head(): BlockBundle {
    return this.headBundle
  }

  get snapshot(): PoaSnapshot {
    return this.headSnap
  }

  async close(): Promise<void> {
    await this.queue.catch(() => {})
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
      const prep = this.consensus.prepare(signer, parent.block.header, this.headSnap, now)
      const number = parent.block.header.number + 1n
      const baseFee = parent.block.header.calcNextBaseFee()
      const ctx: ExecutionContext = {
        number,
        timestamp: prep.timestamp,
        gasLimit: parent.block.header.gasLimit,
        baseFeePerGas: baseFee,
        difficulty: prep.difficulty,
        author: signer,
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
      const block = createBlock(
        { header: { ...headerData, extraData }, transactions: res.txs.map((t) => t.tx) },
        { common: this.common, setHardfork: false },
      )
      const bundle: BlockBundle = {
        block,
        receipts: res.receipts,
        senders: res.txs.map((t) => t.sender),
        totalDifficulty: parent.totalDifficulty + prep.difficulty,
      }
      await this.commitHead(bundle)
      return bundle
    })
  }

  /**
   * Verifies, executes and commits a block on top of the current head. Senders may be given
   * when already recovered (mempool workers); otherwise they are recovered here.
   */
  importBlock(block: Block, senders?: Address[]): Promise<BlockBundle> {
    return this.exclusive(async () => {
      const parent = this.headBundle
      const header = block.header
      if (!equalsBytes(header.parentHash, parent.block.hash())) {
        throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} does not extend the head ${parent.block.header.number} (${bytesToHex(parent.block.hash())})`)
      }
      this.verifyBody(block, parent.block.header)
      this.consensus.verifyHeader(header, parent.block.header, this.headSnap, Date.now())
      const txs: SenderTx[] = block.transactions.map((tx, i) => ({ tx, sender: senders?.[i] ?? tx.getSenderAddress() }))
      const res = await this.executor.execute(this.contextOf(header, this.consensus.author(header)), txs)
      const mismatch = [
        ['state root', res.stateRoot, header.stateRoot],
        ['receipts root', res.receiptsRoot, header.receiptTrie],
        ['transactions root', res.transactionsRoot, header.transactionsTrie],
        ['logs bloom', res.logsBloom, header.logsBloom],
      ].find(([, got, want]) => !equalsBytes(got as Uint8Array, want as Uint8Array))
      if (mismatch !== undefined || res.gasUsed !== header.gasUsed) {
        await this.executor.resetTo(parent.block.header.stateRoot)
        const what = mismatch === undefined ? `gas used ${res.gasUsed}, header says ${header.gasUsed}` : `${mismatch[0]} ${bytesToHex(mismatch[1] as Uint8Array)}, header says ${bytesToHex(mismatch[2] as Uint8Array)}`
        throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number} execution mismatch: ${what}`)
      }
      const bundle: BlockBundle = {
        block,
        receipts: res.receipts,
        senders: txs.map((t) => t.sender),
        totalDifficulty: parent.totalDifficulty + header.difficulty,
      }
      await this.commitHead(bundle)
      return bundle
    })
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

  private async commitHead(bundle: BlockBundle): Promise<void> {
    await this.store.commit(bundle, this.executor.drainWrites())
    this.executor.writesFlushed()
    this.headBundle = bundle
    this.headSnap = this.consensus.apply(this.headSnap, bundle.block.header)
    this.emit('head', bundle)
  }
}
