import type { Block } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { Capability, type TypedTransaction } from '@ethereumjs/tx'
import { Account, Address, bytesToHex, setLengthLeft } from '@ethereumjs/util'
import { Bloom, createVM, encodeReceipt, runTx, type TxReceipt, type VM } from '@ethereumjs/vm'
import { createLogger } from '../common/logger.ts'
import { RPC_GAS_CAP, blockHashChain, createStateManager, execBlock, type AccessListResult, type BlockHashLookup } from './call.ts'
import { commonFork, createExecCommon } from './common.ts'
import { EvmError, EvmErrorCode, isMissingNode, missingStateError } from './errors.ts'
import { forkOpcodes } from './fork-opcodes.ts'
import type { TrieLevelAdapter } from './state-db.ts'
import type { AccountProof } from './proof.ts'
import { StateReader } from './state-reader.ts'
import { orderedTrieRoot } from './trie-root.ts'
import { TimeSlice } from './yield.ts'
import type {
  CallArgs,
  CallResult,
  ExecutionContext,
  ExecutionResult,
  SenderTx,
  StoredReceipt,
  TxSource,
} from './types.ts'

const log = createLogger('evm')

export interface GenesisAccountState {
  balance: bigint
  nonce: bigint
  code: Uint8Array | undefined
  storage: Array<[slot: Uint8Array, value: Uint8Array]>
}

export interface ExecutorModules {
  /** The chain's Common (Clique format); the executor derives its execution Common from it. */
  common: Common
  db: TrieLevelAdapter
  /** Canonical block hash by number, for BLOCKHASH. */
  blockHash: BlockHashLookup
}

export interface BuildLimits {
  /** Stop adding transactions at this time (ms since epoch), so sealing keeps its period. */
  deadline: number
}

/** Blocks between clears of the state caches (see finish). */
const CACHE_CLEAR_BLOCKS = 256

export { RPC_GAS_CAP }

