import type { BlockHeader } from '@ethereumjs/block'
import type { Address } from '@ethereumjs/util'

/** Header fields a consensus engine decides when a block is prepared for sealing. */
export interface PreparedHeader {
  coinbase: Address
  difficulty: bigint
  nonce: Uint8Array
  mixHash: Uint8Array
  /** extraData with the seal bytes zeroed (PoA); `seal` fills them in. */
  extraData: Uint8Array
  timestamp: bigint
}

/** Consensus state after a block; engines extend it (PoA: signers, votes). */
export interface Snapshot {
  number: bigint
  hash: Uint8Array
}

/** The consensus rules of a chain, as chosen in its genesis. */
export type ConsensusConfig =
  | { engine: 'poa'; /** seconds between blocks */ period: number; /** blocks between checkpoints */ epoch: bigint }
  | {
      engine: 'pow'
      /** Seconds between blocks the difficulty adjustment aims for. */
      targetBlockTime: number
      /** Wei credited to a block's miner on top of the fees. */
      blockReward: bigint
      /** Difficulty never drops below this. */
      minimumDifficulty: bigint
    }

/** Who produces blocks on this node: the author address, its key (PoA), mining threads (PoW). */
export interface SealerKey {
  address: Address
  privateKey?: Uint8Array
  threads?: number
}

/** Header fields the seal sets on a prepared header. */
export type SealFields = Partial<Pick<PreparedHeader, 'extraData' | 'nonce' | 'mixHash'>>

/** Seals prepared headers: a signature (PoA) or a proof of work found by worker threads (PoW). */
export interface Sealer {
  /** The seal for `header`, or undefined when `signal` aborted first. */
  seal(header: BlockHeader, signal: AbortSignal): Promise<SealFields | undefined>
  /** The only author this sealer can seal for (PoA: its key's address); any when absent. */
  readonly author?: Address
  /** Hashes per second over the last seconds (0 for engines that do not hash). */
  hashrate(): number
  /**
   * How long a block collects transactions before it is sealed, when the engine says so: 0 (a
   * miner) takes what is pending and seals, hashing is the wait. Otherwise the producer's
   * period-based window applies.
   */
  readonly buildWindowMs?: number
  /** Re-prepare the block this often while sealing takes long, to take in new transactions. */
  readonly recommitMs?: number
  close(): Promise<void>
}

/** A signer vote (clique_propose): add or drop `address`. */
export interface Proposal {
  address: string
  authorize: boolean
}

/** Authority voting (EIP-225 clique_*), for engines that have an authority set. */
export interface Voting {
  /** The vote to carry in block `number`, among the operator's proposals. */
  pickVote(snap: Snapshot, number: bigint, proposals: readonly Proposal[]): Proposal | undefined
  /** The authorised signers, sorted. */
  signers(snap: Snapshot): string[]
  /** geth's clique_getSnapshot JSON. */
  snapshotJson(snap: Snapshot): unknown
  /** Whether `header` was sealed in turn. */
  inTurn(header: BlockHeader): boolean
}

/**
 * The consensus engine seen by the rest of the node (modelled on ethereumjs' Consensus and
 * geth's consensus.Engine): pure rules over headers, no I/O except a sealer's own threads. The
 * chain keeps the engine's per-block state (`Snapshot`) and passes it in. Nothing outside
 * consensus/ asks which engine runs; engine-specific powers are optional members (`voting`).
 */
export interface Consensus<S extends Snapshot = Snapshot> {
  readonly algorithm: 'poa' | 'pow'
  /** Seconds between blocks the engine aims for (PoA period, PoW target). */
  readonly blockTime: number
  /** The consensus section of the ethereumjs Common that headers are built with. */
  readonly commonConsensus: Record<string, unknown>
  /** Present when the engine votes on an authority set. */
  readonly voting?: Voting
  /** The genesis block's extraData for a vanity and the genesis authority list. */
  genesisExtraData(vanity: Uint8Array, authorities: Uint8Array[]): Uint8Array
  /** Snapshot at the genesis block. */
  genesisSnapshot(genesis: BlockHeader): S
  /** Snapshot after `header`, given the snapshot at its parent. */
  apply(parentSnap: S, header: BlockHeader): S
  encodeSnapshot(snap: S): Uint8Array
  decodeSnapshot(bytes: Uint8Array): S
  /** Throws ConsensusError when `header` may not follow `parent` (snapshot at parent). */
  verifyHeader(header: BlockHeader, parent: BlockHeader, parentSnap: S, now: number): void
  /** The block's author (signer under PoA, miner under PoW): fees, reward and COINBASE go to it. */
  author(header: BlockHeader): Address
  /** Wei credited to the author of block `number` after its transactions (PoW block reward; 0 under PoA). */
  blockReward(number: bigint): bigint
  /** The authority set after a block, mirrored into the AuthoritySet contract; undefined if fixed. */
  authorities(snap: S): string[] | undefined
  /** The authority set after a block by `author` carrying `prepared` (before it is sealed). */
  authoritiesAfter(parentSnap: S, number: bigint, author: Address, prepared: PreparedHeader): string[] | undefined
  /** When and how `author` may seal the next block, or why not. */
  sealPlan(author: Address, parent: BlockHeader, parentSnap: S, now: number): SealPlan
  /** Header fields for the next block by `author`, carrying `vote` where the engine votes. */
  prepare(author: Address, parent: BlockHeader, parentSnap: S, now: number, vote?: Proposal): PreparedHeader
  /** A sealer for this node's key; throws ConsensusError when the key cannot seal here. */
  createSealer(key: SealerKey): Sealer
  /** Fork choice: whether head `a` should replace head `b`. */
  isBetterHead(a: HeadCandidate<S>, b: HeadCandidate<S>): boolean
}

/** A chain head as fork choice sees it. */
export interface HeadCandidate<S extends Snapshot = Snapshot> {
  header: BlockHeader
  totalDifficulty: bigint
  /** The consensus state the header was sealed under. */
  parentSnap: S
}

export type SealPlan =
  | { canSeal: true; /** ms to wait before sealing (period, out-of-turn wiggle) */ delayMs: number; inTurn: boolean }
  | { canSeal: false; reason: string }
