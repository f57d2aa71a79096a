/**
 * keccak-256 as the node uses it (hash-wasm's WebAssembly, common/keccak.ts) beside
 * @noble/hashes' JavaScript, one run: hashes per second at the sizes a node hashes (a key, a
 * trie leaf, a full branch node, a large block), and a 1,000-transaction root.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { keccak256 } from '../../common/keccak.ts'
import { orderedTrieRoot } from '../../evm/index.ts'
import type { Row } from './report.ts'

function rate(hash: (d: Uint8Array) => Uint8Array, data: Uint8Array, minMs = 300): number {
  for (let i = 0; i < 200; i++) hash(data) // warm-up
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < minMs) {
    for (let i = 0; i < 100; i++) hash(data)
    n += 100
  }
  return n / ((performance.now() - t0) / 1000)
}

export function runKeccakBench(): Row[] {
  const rows: Row[] = []
  for (const [size, what] of [[32, 'a storage key'], [136, 'a transaction'], [532, 'a full branch node'], [100_000, 'a large block']] as const) {
    const data = new Uint8Array(size).map((_, i) => i * 7)
    const wasm = rate(keccak256, data)
    const noble = rate(keccak_256, data)
    rows.push({ metric: `${size} bytes (${what}): hash-wasm / @noble/hashes (hashes/s)`, value: `${wasm.toFixed(0)} / ${noble.toFixed(0)} = ${(wasm / noble).toFixed(2)}x` })
  }
  // The root alone, with each implementation: orderedTrieRoot hashes with the node's keccak.
  const txs = Array.from({ length: 1000 }, (_, i) => new Uint8Array(110).map((_, j) => i * 31 + j))
  const t0 = performance.now()
  for (let i = 0; i < 20; i++) orderedTrieRoot(txs)
  rows.push({ metric: 'transactions root of 1,000 transactions (ms)', value: ((performance.now() - t0) / 20).toFixed(2) })
  return rows
}
