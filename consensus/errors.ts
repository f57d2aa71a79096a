import { CodedError, codedErrorGuard } from '../common/errors.ts'

/** Why a header breaks the consensus rules. Names follow go-ethereum's clique and ethash errors. */
export const ConsensusErrorCode = {
  MISSING_VANITY: 'CONSENSUS_MISSING_VANITY',
  MISSING_SIGNATURE: 'CONSENSUS_MISSING_SIGNATURE',
  EXTRA_SIGNERS: 'CONSENSUS_EXTRA_SIGNERS',
  INVALID_CHECKPOINT_SIGNERS: 'CONSENSUS_INVALID_CHECKPOINT_SIGNERS',
  INVALID_CHECKPOINT_BENEFICIARY: 'CONSENSUS_INVALID_CHECKPOINT_BENEFICIARY',
  INVALID_CHECKPOINT_VOTE: 'CONSENSUS_INVALID_CHECKPOINT_VOTE',
  INVALID_VOTE: 'CONSENSUS_INVALID_VOTE',
  INVALID_MIX_DIGEST: 'CONSENSUS_INVALID_MIX_DIGEST',
  INVALID_UNCLE_HASH: 'CONSENSUS_INVALID_UNCLE_HASH',
  INVALID_DIFFICULTY: 'CONSENSUS_INVALID_DIFFICULTY',
  WRONG_DIFFICULTY: 'CONSENSUS_WRONG_DIFFICULTY',
  INVALID_TIMESTAMP: 'CONSENSUS_INVALID_TIMESTAMP',
  FUTURE_BLOCK: 'CONSENSUS_FUTURE_BLOCK',
  UNAUTHORIZED_SIGNER: 'CONSENSUS_UNAUTHORIZED_SIGNER',
  RECENTLY_SIGNED: 'CONSENSUS_RECENTLY_SIGNED',
  BAD_SEAL: 'CONSENSUS_BAD_SEAL',
  UNKNOWN_ANCESTOR: 'CONSENSUS_UNKNOWN_ANCESTOR',
  // Proof-of-Work (consensus/pow/)
  /** extraData longer than 32 bytes. */
  EXTRA_DATA_TOO_LONG: 'CONSENSUS_EXTRA_DATA_TOO_LONG',
  /** A header's nonce does not meet its difficulty, or a PoW input has the wrong size or range. */
  INVALID_POW: 'CONSENSUS_INVALID_POW',
  /** PoW parameters out of range: target block time, minimum difficulty, mining threads. */
  INVALID_POW_PARAMS: 'CONSENSUS_INVALID_POW_PARAMS',
  /** The mining pool is closed or its worker threads keep crashing. */
  MINER_FAILED: 'CONSENSUS_MINER_FAILED',
} as const
export type ConsensusErrorCode = (typeof ConsensusErrorCode)[keyof typeof ConsensusErrorCode]

export class ConsensusError extends CodedError<ConsensusErrorCode> {}

/** `err` is a ConsensusError (with code `code`, when given). */
export const isConsensusError = codedErrorGuard(ConsensusError)
