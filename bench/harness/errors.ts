import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const BenchErrorCode = {
  /** A node process exited or did not report its JSON-RPC endpoint in time. */
  NODE_START_FAILED: 'BENCH_NODE_START_FAILED',
  /** A node's JSON-RPC answered with an error, or could not be reached. */
  RPC: 'BENCH_RPC',
  /** Something the harness waits for (peering, the first blocks, set-up receipts) did not happen in time. */
  TIMEOUT: 'BENCH_TIMEOUT',
  /** The run was interrupted (Ctrl-C): the nodes were stopped. */
  INTERRUPTED: 'BENCH_INTERRUPTED',
  /** No workload of that name, or its set-up failed on the network. */
  BAD_WORKLOAD: 'BENCH_BAD_WORKLOAD',
  /** A result file could not be written. */
  WRITE_FAILED: 'BENCH_WRITE_FAILED',
  /** A directory given to `compare` holds no readable result.json of a known version. */
  BAD_RESULT: 'BENCH_BAD_RESULT',
  /** A --faults spec that cannot be parsed or does not fit the run. */
  BAD_FAULTS: 'BENCH_BAD_FAULTS',
  /** A /metrics answer that is not valid Prometheus text exposition format 0.0.4. */
  BAD_METRICS: 'BENCH_BAD_METRICS',
  /** A network namespace, veth or bridge could not be made or changed (netns.ts; needs root and iproute2). */
  NETNS: 'BENCH_NETNS',
} as const
export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode]

export class BenchError extends CodedError<BenchErrorCode> {}
export const isBenchError = codedErrorGuard(BenchError)
