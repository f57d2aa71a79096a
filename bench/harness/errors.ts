import { CodedError } from '../../common/errors.ts'

export const BenchErrorCode = {
  /** A node process exited or did not report its JSON-RPC endpoint in time. */
  NODE_START_FAILED: 'NODE_START_FAILED',
  /** A node's JSON-RPC answered with an error, or could not be reached. */
  RPC: 'RPC',
  /** Something the harness waits for (peering, the first blocks, set-up receipts) did not happen in time. */
  TIMEOUT: 'TIMEOUT',
  /** The run was interrupted (Ctrl-C): the nodes were stopped. */
  INTERRUPTED: 'INTERRUPTED',
  /** No workload of that name, or its set-up failed on the network. */
  BAD_WORKLOAD: 'BAD_WORKLOAD',
  /** A result file could not be written. */
  WRITE_FAILED: 'WRITE_FAILED',
  /** A directory given to `compare` holds no readable result.json of a known version. */
  BAD_RESULT: 'BAD_RESULT',
  /** A --faults spec that cannot be parsed or does not fit the run. */
  BAD_FAULTS: 'BAD_FAULTS',
  /** A /metrics answer that is not valid Prometheus text exposition format 0.0.4. */
  BAD_METRICS: 'BAD_METRICS',
} as const
export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode]

export class BenchError extends CodedError<BenchErrorCode> {}
