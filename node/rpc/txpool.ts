/**
 * txpool_* as geth answers them (internal/ethapi TxPoolAPI): the pool's executable ("pending")
 * and gapped ("queued") transactions by checksummed sender, then decimal nonce. Read through the
 * mempool's public face (content(), stats()); nothing here changes the pool.
 */
import { Address, toChecksumAddress } from '@ethereumjs/util'
import { toQuantity } from '../../common/index.ts'
import type { Mempool, PoolTx, TxsBySender } from '../mempool/index.ts'
import { formatTransaction, type TxJson } from './format.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

type BySender<T> = Record<string, Record<string, T>>

function mapSenders<T>(txs: TxsBySender, fn: (p: PoolTx) => T): BySender<T> {
  const out: BySender<T> = {}
  for (const [sender, byNonce] of Object.entries(txs)) {
    const row: Record<string, T> = {}
    for (const [nonce, p] of Object.entries(byNonce)) row[nonce] = fn(p)
    out[sender] = row
  }
  return out
}

/** A pool transaction as geth returns it: no block, and a fee-market tx's gasPrice is its maxFeePerGas. */
const asJson = (p: PoolTx): TxJson => formatTransaction(p.tx, p.sender)

/**
 * txpool_inspect's one line per transaction, geth's format: "TO: VALUE wei + GAS gas × PRICE wei"
 * (decimal; TO checksummed, or "contract creation"; PRICE is the gas price or, for a fee-market
 * transaction, its maxFeePerGas, as geth's tx.GasPrice()).
 */
export function inspectLine({ tx }: PoolTx): string {
  const price = 'gasPrice' in tx ? tx.gasPrice : tx.maxFeePerGas
  const to = tx.to === undefined ? 'contract creation' : toChecksumAddress(tx.to.toString())
  return `${to}: ${tx.value} wei + ${tx.gasLimit} gas × ${price} wei`
}

export function createTxpoolMethods(mempool: Pick<Mempool, 'content' | 'stats'>): RpcMethods {
  return {
    txpool_status: (p) => {
      v.params(p, 0, 0)
      const { pending, queued } = mempool.stats()
      return { pending: toQuantity(pending), queued: toQuantity(queued) }
    },
    txpool_content: (p) => {
      v.params(p, 0, 0)
      const { pending, queued } = mempool.content()
      return { pending: mapSenders(pending, asJson), queued: mapSenders(queued, asJson) }
    },
    txpool_contentFrom: (p) => {
      v.params(p, 1, 1)
      const sender = toChecksumAddress(new Address(v.address(p[0], 0)).toString())
      const { pending, queued } = mempool.content()
      const one = (txs: TxsBySender): Record<string, TxJson> => mapSenders({ [sender]: txs[sender] ?? {} }, asJson)[sender]!
      return { pending: one(pending), queued: one(queued) }
    },
    txpool_inspect: (p) => {
      v.params(p, 0, 0)
      const { pending, queued } = mempool.content()
      return { pending: mapSenders(pending, inspectLine), queued: mapSenders(queued, inspectLine) }
    },
  }
}
