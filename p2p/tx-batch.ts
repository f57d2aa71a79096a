/**
 * The gossipsub transaction topic's message (`/medrec/<chainId>/txs/2`): a batch of transactions.
 * This node sends transactions on `/medrec/txs/1` (tx-gossip.ts) and only receives batches, from
 * peers of the previous version, judged per transaction (gossip-messages.ts).
 */
import { P2PError } from './errors.ts'
import { pack, unpackOne } from './wire.ts'

/** Most transactions in one batch message (a receiver refuses more). */
export const MAX_BATCH_TXS = 1024

export function encodeTxBatch(txs: readonly Uint8Array[]): Uint8Array {
  return pack(txs)
}

/** The transactions of a batch message; throws P2PError INVALID_MESSAGE when it is not one. */
export function decodeTxBatch(data: Uint8Array): Uint8Array[] {
  let v: unknown
  try {
    v = unpackOne(data)
  } catch (err) {
    throw new P2PError('P2P_INVALID_MESSAGE', 'transaction batch: undecodable', undefined, err)
  }
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BATCH_TXS || !v.every((x) => x instanceof Uint8Array)) {
    throw new P2PError('P2P_INVALID_MESSAGE', `transaction batch: expected 1 to ${MAX_BATCH_TXS} byte strings`)
  }
  return v as Uint8Array[]
}
