import { Block, createBlockHeader, type BlockHeader, type HeaderData } from '@ethereumjs/block'
import { equalsBytes, type Address } from '@ethereumjs/util'
import type { Proposal, SealFields } from '../../consensus/index.ts'
import { transactionsRoot, type ExecutionContext, type Executor, type SenderTx, type TxSource } from '../../evm/index.ts'
import type { AuthorityKey } from '../config/index.ts'
import { authorityWrites, type ChainCore } from './core.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import type { BlockBundle } from './types.ts'

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

/** Executes the next block on the head and returns it unsealed (under the chain's lock). */
export async function buildOnHead(core: ChainCore, opts: BuildOptions): Promise<PendingBlock> {
  const parent = core.head()
  const parentHeader = parent.block.header
  const now = opts.now ?? Date.now()
  // The head may have moved (an import) since the producer planned this block.
  const plan = core.consensus.sealPlan(opts.author, parentHeader, core.headSnap(), now)
  if (!plan.canSeal) throw new ChainError(ChainErrorCode.CANNOT_SEAL, `cannot seal on block ${parentHeader.number}: ${plan.reason}`)
  const prep = core.consensus.prepare(opts.author, parentHeader, core.headSnap(), now, opts.vote)
  const number = parentHeader.number + 1n
  const baseFee = parentHeader.calcNextBaseFee()
  const ctx: ExecutionContext = {
    number,
    timestamp: prep.timestamp,
    gasLimit: parentHeader.gasLimit,
    baseFeePerGas: baseFee,
    difficulty: prep.difficulty,
    author: opts.author,
    reward: core.consensus.blockReward(number),
    systemWrites: authorityWrites(core, core.consensus.authorities(core.headSnap()), core.consensus.authoritiesAfter(core.headSnap(), number, opts.author, prep)),
  }
  // A built block that was never sealed (the sealer gave up) left the executor on its state.
  if (!equalsBytes(core.executor.stateRoot, parentHeader.stateRoot)) await core.executor.resetTo(parentHeader.stateRoot)
  const res = await core.executor.build(ctx, opts.source, { deadline: opts.deadline })
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
  const header = createBlockHeader(fields, { common: core.common, setHardfork: false })
  // The state writes travel with the block until it is committed (or dropped).
  return { parent, header, fields, txs: res.txs, receipts: res.receipts, writes: core.executor.drainWrites() }
}

/** Seals and commits a built block if its parent is still the head (under the chain's lock); undefined when the head moved on. */
export async function commitPending(core: ChainCore, pending: PendingBlock, seal: SealFields): Promise<BlockBundle | undefined> {
  if (!equalsBytes(pending.parent.block.hash(), core.head().block.hash())) return undefined
  const blockOpts = { common: core.common, setHardfork: false }
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
  const snap = core.consensus.apply(core.headSnap(), header)
  await core.store.commit(bundle, pending.writes)
  core.executor.writesFlushed()
  if (!equalsBytes(core.executor.stateRoot, header.stateRoot)) await core.executor.resetTo(header.stateRoot)
  await core.setHead(bundle, snap)
  return bundle
}
