/** The PoW difficulty adjustment: each block nudges its parent's difficulty toward the target block time. */
import { ConsensusError, ConsensusErrorCode } from '../errors.ts'

/** One block moves the difficulty by at most 1/ADJUSTMENT_DIVISOR up (and three times that down). */
export const ADJUSTMENT_DIVISOR = 32n

export interface DifficultyParams {
  /** Seconds between blocks the adjustment aims for (a whole number ≥ 1). */
  targetBlockTime: number
  /** The difficulty never drops below this (≥ 1). */
  minimumDifficulty: bigint
}

/**
 * The difficulty of a block with `timestamp` on top of `parent`.
 *
 *   dt     = timestamp - parent.timestamp            (≥ 1; the header rules ensure it)
 *   step   = parent.difficulty * (T - min(dt, 4T)) / (T * ADJUSTMENT_DIVISOR)   (integer, toward 0)
 *            and at least ±1 when T ≠ min(dt, 4T), so small difficulties still move
 *   result = max(minimumDifficulty, parent.difficulty + step)
 *
 * That is parent.difficulty * (1 + clamp((T - dt) / T, -3, +1) / 32): an instant block raises the
 * difficulty by at most 1/32, a block 4T late or later lowers it by 3/32, a block exactly on time
 * leaves it unchanged. Block times are exponential, so E[min(dt, 4T)] settles a little below the
 * mean interval and the chain runs ~2 % slower than T (truncation bias); whole-second timestamps
 * add their own rounding. Both are well inside what the tests require (±20 %).
 */
export function nextDifficulty(parent: { difficulty: bigint; timestamp: bigint }, timestamp: bigint, p: DifficultyParams): bigint {
  if (!Number.isSafeInteger(p.targetBlockTime) || p.targetBlockTime < 1) {
    throw new ConsensusError(ConsensusErrorCode.INVALID_POW_PARAMS, `targetBlockTime must be a whole number of seconds ≥ 1, got ${p.targetBlockTime}; fix the chain's pow settings`)
  }
  if (p.minimumDifficulty < 1n) {
    throw new ConsensusError(ConsensusErrorCode.INVALID_POW_PARAMS, `minimumDifficulty must be at least 1, got ${p.minimumDifficulty}; fix the chain's pow settings`)
  }
  const dt = timestamp - parent.timestamp
  if (dt < 1n) {
    throw new ConsensusError(ConsensusErrorCode.INVALID_TIMESTAMP, `a block's timestamp must be after its parent's (${parent.timestamp}), got ${timestamp}`, {
      timestamp,
      parentTimestamp: parent.timestamp,
    })
  }
  const T = BigInt(p.targetBlockTime)
  const late = dt < 4n * T ? dt : 4n * T
  const num = parent.difficulty * (T - late)
  let step = num / (T * ADJUSTMENT_DIVISOR)
  if (step === 0n && num !== 0n) step = num > 0n ? 1n : -1n
  const next = parent.difficulty + step
  return next > p.minimumDifficulty ? next : p.minimumDifficulty
}
