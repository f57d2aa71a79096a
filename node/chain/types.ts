import type { Block } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'

export type { RawLog, StoredReceipt } from '../../evm/types.ts'
import type { StoredReceipt } from '../../evm/types.ts'

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

/** What importing a block did: it became the head, caused a reorg, joined a side chain, or was known. */
export interface ImportResult {
  bundle: BlockBundle
  status: 'head' | 'reorg' | 'side' | 'known'
}

/** A reorganisation: blocks that left the canonical chain (newest first) and joined it (oldest first). */
export interface ReorgEvent {
  removed: BlockBundle[]
  added: BlockBundle[]
}

/** Each block handed to `importBlock` (gossip, sync): what it did, or the refusal's code, and how long it took. */
export interface ImportEvent {
  status: ImportResult['status'] | 'failed'
  /** The error code when it failed (e.g. UNKNOWN_PARENT, INVALID_BLOCK). */
  code?: string
  /** From the call to the result, chain lock wait included. */
  seconds: number
}
