import { CodedError, codedErrorGuard } from '../../common/errors.ts'

export const NodeErrorCode = {
  DATADIR_LOCKED: 'NODE_DATADIR_LOCKED',
  RPC_PORT_IN_USE: 'NODE_RPC_PORT_IN_USE',
  RPC_LISTEN_FAILED: 'NODE_RPC_LISTEN_FAILED',
  P2P_PORT_IN_USE: 'NODE_P2P_PORT_IN_USE',
  METRICS_PORT_IN_USE: 'NODE_METRICS_PORT_IN_USE',
  METRICS_LISTEN_FAILED: 'NODE_METRICS_LISTEN_FAILED',
  UI_PORT_IN_USE: 'NODE_UI_PORT_IN_USE',
  UI_LISTEN_FAILED: 'NODE_UI_LISTEN_FAILED',
  /** An author this node cannot seal for (another address than its authority key). */
  BAD_AUTHOR: 'NODE_BAD_AUTHOR',
  /** miner_start without an etherbase to credit. */
  NO_ETHERBASE: 'NODE_NO_ETHERBASE',
} as const
export type NodeErrorCode = (typeof NodeErrorCode)[keyof typeof NodeErrorCode]

export class NodeError extends CodedError<NodeErrorCode> {}

/** `err` is a NodeError (with code `code`, when given). */
export const isNodeError = codedErrorGuard(NodeError)
