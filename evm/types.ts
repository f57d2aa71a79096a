import type { TypedTransaction } from '@ethereumjs/tx'
import type { Address } from '@ethereumjs/util'

/** A log as the EVM emits it: [address, topics, data]. */
export type RawLog = [address: Uint8Array, topics: Uint8Array[], data: Uint8Array]

/** The execution outcome of one transaction, as the chain store keeps it. */
export interface StoredReceipt {
  /** 1 success, 0 failure (post-Byzantium). */
  status: 0 | 1
  cumulativeGasUsed: bigint
  gasUsed: bigint
  logsBloom: Uint8Array
  logs: RawLog[]
  /** Set when the transaction created a contract. */
  contractAddress: Uint8Array | undefined
  /** Price per gas actually paid (base fee + effective tip). */
  effectiveGasPrice: bigint
}

/** A transaction whose sender was recovered once, upstream (mempool workers or import). */
export interface SenderTx {
  tx: TypedTransaction
  sender: Address
}

/** What the EVM sees of the block it runs in. */
export interface ExecutionContext {
  number: bigint
  timestamp: bigint
  gasLimit: bigint
  baseFeePerGas: bigint
  difficulty: bigint
  /** The block's author: COINBASE returns it and it receives the priority fees. */
  author: Address
  /**
   * Storage the node itself writes after the block's transactions, before the state root:
   * the AuthoritySet system contract following consensus. Same input, same root, on every node.
   */
  systemWrites?: SystemWrite[]
  /** Wei credited to the author after the transactions (the PoW block reward); none when absent. */
  reward?: bigint
}

/** Storage writes to one contract; a value of 32 zero bytes clears the slot. */
export interface SystemWrite {
  address: Address
  entries: Array<[slot: Uint8Array, value: Uint8Array]>
}

export interface ExecutionResult {
  txs: SenderTx[]
  receipts: StoredReceipt[]
  gasUsed: bigint
  logsBloom: Uint8Array
  stateRoot: Uint8Array
  receiptsRoot: Uint8Array
}

/**
 * Candidate transactions for block building, in the order the pool prefers. It may be async
 * and wait for transactions still arriving, until the builder's deadline.
 */
export type TxSource = (Iterable<SenderTx> | AsyncIterable<SenderTx>) & TxSourceControl
export interface TxSourceControl {
  /** The builder could not include this sender's next transaction: skip the rest of its queue. */
  skipSender(sender: Address): void
}

export interface CallArgs {
  from?: Address
  to?: Address
  data?: Uint8Array
  value?: bigint
  gas?: bigint
  gasPrice?: bigint
  /** EIP-2930: warmed before the call and charged as intrinsic gas, as a type-1 transaction. */
  accessList?: AccessListEntry[]
  /** EIP-7702 tuples, applied before the call as a set-code transaction applies them. */
  authorizationList?: CallAuthorization[]
  /** geth's state overrides, for this call only. */
  stateOverrides?: StateOverrides
  /** geth's block overrides, for this call only. */
  blockOverrides?: BlockOverrides
}

export interface AccessListEntry {
  address: Uint8Array
  storageKeys: Uint8Array[]
}

export interface CallResult {
  returnValue: Uint8Array
  gasUsed: bigint
  /** Set when execution failed; `reverted` means REVERT with returnValue as revert data. */
  error: { reverted: boolean; message: string } | undefined
}

/* Call extras (geth's eth_call parameters): plain data, so a call worker gets them by structured clone. */

/** A signed authorization tuple, as `authorizationList` carries it. */
export interface CallAuthorization {
  chainId: bigint
  address: Uint8Array
  nonce: bigint
  yParity: bigint
  r: bigint
  s: bigint
}

/** One account's override; `state` replaces the whole storage, `stateDiff` sets some slots. */
export interface AccountOverride {
  balance?: bigint
  nonce?: bigint
  code?: Uint8Array
  state?: Array<[slot: Uint8Array, value: Uint8Array]>
  stateDiff?: Array<[slot: Uint8Array, value: Uint8Array]>
  /** geth's movePrecompileToAddress: the precompile at this account's address is served from there instead. */
  movePrecompileToAddress?: Uint8Array
}

export type StateOverrides = Array<{ address: Uint8Array; account: AccountOverride }>

/** geth's BlockOverrides as eth_call takes them (the 4th parameter). */
export interface BlockOverrides {
  number?: bigint
  difficulty?: bigint
  time?: bigint
  gasLimit?: bigint
  feeRecipient?: Uint8Array
  prevRandao?: Uint8Array
  baseFeePerGas?: bigint
}
