import type { Block } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'

/** A log as the EVM emits it: [address, topics, data]. */
export type RawLog = [address: Uint8Array, topics: Uint8Array[], data: Uint8Array]

/** What the chain store keeps per transaction, beside the block body. */
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

/** A block with everything needed to answer RPC about it without touching state. */
export interface BlockBundle {
  block: Block
  receipts: StoredReceipt[]
  /** Sender of each transaction, in block order. */
  senders: Address[]
  /** Sum of difficulties from genesis to this block. */
  totalDifficulty: bigint
}

/** Emitted once per block that becomes the canonical head. */
export type HeadEvent = BlockBundle
