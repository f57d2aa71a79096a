import { RLP } from '@ethereumjs/rlp'
import type { TypedTransaction } from '@ethereumjs/tx'
import { keccak256 } from '../common/keccak.ts'

type Item = { key: Uint8Array; value: Uint8Array }

function nibbles(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length * 2)
  for (let i = 0; i < b.length; i++) {
    out[2 * i] = b[i]! >> 4
    out[2 * i + 1] = b[i]! & 15
  }
  return out
}

/** Hex-prefix encoding of a nibble path (Yellow Paper appendix C). */
function hexPrefix(path: Uint8Array, leaf: boolean): Uint8Array {
  const odd = path.length % 2
  const out = new Uint8Array(Math.floor(path.length / 2) + 1)
  out[0] = ((leaf ? 2 : 0) + odd) << 4
  let i = 0
  if (odd === 1) out[0] |= path[i++]!
  for (let j = 1; i < path.length; i += 2, j++) out[j] = (path[i]! << 4) | path[i + 1]!
  return out
}

/** A child reference: the node's RLP when shorter than 32 bytes, else its hash. */
function ref(encoded: Uint8Array): Uint8Array | Uint8Array[] {
  return encoded.length < 32 ? (RLP.decode(encoded) as Uint8Array[]) : keccak256(encoded)
}

/** Encodes the trie node for items[lo..hi) whose keys agree on the first `depth` nibbles. */
function node(items: Item[], lo: number, hi: number, depth: number): Uint8Array {
  const first = items[lo]!.key
  if (hi - lo === 1) return RLP.encode([hexPrefix(first.subarray(depth), true), items[lo]!.value])
  // Common prefix of the (sorted) range = prefix of its first and last keys.
  const last = items[hi - 1]!.key
  let common = depth
  while (common < first.length && common < last.length && first[common] === last[common]) common++
  if (common > depth) return RLP.encode([hexPrefix(first.subarray(depth, common), false), ref(node(items, lo, hi, common))])
  const branch: Array<Uint8Array | Uint8Array[]> = Array.from({ length: 17 }, () => new Uint8Array())
  let i = lo
  if (items[i]!.key.length === depth) branch[16] = items[i++]!.value
  while (i < hi) {
    const nib = items[i]!.key[depth]!
    let j = i + 1
    while (j < hi && items[j]!.key[depth] === nib) j++
    branch[nib] = ref(node(items, i, j, depth + 1))
    i = j
  }
  return RLP.encode(branch)
}

/**
 * Root of the trie keyed by rlp(index), as for transactions and receipts, built in one pass
 * over sorted keys so that every node is hashed once (incremental puts re-hash the path on
 * every insert: ~8x the keccak work for a 1,000-transaction block).
 */
export function orderedTrieRoot(values: readonly Uint8Array[]): Uint8Array {
  if (values.length === 0) return keccak256(RLP.encode(new Uint8Array()))
  const items = values.map((value, i) => ({ key: nibbles(RLP.encode(i)), value }))
  items.sort((a, b) => {
    const n = Math.min(a.key.length, b.key.length)
    for (let k = 0; k < n; k++) if (a.key[k] !== b.key[k]) return a.key[k]! - b.key[k]!
    return a.key.length - b.key.length
  })
  return keccak256(node(items, 0, items.length, 0))
}

/** A block's transactions root: the ordered trie of the transactions' canonical encodings. */
export function transactionsRoot(txs: readonly TypedTransaction[]): Uint8Array {
  return orderedTrieRoot(txs.map((tx) => tx.serialize()))
}
