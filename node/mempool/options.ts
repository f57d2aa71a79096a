export interface MempoolOptions {
  /** Transactions one sender may have in the pool (pending + queued). */
  maxPerSender: number
  /** Transactions in the whole pool. */
  maxTotal: number
  /** How far past the account nonce a queued transaction may be. */
  maxQueuedPerSender: number
  /** Largest encoded transaction accepted (geth: 128 KiB). */
  maxTxBytes: number
  /** Replacement must raise both fee caps by this percentage (geth: 10). */
  priceBump: number
  /** Lowest tip accepted. */
  minTip: bigint
  /** Accept pre-EIP-155 legacy transactions (replayable on other chains). */
  allowUnprotected: boolean
}

export const defaultMempoolOptions: MempoolOptions = {
  maxPerSender: 1024,
  maxTotal: 16_384,
  maxQueuedPerSender: 1024,
  maxTxBytes: 128 * 1024,
  priceBump: 10,
  minTip: 0n,
  allowUnprotected: false,
}
