import type { BlockHeader } from '@ethereumjs/block'
import type { Common } from '@ethereumjs/common'
import { Address } from '@ethereumjs/util'
import { AUTHORITY_SET_ADDRESS, authoritySetStorageUpdate } from '../../contracts/index.ts'
import type { Consensus, Snapshot } from '../../consensus/index.ts'
import type { ExecutionContext, Executor, SystemWrite } from '../../evm/index.ts'
import type { SnapshotCache } from './snapshots.ts'
import type { ChainStore } from './store.ts'
import type { BlockBundle, ReorgEvent } from './types.ts'

/**
 * The chain's parts that building (build.ts) and importing (import.ts) work on. The Chain holds
 * them and runs those steps one at a time; the head is read and moved only through here.
 */
export interface ChainCore {
  readonly common: Common
  readonly consensus: Consensus
  readonly store: ChainStore
  readonly executor: Executor
  readonly snapshots: SnapshotCache
  /** Whether the AuthoritySet predeploy is in the genesis, so the node keeps it in step. */
  readonly followAuthorities: boolean
  head(): BlockBundle
  /** The consensus snapshot after the head. */
  headSnap(): Snapshot
  /** Makes `bundle` the head (its snapshot remembered, 'head' emitted). */
  setHead(bundle: BlockBundle, snap: Snapshot): Promise<void>
  /** A reorg happened (after the new head is in place): 'reorg' emitted. */
  reorged(ev: ReorgEvent): void
}

/** The execution context of block `header`'s successor or of `header` itself. */
export function contextOf(header: BlockHeader, author: Address): ExecutionContext {
  return {
    number: header.number,
    timestamp: header.timestamp,
    gasLimit: header.gasLimit,
    baseFeePerGas: header.baseFeePerGas ?? 0n,
    difficulty: header.difficulty,
    author,
  }
}

/** AuthoritySet storage writes turning `prev` signers into `next` (none when unchanged or fixed). */
export function authorityWrites(core: ChainCore, prev: string[] | undefined, next: string[] | undefined): SystemWrite[] | undefined {
  if (!core.followAuthorities || prev === undefined || next === undefined || prev.join() === next.join()) return undefined
  const bytes = (xs: string[]) => xs.map((a) => new Uint8Array(Buffer.from(a.slice(2), 'hex')))
  return [{ address: new Address(Buffer.from(AUTHORITY_SET_ADDRESS.slice(2), 'hex')), entries: authoritySetStorageUpdate(bytes(prev), bytes(next)) }]
}
