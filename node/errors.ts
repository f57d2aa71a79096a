import { CodedError } from '../common/errors.ts'

export const NodeErrorCode = {
  DATADIR_LOCKED: 'DATADIR_LOCKED',
  RPC_PORT_IN_USE: 'RPC_PORT_IN_USE',
  RPC_LISTEN_FAILED: 'RPC_LISTEN_FAILED',
  P2P_PORT_IN_USE: 'P2P_PORT_IN_USE',
  METRICS_PORT_IN_USE: 'METRICS_PORT_IN_USE',
  METRICS_LISTEN_FAILED: 'METRICS_LISTEN_FAILED',
  /** An author this node cannot seal for (another address than its authority key). */
  BAD_AUTHOR: 'BAD_AUTHOR',
  /** miner_start without an etherbase to credit. */
  NO_ETHERBASE: 'NO_ETHERBASE',
} as const
export type NodeErrorCode = (typeof NodeErrorCode)[keyof typeof NodeErrorCode]

export class NodeError extends CodedError<NodeErrorCode> {}