function effectiveGasPrice(tx: TypedTransaction, baseFee: bigint): bigint {
  if (tx.supports(Capability.EIP1559FeeMarket)) {
    const t = tx as TypedTransaction & { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
    const tip = t.maxFeePerGas - baseFee < t.maxPriorityFeePerGas ? t.maxFeePerGas - baseFee : t.maxPriorityFeePerGas
    return baseFee + tip
  }
  return (tx as TypedTransaction & { gasPrice: bigint }).gasPrice
}

/**
 * Runs transactions over the Merkle state in LevelDB. One code path executes both the blocks
 * this node builds and the blocks it imports, so the two can never disagree on a root.
 * Not re-entrant: the chain serialises every call that writes state.
 */
export class Executor {
  readonly common: Common
  private readonly execCommon: Common
  private readonly db: TrieLevelAdapter
  private readonly vm: VM
  private headRoot: Uint8Array
  private blocksSinceCacheClear = 0
  /** Reads of committed state and eth_call on this thread (state-reader.ts). */
  private readonly state: StateReader

  private constructor(modules: ExecutorModules, vm: VM, execCommon: Common, root: Uint8Array) {
    this.common = modules.common
    this.execCommon = execCommon
    this.db = modules.db
    this.vm = vm
    this.headRoot = root
    this.state = new StateReader({ execCommon, base: vm.stateManager as MerkleStateManager, blockchain: vm.blockchain })
  }

  static async create(modules: ExecutorModules): Promise<Executor> {
    const execCommon = createExecCommon(modules.common.chainId(), commonFork(modules.common))
    const stateManager = await createStateManager(modules.db, execCommon)
    const evmOpts = { customOpcodes: forkOpcodes(commonFork(modules.common)) }
    const vm = await createVM({ common: execCommon, stateManager, blockchain: blockHashChain(modules.blockHash), evmOpts })
    return new Executor(modules, vm, execCommon, await stateManager.getStateRoot())
  }

  /** Root of the writable state: the last executed block's, committed or not yet. */
  get stateRoot(): Uint8Array {
    return this.headRoot
  }

  /** Point the writable state at a committed root (start-up, after a failed import). */
  async resetTo(root: Uint8Array): Promise<void> {
    this.db.discard()
    if (!(await this.vm.stateManager.hasStateRoot(root))) {
      throw missingStateError(root)
    }
    await this.vm.stateManager.setStateRoot(root, true)
    this.headRoot = root
  }

  /** Writes the genesis allocation and returns its state root. */
  async applyGenesis(alloc: Map<string, GenesisAccountState>): Promise<Uint8Array> {
    const sm = this.vm.stateManager
    for (const [addr, acc] of alloc) {
      const address = new Address(Buffer.from(addr.slice(2), 'hex'))
      await sm.putAccount(address, new Account(acc.nonce, acc.balance))
      if (acc.code !== undefined && acc.code.length > 0) await sm.putCode(address, acc.code)
      for (const [slot, value] of acc.storage) {
        await sm.putStorage(address, setLengthLeft(slot, 32), value)
      }
    }
    await sm.checkpoint()
    await sm.commit()
    this.headRoot = await sm.getStateRoot()
    return this.headRoot
  }

  private execBlock(ctx: ExecutionContext): Block {
    return execBlock(ctx, this.execCommon)
  }

  /**
   * Builds a block body from `source`: each transaction runs in turn; one that cannot run
   * (stale nonce, no funds for gas) is left out with the rest of its sender's queue.
   */
  async build(ctx: ExecutionContext, source: TxSource, limits: BuildLimits): Promise<ExecutionResult> {
    const block = this.execBlock(ctx)
    // One journal checkpoint for the whole block: transaction commits then stay in the caches
    // and the trie is written and hashed once per block, not once per transaction.
    await this.vm.evm.journal.checkpoint()
    const included: SenderTx[] = []
    const receipts: StoredReceipt[] = []
    const txReceipts: TxReceipt[] = []
    let gasUsed = 0n
    for await (const item of source) {
      if (Date.now() >= limits.deadline) break
      const remaining = ctx.gasLimit - gasUsed
      if (remaining < 21_000n) break
      if (item.tx.gasLimit > remaining) {
        source.skipSender(item.sender)
        continue
      }
      try {
        const r = await this.runOne(block, item, gasUsed)
        gasUsed += r.receipt.gasUsed
        included.push(item)
        receipts.push(r.receipt)
        txReceipts.push(r.txReceipt)
      } catch (err) {
        // A transaction the parent block already included is stale, not broken: the pool may
        // not have caught up with the new head when building starts. Leave just it out and go
        // on with the sender's next nonce (skipping the sender emptied whole blocks).
        const account = await this.vm.stateManager.getAccount(item.sender)
        if (item.tx.nonce < (account?.nonce ?? 0n)) continue
        log.debug('Left transaction out of block', { hash: item.tx.hash(), sender: item.sender.toString() }, err)
        source.skipSender(item.sender)
      }
    }
    return this.finish(ctx, included, receipts, txReceipts, gasUsed)
  }

  /** Executes an imported block's transactions; any failure makes the block invalid. */
  async execute(ctx: ExecutionContext, txs: SenderTx[]): Promise<ExecutionResult> {
    const block = this.execBlock(ctx)
    await this.vm.evm.journal.checkpoint()
    const receipts: StoredReceipt[] = []
    const txReceipts: TxReceipt[] = []
    let gasUsed = 0n
    const slice = new TimeSlice()
    for (const [i, item] of txs.entries()) {
      if (slice.due()) await slice.yield()
      if (item.tx.gasLimit > ctx.gasLimit - gasUsed) {
        await this.abandonBlock()
        throw new EvmError(EvmErrorCode.INVALID_BLOCK_TX, `transaction ${i} exceeds the block's remaining gas`)
      }
      try {
        const r = await this.runOne(block, item, gasUsed)
        gasUsed += r.receipt.gasUsed
        receipts.push(r.receipt)
        txReceipts.push(r.txReceipt)
      } catch (err) {
        await this.abandonBlock()
        // The parent's state was pruned under the import: not the block's fault.
        if (isMissingNode(err)) throw missingStateError(this.headRoot, err)
        throw new EvmError(EvmErrorCode.INVALID_BLOCK_TX, `transaction ${i} (${bytesToHex(item.tx.hash())}) is invalid: ${(err as Error).message}`, undefined, err)
      }
    }
    return this.finish(ctx, txs, receipts, txReceipts, gasUsed)
  }

  private async runOne(block: Block, item: SenderTx, blockGasUsed: bigint): Promise<{ receipt: StoredReceipt; txReceipt: TxReceipt }> {
    const res = await runTx(this.vm, {
      tx: item.tx,
      block,
      blockGasUsed,
      skipHardForkValidation: true,
      skipBlockGasLimitValidation: true,
    })
    const cumulative = blockGasUsed + res.totalGasSpent
    const logs = (res.execResult.logs ?? []) as StoredReceipt['logs']
    const status: 0 | 1 = res.execResult.exceptionError === undefined ? 1 : 0
    const txReceipt: TxReceipt = { status, cumulativeBlockGasUsed: cumulative, bitvector: res.bloom.bitvector, logs }
    return {
      txReceipt,
      receipt: {
        status,
        cumulativeGasUsed: cumulative,
        gasUsed: res.totalGasSpent,
        logsBloom: res.bloom.bitvector,
        logs,
        contractAddress: res.createdAddress?.bytes,
        effectiveGasPrice: effectiveGasPrice(item.tx, block.header.baseFeePerGas ?? 0n),
      },
    }
  }

  /** Drops a block's uncommitted changes and returns to the last committed root. */
  private async abandonBlock(): Promise<void> {
    await this.vm.evm.journal.revert()
    await this.resetTo(this.headRoot)
  }

  private async finish(ctx: ExecutionContext, txs: SenderTx[], receipts: StoredReceipt[], txReceipts: TxReceipt[], gasUsed: bigint): Promise<ExecutionResult> {
    const sm = this.vm.stateManager
    for (const w of ctx.systemWrites ?? []) {
      for (const [slot, value] of w.entries) await sm.putStorage(w.address, slot, value)
    }
    if (ctx.reward !== undefined && ctx.reward > 0n) {
      const account = (await sm.getAccount(ctx.author)) ?? new Account()
      account.balance += ctx.reward
      await sm.putAccount(ctx.author, account)
    }
    await this.vm.evm.journal.commit()
    const stateRoot = await sm.getStateRoot()
    this.headRoot = stateRoot
    // The ordered-map caches never evict; everything is flushed into the trie by now, so drop
    // them now and then to keep a long-running node's memory bounded.
    if (++this.blocksSinceCacheClear >= CACHE_CLEAR_BLOCKS) {
      sm.clearCaches()
      this.blocksSinceCacheClear = 0
    }
    const bloom = new Bloom()
    for (const r of receipts) bloom.or(new Bloom(r.logsBloom))
    return {
      txs,
      receipts,
      gasUsed,
      logsBloom: bloom.bitvector,
      stateRoot,
      receiptsRoot: orderedTrieRoot(txReceipts.map((r, i) => encodeReceipt(r, txs[i]!.tx.type))),
    }
  }

  /** State writes since the last drain, for the chain store's block batch. */
  drainWrites(): ReturnType<TrieLevelAdapter['drain']> {
    return this.db.drain()
  }

  /** The drained writes are in LevelDB now. */
  writesFlushed(): void {
    this.db.flushed()
  }

  // ---- state reads and calls: state-reader.ts ----

  getAccount(address: Address, root: Uint8Array): Promise<Account> {
    return this.state.getAccount(address, root)
  }

  getCode(address: Address, root: Uint8Array): Promise<Uint8Array> {
    return this.state.getCode(address, root)
  }

  getStorage(address: Address, slot: Uint8Array, root: Uint8Array): Promise<Uint8Array> {
    return this.state.getStorage(address, slot, root)
  }

  /** EIP-1186 proof of an account and storage slots at `root` (eth_getProof). */
  getProof(address: Address, slots: Uint8Array[], root: Uint8Array): Promise<AccountProof> {
    return this.state.getProof(address, slots, root)
  }

  /** eth_call on this thread: runs a message on the state at `root`; nothing it writes is kept. */
  call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<CallResult> {
    return this.state.call(args, ctx, root, gasCap)
  }

  /** eth_estimateGas on this thread (see CallRunner.estimateGas). */
  estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<bigint> {
    return this.state.estimateGas(args, ctx, root, gasCap)
  }

  /** eth_createAccessList on this thread (see CallRunner.createAccessList). */
  createAccessList(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<AccessListResult> {
    return this.state.createAccessList(args, ctx, root, gasCap)
  }
}
