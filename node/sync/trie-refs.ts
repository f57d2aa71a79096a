import { RLP, type NestedUint8Array } from '@ethereumjs/rlp'
import { KECCAK256_NULL, KECCAK256_RLP } from '@ethereumjs/util'

// What a downloaded Merkle Patricia trie node points at, so state sync can ask for it next: child
// nodes by hash (a child under 32 bytes is embedded in its parent and needs no request), and in
// the account trie each account's storage root and code hash.

/** A reference found in a trie node. */
export type TrieRef = { kind: 'node'; hash: Uint8Array; trie: 'account' | 'storage' } | { kind: 'code'; hash: Uint8Array }

type Item = Uint8Array | NestedUint8Array

const isHash = (x: Item): x is Uint8Array => x instanceof Uint8Array && x.length === 32

/** The empty trie's root and the empty code's hash are never stored nor asked for. */
export function isEmptyRef(ref: TrieRef): boolean {
  const empty = ref.kind === 'code' ? KECCAK256_NULL : KECCAK256_RLP
  return ref.hash.length === 32 && ref.hash.every((b, i) => b === empty[i])
}

/**
 * The references of trie node `bytes` (already checked against its hash) of the `trie` kind.
 * Throws on bytes that are no trie node: a peer cannot get garbage past the hash check, but
 * the hash only proves the bytes are what someone hashed, not that they are a node.
 */
export function trieRefs(bytes: Uint8Array, trie: 'account' | 'storage'): { refs: TrieRef[]; leaves: number } {
  const out: TrieRef[] = []
  const leaves = walk(RLP.decode(bytes), trie, out)
  return { refs: out, leaves }
}

/** Collects the references of `node` into `out`; returns its leaves (accounts or slots), embedded ones included. */
function walk(node: Item, trie: 'account' | 'storage', out: TrieRef[]): number {
  if (!Array.isArray(node)) throw new Error('a trie node is an RLP list')
  if (node.length === 17) {
    let leaves = 0
    for (let i = 0; i < 16; i++) leaves += child(node[i]!, trie, out)
    return leaves
  }
  if (node.length !== 2) throw new Error(`a trie node has 2 or 17 items, not ${node.length}`)
  const [path, value] = node
  if (!(path instanceof Uint8Array) || path.length === 0) throw new Error('a trie node path is a byte string')
  const flag = path[0]! >> 4
  if (flag === 0 || flag === 1) return child(value!, trie, out) // extension
  if (flag !== 2 && flag !== 3) throw new Error(`bad trie path flag ${flag}`)
  if (trie === 'storage') return 1 // a storage leaf holds a slot value
  if (!(value instanceof Uint8Array)) throw new Error('an account leaf holds bytes')
  const account = RLP.decode(value)
  if (!Array.isArray(account) || account.length !== 4) throw new Error('an account is a list of 4 items')
  const [, , storageRoot, codeHash] = account
  if (!isHash(storageRoot!) || !isHash(codeHash!)) throw new Error('an account names a 32-byte storage root and code hash')
  for (const ref of [{ kind: 'node', hash: storageRoot, trie: 'storage' }, { kind: 'code', hash: codeHash }] as TrieRef[]) if (!isEmptyRef(ref)) out.push(ref)
  return 1
}

/** A branch or extension child: a hash to fetch, an embedded node to look into, or empty. */
function child(item: Item, trie: 'account' | 'storage', out: TrieRef[]): number {
  if (Array.isArray(item)) return walk(item, trie, out)
  if (item.length === 0) return 0
  if (item.length !== 32) throw new Error(`a child reference is 32 bytes, not ${item.length}`)
  out.push({ kind: 'node', hash: item, trie })
  return 0
}
