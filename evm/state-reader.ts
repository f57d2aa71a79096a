import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, bytesToHex, setLengthLeft, type Address } from '@ethereumjs/util'
import { CallRunner, RPC_GAS_CAP, stateAt, type AccessListResult, type CallRunnerParts } from './call.ts'
import { isMissingNode, missingStateError } from './errors.ts'
import { proveAccount, type AccountProof } from './proof.ts'
import type { CallArgs, CallResult, ExecutionContext } from './types.ts'

/**
 * The Executor's read side: accounts, code and storage at a committed state root, and eth_call /
 * eth_estimateGas on this thread. Each root gets its own views (copied from the executor's state
 * manager), so reads never see or disturb the block being executed.
 */
export class StateReader {
  private readonly base: MerkleStateManager
  /** Read-only views of recent state roots (RPC reads, mempool checks). */
  private readonly readers = new Map<string, MerkleStateManager>()
  /** eth_call on the main thread (in-process readers; RPC clients' calls go to the call workers). */
  private readonly calls: CallRunner

  constructor(parts: CallRunnerParts) {
    this.base = parts.base
    this.calls = new CallRunner(parts)
  }

  /** A new state manager over the trie at `root`, with its own caches. */
  private stateAt(root: Uint8Array): Promise<MerkleStateManager> {
    return stateAt(this.base, root)
  }

  /** A read-only view of state at `root`; views of recent roots are reused. */
  private async reader(root: Uint8Array): Promise<MerkleStateManager> {
    const key = bytesToHex(root)
    let sm = this.readers.get(key)
    if (sm === undefined) {
      sm = await this.stateAt(root)
      this.readers.set(key, sm)
      if (this.readers.size > 8) this.readers.delete(this.readers.keys().next().value as string)
    }
    return sm
  }

  async getAccount(address: Address, root: Uint8Array): Promise<Account> {
    return (await pruned(root, async () => (await this.reader(root)).getAccount(address))) ?? new Account()
  }

  getCode(address: Address, root: Uint8Array): Promise<Uint8Array> {
    return pruned(root, async () => (await this.reader(root)).getCode(address))
  }

  getStorage(address: Address, slot: Uint8Array, root: Uint8Array): Promise<Uint8Array> {
    return pruned(root, async () => (await this.reader(root)).getStorage(address, setLengthLeft(slot, 32)))
  }

  /** EIP-1186 proof of an account and slots at `root` (eth_getProof). */
  getProof(address: Address, slots: Uint8Array[], root: Uint8Array): Promise<AccountProof> {
    return pruned(root, () => proveAccount(this.base, root, address, slots))
  }

  /** eth_call on this thread: runs a message on the state at `root`; nothing it writes is kept. */
  call(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<CallResult> {
    return this.calls.call(args, ctx, root, gasCap)
  }

  /** eth_estimateGas on this thread (see CallRunner.estimateGas). */
  estimateGas(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<bigint> {
    return this.calls.estimateGas(args, ctx, root, gasCap)
  }

  /** eth_createAccessList on this thread (see CallRunner.createAccessList). */
  createAccessList(args: CallArgs, ctx: ExecutionContext, root: Uint8Array, gasCap: bigint = RPC_GAS_CAP): Promise<AccessListResult> {
    return this.calls.createAccessList(args, ctx, root, gasCap)
  }
}

/**
 * A read at `root` whose trie turns out incomplete (the pruner deleted it while a view of it was
 * open, or under an old root whose root node it had not reached yet) is refused as missing state,
 * never answered from a half: the reader of that root is dropped by the caller's next miss.
 */
async function pruned<T>(root: Uint8Array, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (err) {
    if (isMissingNode(err)) throw missingStateError(root, err)
    throw err
  }
}
