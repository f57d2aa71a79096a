/**
 * The contract-write workload of the throughput benches (single node and network): the Store
 * fixture deployed once, `senders` fresh keys funded, and `Store.set(v)` pre-signed for each
 * sender, interleaved by nonce, so the sending loop never waits on signing.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Common } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { encodeFunctionData, type Abi, type Hex } from 'viem'
import { addressOf } from '../test/helpers/chain.ts'
import { ROOT } from '../test/helpers/node-process.ts'

export interface WorkloadSetup {
  common: Common
  /** Pays for the deployment and funds the senders. */
  funderKey: Uint8Array
  /** The funder's next nonce. */
  funderNonce: bigint
  senders: number
  perSender: number
  send(raw: Uint8Array): Promise<string>
  receipt(hash: string): Promise<{ contractAddress: string }>
}

export interface SignedWrite {
  raw: string
  hash: string
  /** Index of the sending key. */
  sender: number
}

export async function prepareStoreWorkload(o: WorkloadSetup): Promise<{ contract: Hex; txs: SignedWrite[] }> {
  const { common } = o
  const fees = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, chainId: common.chainId() }
  const store = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/contracts/Store.json'), 'utf8')) as { abi: Abi; bytecode: Hex }
  let nonce = o.funderNonce
  const deploy = createFeeMarket1559Tx({ ...fees, nonce: nonce++, gasLimit: 3_000_000n, data: hexToBytes(store.bytecode) }, { common }).sign(o.funderKey)
  const contract = (await o.receipt(await o.send(deploy.serialize()))).contractAddress as Hex
  const keys = Array.from({ length: o.senders }, (_, i) => keccak_256(new TextEncoder().encode(`medrec bench sender ${i}`)))
  const funding = keys.map((k) => createFeeMarket1559Tx({ ...fees, nonce: nonce++, gasLimit: 21_000n, to: addressOf(k), value: 10n ** 20n }, { common }).sign(o.funderKey))
  const fundHashes = await Promise.all(funding.map((tx) => o.send(tx.serialize())))
  await o.receipt(fundHashes[fundHashes.length - 1]!)

  process.stderr.write(`  signing ${o.perSender * o.senders} transactions from ${o.senders} senders...\n`)
  const txs: SignedWrite[] = []
  for (let n = 0; n < o.perSender; n++) {
    for (const [i, k] of keys.entries()) {
      const data = hexToBytes(encodeFunctionData({ abi: store.abi, functionName: 'set', args: [BigInt(1 + ((n * 7 + i) % 1000))] }))
      const tx = createFeeMarket1559Tx({ ...fees, nonce: BigInt(n), gasLimit: 100_000n, to: contract, data }, { common }).sign(k)
      txs.push({ raw: bytesToHex(tx.serialize()), hash: bytesToHex(tx.hash()), sender: i })
    }
  }
  return { contract, txs }
}
