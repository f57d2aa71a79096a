export interface MempoolOptions {
  /** Transactions one sender may have in the pool, pending and queued together. */
  maxPerSender: number
  /** Transactions in the whole pool. */
  maxTotal: number
  /** How far past the account nonce a queued (not yet executable) transaction may be. */
  maxQueuedPerSender: number
  /** Largest encoded transaction accepted (geth: 128 KiB). */
  maxTxBytes: number
  /** A replacement must raise both its fee cap and its tip cap by this percentage (geth: 10). */
  priceBump: number
  /** Lowest tip cap accepted (gas price for legacy transactions): geth's `--txpool.pricelimit`. */
  minGasPrice: bigint
  /** Accept pre-EIP-155 legacy transactions, which can be replayed on any chain (geth: off over RPC). */
  allowUnprotected: boolean
  /** Longest log of senders with new executable transactions kept for live iterators; one that falls further behind rescans the pool. */
  freshLog: number
}

export const defaultMempoolOptions: Readonly<MempoolOptions> = {
  maxPerSender: 64,
  maxTotal: 8192,
  maxQueuedPerSender: 64,
  maxTxBytes: 128 * 1024,
  priceBump: 10,
  minGasPrice: 0n,
  allowUnprotected: false,
  freshLog: 4096,
}

export interface SenderRecoveryOptions {
  /** Worker threads; 0 recovers on the calling thread (same batching, no worker). */
  workers: number
  /** Largest batch sent to one worker in one message. */
  maxBatch?: number
  /** Worker script; tests substitute one that crashes. Defaults to ./recover-worker.ts. */
  workerUrl?: URL
}

export const defaultMaxBatch = 256
