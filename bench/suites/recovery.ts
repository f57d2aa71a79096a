/**
 * Sender recovery throughput on the main thread and with 1 and 2 worker threads (libsecp256k1 in
 * WebAssembly), beside @noble/curves' pure JavaScript on the main thread, one run.
 */
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { createChainCommon } from '../../evm/index.ts'
import { createSenderRecovery } from '../../node/mempool/index.ts'
import type { Row } from './report.ts'

export async function runRecovery(count = 4000): Promise<Row[]> {
  const common = createChainCommon({ chainId: 1337n, period: 2, epoch: 30000n })
  const keys = Array.from({ length: 16 }, (_, i) => keccak_256(new Uint8Array([i, 1, 2, 3])))
  const sign = (): TypedTransaction[] =>
    Array.from({ length: count }, (_, i) =>
      // Fresh objects every round: ethereumjs caches a recovered sender on the transaction.
      createFeeMarket1559Tx({ nonce: BigInt(i), gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 1n, to: keys[0]!.subarray(12), chainId: 1337n }, { common }).sign(keys[i % keys.length]!),
    )
  const signed = sign().map((tx) => tx.serialize())
  const { createTxFromRLP } = await import('@ethereumjs/tx')
  const fresh = () => signed.map((raw) => createTxFromRLP(raw, { common }))
  const rows: Row[] = []
  const rates: Record<number, number> = {}
  for (const workers of [0, 1, 2]) {
    const rec = createSenderRecovery({ workers })
    await rec.recoverMany(fresh().slice(0, 200)) // warm-up (JIT, worker start)
    const txs = fresh()
    const t0 = performance.now()
    await rec.recoverMany(txs)
    const s = (performance.now() - t0) / 1000
    await rec.close()
    rates[workers] = count / s
    rows.push({ metric: `sender recovery, ${workers === 0 ? 'main thread' : `${workers} worker${workers > 1 ? 's' : ''}`} (tx/s)`, value: rates[workers]!.toFixed(0) })
  }
  rows.push({ metric: 'sender recovery speed-up, 2 workers vs 1', value: `${(rates[2]! / rates[1]!).toFixed(2)}x` })
  const txs = fresh()
  const t0 = performance.now()
  for (const tx of txs) new secp256k1.Signature(tx.r!, tx.s!, Number(tx.v)).recoverPublicKey(tx.getHashedMessageToSign())
  const noble = count / ((performance.now() - t0) / 1000)
  rows.push({ metric: '@noble/curves recovery, main thread (tx/s), for comparison', value: noble.toFixed(0) })
  rows.push({ metric: 'libsecp256k1 (WebAssembly) vs @noble/curves, main thread', value: `${(rates[0]! / noble).toFixed(2)}x` })
  return rows
}
