import type { BlockHeader } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'

/** Header fields a consensus engine decides when a block is prepared for sealing. */
export interface PreparedHeader {
  coinbase: Address
  difficulty: bigint
  nonce: Uint8Array
  mixHash: Uint8Array
  /** extraData with the seal bytes zeroed; `seal` fills them in. */
  extraData: Uint8Array
  timestamp: bigint
}

/**
 * The consensus engine seen by the rest of the node (modelled on ethereumjs' Consensus):
 * pure rules over headers, no I/O. The chain keeps the engine's per-block state
 * (`Snapshot`) and passes it in.
 */
export interface Consensus<Snapshot> {
  readonly algorithm: 'poa'
  /** Snapshot at the genesis block. */
  genesisSnapshot(genesis: BlockHeader): Snapshot
  /** Snapshot after `header`, given the snapshot at its parent. */
  apply(parentSnap: Snapshot, header: BlockHeader): Snapshot
  /** Throws ConsensusError when `header` may not follow `parent` (snapshot at parent). */
  verifyHeader(header: BlockHeader, parent: BlockHeader, parentSnap: Snapshot, now: number): void
  /** The block's author (signer under PoA): fees and COINBASE go to it. */
  author(header: BlockHeader): Address
  /** When and how `signer` may seal the next block, or why not. */
  sealPlan(signer: Address, parent: BlockHeader, parentSnap: Snapshot, now: number): SealPlan
  /** Header fields for the next block by `signer`. */
  prepare(signer: Address, parent: BlockHeader, parentSnap: Snapshot, now: number): PreparedHeader
  /** Signs a prepared header, returning its final extraData. */
  seal(header: BlockHeader, privateKey: Uint8Array): Uint8Array
  /** Fork choice: whether head `a` should replace head `b`. */
  isBetterHead(a: HeadCandidate<Snapshot>, b: HeadCandidate<Snapshot>): boolean
}

/** A chain head as fork choice sees it. */
export interface HeadCandidate<Snapshot> {
  header: BlockHeader
  totalDifficulty: bigint
  /** The consensus state the header was sealed under. */
  parentSnap: Snapshot
}

export type SealPlan =
  | { canSeal: true; /** ms to wait before sealing (period, out-of-turn wiggle) */ delayMs: number; inTurn: boolean }
  | { canSeal: false; reason: string }
