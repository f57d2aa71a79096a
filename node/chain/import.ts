import { Block, type BlockHeader } from '@ethereumjs/block'
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { bytesToHex, equalsBytes, type Address } from '@ethereumjs/util'
import { errorMessage } from '../../common/errors.ts'
import { keccak256 } from '../../common/keccak.ts'
import { createLogger } from '../../common/logger.ts'
import { TimeSlice, commonFork, orderedTrieRoot, transactionsRoot, txTypeRefusal, type ExecutionContext, type SenderTx } from '../../evm/index.ts'
import type { BlockBytes } from './block-bytes.ts'
import { authorityWrites, contextOf, type ChainCore } from './core.ts'
import { ChainError, ChainErrorCode } from './errors.ts'
import type { BlockBundle, ImportResult } from './types.ts'

const log = createLogger('chain')

/**
 * Blocks checked already, so import does not check them again: a gossiped block's transactions
 * root is checked over its bytes by precheck (for the relay) and the block decoded from them
 * carries that check to its import.
 */
export interface ImportMarks {
  /** Blocks whose transactions root was checked (precheck for relay, then import). */
  readonly txRootChecked: WeakSet<Block>
  /** Gossiped blocks that passed precheck, transactions root included. */
  readonly prechecked: WeakSet<BlockBytes>
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
export async function decodePrechecked(core: ChainCore, marks: ImportMarks, parsed: BlockBytes, known?: (hash: Uint8Array) => TypedTransaction | undefined): Promise<Block> {
  const { header } = parsed
  if (parsed.uncles > 0) throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: uncles are not allowed`)
  const txs: TypedTransaction[] = []
  const slice = new TimeSlice()
  for (const [i, bytes] of parsed.transactions.entries()) {
    if (slice.due()) await slice.yield()
    const hash = keccak256(bytes)
    let tx = known?.(hash)
    if (tx === undefined) {
      const refused = bytes[0]! < 0x80 ? txTypeRefusal(bytes[0]!, commonFork(core.store.decodeCommon)) : undefined
      if (refused !== undefined) throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transaction ${i}: ${refused}`)
      try {
        tx = createTxFromRLP(bytes, { common: core.store.decodeCommon })
      } catch (err) {
        throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transaction ${i}: ${errorMessage(err)}`, undefined, err)
      }
      if (!equalsBytes(tx.serialize(), bytes)) throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transaction ${i} is not canonically encoded`)
      tx.cache.hash = hash
    }
    txs.push(tx)
  }
  const block = new Block(header, txs, [], undefined, { common: core.store.decodeCommon, setHardfork: false })
  if (marks.prechecked.has(parsed)) marks.txRootChecked.add(block)
  core.store.adoptEncoding(block, parsed.bytes)
  return block
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
export async function precheck(core: ChainCore, marks: ImportMarks, block: BlockBytes, importingParent?: BlockHeader): Promise<'known' | 'ok'> {
  const { header, hash } = block
  // From memory near the head: a LevelDB read here waited behind the import's writes (up to
  // 180 ms at a loaded node). A block stored before a restart may so be relayed once more; its
  // import then finds it stored.
  const nearHead = header.number + 64n > core.head().block.header.number
  if (nearHead ? core.store.wroteRecently(hash) : await core.store.hasBlock(hash)) return 'known'
  const parent = importingParent !== undefined && equalsBytes(importingParent.hash(), header.parentHash) ? importingParent : (await core.store.bundle(header.parentHash))?.block.header
  if (parent === undefined) {
    throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} has an unknown parent ${bytesToHex(header.parentHash)}: sync its ancestors first`)
  }
  verifyBody(header, block.uncles, parent)
  core.consensus.verifyHeader(header, parent, await core.snapshots.at(parent), Date.now())
  // Over the encodings as received: no transaction objects, nothing re-encoded.
  checkRoot(header, orderedTrieRoot(block.transactions))
  marks.prechecked.add(block)
  return 'ok'
}

/**
 * The body belongs to the sealed header: its transactions root matches. Remembered per block
 * object (blocks are frozen): a block built by decodePrechecked from bytes whose root precheck
 * checked is not hashed again at import.
 */
function checkTransactionsRoot(marks: ImportMarks, block: Block): void {
  if (marks.txRootChecked.has(block)) return
  checkRoot(block.header, transactionsRoot(block.transactions))
  marks.txRootChecked.add(block)
}

function checkRoot(header: BlockHeader, root: Uint8Array): void {
  if (!equalsBytes(root, header.transactionsTrie)) {
    throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number}: transactions root ${bytesToHex(root)}, header says ${bytesToHex(header.transactionsTrie)}`)
  }
}

/**
 * Verifies, executes and stores a block whose parent is known, then applies fork choice (under
 * the chain's lock): it becomes the head (extending it, or by a reorg onto its branch) or stays
 * on a side chain. Senders may be given when already recovered (mempool workers).
 */
