import { availableParallelism } from 'node:os'
import type { BlockHeader } from '@ethereumjs/block'
import { RLP } from '@ethereumjs/rlp'
import { Address, KECCAK256_RLP_ARRAY, equalsBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'
import type { Consensus, HeadCandidate, PreparedHeader, SealPlan, Sealer, SealerKey, Snapshot } from '../types.ts'
import { nextDifficulty } from './difficulty.ts'
import { meetsDifficulty, powHash } from './hashcash.ts'
import { createMinerPool } from './miner-pool.ts'

export interface PowOptions {
  /** Seconds between blocks the difficulty adjustment aims for. */
  targetBlockTime: number
  /** Wei credited to each block's miner on top of its fees. */
  blockReward: bigint
  minimumDifficulty: bigint
  /**
   * Seconds a header's timestamp may run ahead of the local clock: geth's allowedFutureBlockTime
   * for ethash, 15 s. Kept: a miner stamps its block when the work starts, not when it is found,
   * and the difficulty rule (not a slot schedule) decides when the next block comes, so an early
   * block costs its successors no wait beyond the one-second timestamp step.
   */
  allowedFutureSeconds?: number
}

/** Proof of work keeps no state between blocks beyond the headers themselves. */
export type PowSnapshot = Snapshot

const ZERO_HASH = new Uint8Array(32)
const ZERO_NONCE = new Uint8Array(8)
const MAX_EXTRA_DATA = 32
/** Header RLP positions of mixHash and nonce, which the seal fills in. */
const MIX_HASH_INDEX = 13
const NONCE_INDEX = 14

/** keccak256 of the header's RLP without mixHash and nonce: what the proof of work commits to. */
export function powSealHash(header: BlockHeader): Uint8Array {
  const raw = header.raw()
  raw.splice(MIX_HASH_INDEX, NONCE_INDEX - MIX_HASH_INDEX + 1)
  return keccak_256(RLP.encode(raw))
}

/**
 * Proof of work with keccak-256 hashcash: a header is sealed when keccak256(sealHash ‖ nonce)
 * ≤ 2^256 / difficulty. Difficulty follows the target block time block by block
 * (difficulty.ts), fork choice is total difficulty, and each block pays its miner (coinbase) a
 * reward set in the genesis plus the fees: MedRec 1.0's Ether incentive.
 */
export class PowEngine implements Consensus<PowSnapshot> {
  readonly algorithm = 'pow' as const
  readonly opts: Required<PowOptions>
  readonly commonConsensus = { type: 'pow', algorithm: 'ethash' }

  constructor(opts: PowOptions) {
    this.opts = { allowedFutureSeconds: 15, ...opts }
  }

  get blockTime(): number {
    return this.opts.targetBlockTime
  }

  /** The vanity alone: proof-of-work extraData holds at most 32 bytes and no signer list. */
  genesisExtraData(vanity: Uint8Array): Uint8Array {
    return vanity.subarray(0, MAX_EXTRA_DATA)
  }

  genesisSnapshot(genesis: BlockHeader): PowSnapshot {
    return { number: genesis.number, hash: genesis.hash() }
  }

  apply(_parentSnap: PowSnapshot, header: BlockHeader): PowSnapshot {
    return { number: header.number, hash: header.hash() }
  }

  encodeSnapshot(snap: PowSnapshot): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ number: snap.number.toString(), hash: Buffer.from(snap.hash).toString('hex') }))
  }

  decodeSnapshot(bytes: Uint8Array): PowSnapshot {
    const j = JSON.parse(new TextDecoder().decode(bytes)) as { number: string; hash: string }
    return { number: BigInt(j.number), hash: new Uint8Array(Buffer.from(j.hash, 'hex')) }
  }

  /** The difficulty a child of `parent` stamped `timestamp` must carry. */
  difficultyAfter(parent: BlockHeader, timestamp: bigint): bigint {
    return nextDifficulty(parent, timestamp, this.opts)
  }

  verifyHeader(header: BlockHeader, parent: BlockHeader, _snap: PowSnapshot, now: number): void {
    const fail = (code: ConsensusErrorCode, msg: string): never => {
      throw new ConsensusError(code, `block ${header.number}: ${msg}`, { number: header.number })
    }
    if (header.timestamp > BigInt(Math.floor(now / 1000) + this.opts.allowedFutureSeconds)) {
      fail(ConsensusErrorCode.FUTURE_BLOCK, `timestamp ${header.timestamp} is more than ${this.opts.allowedFutureSeconds}s ahead of the local clock; check the system clock`)
    }
    if (header.timestamp <= parent.timestamp) fail(ConsensusErrorCode.INVALID_TIMESTAMP, `timestamp ${header.timestamp} is not after parent ${parent.timestamp}`)
    if (header.extraData.length > MAX_EXTRA_DATA) fail(ConsensusErrorCode.EXTRA_DATA_TOO_LONG, `extra-data is ${header.extraData.length} bytes, at most ${MAX_EXTRA_DATA}`)
    if (!equalsBytes(header.mixHash, ZERO_HASH)) fail(ConsensusErrorCode.INVALID_MIX_DIGEST, 'non-zero mix digest')
    if (!equalsBytes(header.uncleHash, KECCAK256_RLP_ARRAY)) fail(ConsensusErrorCode.INVALID_UNCLE_HASH, 'non empty uncle hash')
    const want = this.difficultyAfter(parent, header.timestamp)
    if (header.difficulty !== want) fail(ConsensusErrorCode.WRONG_DIFFICULTY, `wrong difficulty ${header.difficulty}, want ${want}`)
    if (!meetsDifficulty(powHash(powSealHash(header), header.nonce), header.difficulty)) {
      fail(ConsensusErrorCode.INVALID_POW, `nonce 0x${Buffer.from(header.nonce).toString('hex')} does not meet difficulty ${header.difficulty}`)
    }
  }

  author(header: BlockHeader): Address {
    return header.coinbase
  }

  blockReward(): bigint {
    return this.opts.blockReward
  }

  /** Proof of work has no authority set: the AuthoritySet contract keeps the genesis list. */
  authorities(): undefined {
    return undefined
  }

  authoritiesAfter(): undefined {
    return undefined
  }

  /**
   * Anyone may mine at once, except that a block is never stamped more than a second ahead of
   * the clock: at a burst of fast blocks the miner waits (as geth's does) rather than run the
   * chain into the future, where peers would refuse its blocks.
   */
  sealPlan(_author: Address, parent: BlockHeader, _snap: PowSnapshot, now: number): SealPlan {
    return { canSeal: true, delayMs: Math.max(0, Number(parent.timestamp) * 1000 - now), inTurn: true }
  }

  prepare(author: Address, parent: BlockHeader, _snap: PowSnapshot, now: number): PreparedHeader {
    const clock = BigInt(Math.floor(now / 1000))
    const timestamp = clock > parent.timestamp ? clock : parent.timestamp + 1n
    return {
      coinbase: author,
      difficulty: this.difficultyAfter(parent, timestamp),
      nonce: ZERO_NONCE,
      mixHash: ZERO_HASH,
      extraData: new Uint8Array(0),
      timestamp,
    }
  }

  /** Mining on `key.threads` worker threads (default: every core); no key needed, only an etherbase. */
  createSealer(key: SealerKey): Sealer {
    const pool = createMinerPool({ threads: key.threads ?? availableParallelism() })
    return {
      async seal(header, signal) {
        const nonce = await pool.mine(powSealHash(header), header.difficulty, signal)
        return nonce === undefined ? undefined : { nonce }
      },
      hashrate: () => pool.hashrate(),
      // Hashing is the wait: take what is pending, then mine; re-prepare every second so
      // the timestamp (and with it the difficulty) and the transactions stay fresh.
      buildWindowMs: 0,
      recommitMs: 1000,
      close: () => pool.close(),
    }
  }

  /** Heaviest chain wins; on equal total difficulty the head seen first stays. */
  isBetterHead(a: HeadCandidate<PowSnapshot>, b: HeadCandidate<PowSnapshot>): boolean {
    return a.totalDifficulty > b.totalDifficulty
  }
}
