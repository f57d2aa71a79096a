import type { Hex } from 'viem'
import type { Rpc } from './rpc.ts'

export interface MedRecClientOptions {
  /** The node's JSON-RPC HTTP URL, e.g. http://127.0.0.1:8545 (unless `transport` is given). */
  rpcUrl?: string
  /**
   * Calls JSON-RPC methods some other way than HTTP, e.g. in-process inside a node. Failures
   * must be ClientError RPC with `rpcCode`/`rpcData` in the context, as createRpc makes them.
   */
  transport?: Rpc
  /** The account's secp256k1 private key (0x + 64 hex digits). */
  privateKey: Hex
  /** How often to poll for a receipt while waiting for inclusion (ms). Default 250. */
  pollMs?: number
  /** How long to wait for inclusion before TIMEOUT / DROPPED (ms). Default 60,000. */
  timeoutMs?: number
  /** Timeout of one JSON-RPC request (ms). Default 10,000. */
  requestTimeoutMs?: number
  /** eth_estimateGas times this percentage is the gas limit. Default 120. */
  gasMarginPercent?: number
}

export const defaultClientOptions = {
  pollMs: 250,
  timeoutMs: 60_000,
  requestTimeoutMs: 10_000,
  gasMarginPercent: 120,
} as const satisfies Partial<MedRecClientOptions>