export async function importLocked(core: ChainCore, marks: ImportMarks, block: Block, senders?: Address[]): Promise<ImportResult> {
  const header = block.header
  const hash = block.hash()
  const known = await core.store.bundle(hash)
  if (known !== undefined) return { bundle: known, status: 'known' }
  const parent = await core.store.bundle(header.parentHash)
  if (parent === undefined) {
    throw new ChainError(ChainErrorCode.UNKNOWN_PARENT, `block ${header.number} has an unknown parent ${bytesToHex(header.parentHash)}: sync its ancestors first`)
  }
  verifyBody(header, block.uncleHeaders.length, parent.block.header)
  const parentSnap = await core.snapshots.at(parent.block.header)
  core.consensus.verifyHeader(header, parent.block.header, parentSnap, Date.now())
  checkTransactionsRoot(marks, block)
  const snap = core.consensus.apply(parentSnap, header)
  const txs: SenderTx[] = block.transactions.map((tx, i) => ({ tx, sender: senders?.[i] ?? tx.getSenderAddress() }))
  const ctx: ExecutionContext = {
    ...contextOf(header, core.consensus.author(header)),
    reward: core.consensus.blockReward(header.number),
    systemWrites: authorityWrites(core, core.consensus.authorities(parentSnap), core.consensus.authorities(snap)),
  }
  const headRoot = core.head().block.header.stateRoot
  if (!equalsBytes(core.executor.stateRoot, parent.block.header.stateRoot)) await core.executor.resetTo(parent.block.header.stateRoot)
  let res
  try {
    res = await core.executor.execute(ctx, txs)
  } catch (err) {
    await core.executor.resetTo(headRoot)
    throw err
  }
  const mismatch = [
    ['state root', res.stateRoot, header.stateRoot],
    ['receipts root', res.receiptsRoot, header.receiptTrie],
    ['logs bloom', res.logsBloom, header.logsBloom],
  ].find(([, got, want]) => !equalsBytes(got as Uint8Array, want as Uint8Array))
  if (mismatch !== undefined || res.gasUsed !== header.gasUsed) {
    await core.executor.resetTo(headRoot)
    const what = mismatch === undefined ? `gas used ${res.gasUsed}, header says ${header.gasUsed}` : `${mismatch[0]} ${bytesToHex(mismatch[1] as Uint8Array)}, header says ${bytesToHex(mismatch[2] as Uint8Array)}`
    throw new ChainError(ChainErrorCode.INVALID_BLOCK, `block ${header.number} execution mismatch: ${what}`)
  }
  const bundle: BlockBundle = {
    block,
    receipts: res.receipts,
    senders: txs.map((t) => t.sender),
    totalDifficulty: parent.totalDifficulty + header.difficulty,
  }
  const head = core.head()
  const extendsHead = equalsBytes(header.parentHash, head.block.hash())
  const headParent = extendsHead ? undefined : await core.store.bundle(head.block.header.parentHash)
  const better =
    extendsHead ||
    core.consensus.isBetterHead(
      { header, totalDifficulty: bundle.totalDifficulty, parentSnap },
      { header: head.block.header, totalDifficulty: head.totalDifficulty, parentSnap: headParent === undefined ? core.headSnap() : await core.snapshots.at(headParent.block.header) },
    )
  const writes = core.executor.drainWrites()
  if (!better) {
    await core.store.commit(bundle, writes, 'side')
    core.executor.writesFlushed()
    await core.snapshots.remember(snap)
    await core.executor.resetTo(headRoot)
    return { bundle, status: 'side' }
  }
  if (extendsHead) {
    await core.store.commit(bundle, writes)
    core.executor.writesFlushed()
    await core.setHead(bundle, snap)
    return { bundle, status: 'head' }
  }
  const { removed, added } = await branches(core, head, bundle)
  await core.store.commit(bundle, writes, { add: added.map((b) => b.block), remove: removed.map((b) => b.block) })
  core.executor.writesFlushed()
  log.info('Chain reorganised', { from: head.block.header.number, to: header.number, dropped: removed.length, added: added.length })
  // After the new head is in place, so listeners (the mempool taking back the dropped
  // branch's transactions) see the state they must be checked against.
  await core.setHead(bundle, snap)
  core.reorged({ removed, added })
  return { bundle, status: 'reorg' }
}

/** The blocks leaving and joining the canonical chain when `to` replaces `from` as head. */
async function branches(core: ChainCore, from: BlockBundle, to: BlockBundle): Promise<{ removed: BlockBundle[]; added: BlockBundle[] }> {
  const removed: BlockBundle[] = []
  const added: BlockBundle[] = []
  let a: BlockBundle = from
  let b: BlockBundle = to
  const parentOf = async (x: BlockBundle): Promise<BlockBundle> => {
    const p = await core.store.bundle(x.block.header.parentHash)
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
function verifyBody(h: BlockHeader, uncles: number, parent: BlockHeader): void {
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
