import { CodedError } from '../common/errors.ts'

/** Why a header breaks the consensus rules. Names follow go-ethereum's clique and ethash errors. */
export const ConsensusErrorCode = {
  MISSING_VANITY: 'MISSING_VANITY',
  MISSING_SIGNATURE: 'MISSING_SIGNATURE',
  EXTRA_SIGNERS: 'EXTRA_SIGNERS',
  INVALID_CHECKPOINT_SIGNERS: 'INVALID_CHECKPOINT_SIGNERS',
  INVALID_CHECKPOINT_BENEFICIARY: 'INVALID_CHECKPOINT_BENEFICIARY',
  INVALID_CHECKPOINT_VOTE: 'INVALID_CHECKPOINT_VOTE',
  INVALID_VOTE: 'INVALID_VOTE',
  INVALID_MIX_DIGEST: 'INVALID_MIX_DIGEST',
  INVALID_UNCLE_HASH: 'INVALID_UNCLE_HASH',
  INVALID_DIFFICULTY: 'INVALID_DIFFICULTY',
  WRONG_DIFFICULTY: 'WRONG_DIFFICULTY',
  INVALID_TIMESTAMP: 'INVALID_TIMESTAMP',
  FUTURE_BLOCK: 'FUTURE_BLOCK',
  UNAUTHORIZED_SIGNER: 'UNAUTHORIZED_SIGNER',
  RECENTLY_SIGNED: 'RECENTLY_SIGNED',
  BAD_SEAL: 'BAD_SEAL',
  UNKNOWN_ANCESTOR: 'UNKNOWN_ANCESTOR',
  // Proof-of-Work (consensus/pow/)
  /** extraData longer than 32 bytes. */
  EXTRA_DATA_TOO_LONG: 'EXTRA_DATA_TOO_LONG',
  /** A header's nonce does not meet its difficulty, or a PoW input has the wrong size or range. */
  INVALID_POW: 'INVALID_POW',
  /** PoW parameters out of range: target block time, minimum difficulty, mining threads. */
  INVALID_POW_PARAMS: 'INVALID_POW_PARAMS',
  /** The mining pool is closed or its worker threads keep crashing. */
  MINER_FAILED: 'MINER_FAILED',
} as const
export type ConsensusErrorCode = (typeof ConsensusErrorCode)[keyof typeof ConsensusErrorCode]

export class ConsensusError extends CodedError<ConsensusErrorCode> {}
