import { RLP, type NestedUint8Array } from '@ethereumjs/rlp'
import { KECCAK256_NULL, KECCAK256_RLP, concatBytes, equalsBytes } from '@ethereumjs/util'
import { trieKeyId } from './state-db.ts'
import { TimeSlice } from './yield.ts'

/**
 * What a set of state roots reaches in the trie sublevel: the pruner's mark phase. Keys are
 * those ethereumjs writes (MerkleStateManager with its defaults): a trie node under its keccak
 * hash (the account trie and every storage trie, unprefixed), contract code under 'c' + code hash.
 */

/** Reads many trie keys at once (LevelDB's getMany); undefined where a key is absent. */
export type TrieNodesReader = (keys: Uint8Array[]) => Promise<Array<Uint8Array | undefined>>

/** ethereumjs's CODEHASH_PREFIX: code is stored under 'c' + its hash, apart from trie nodes. */
const CODE_PREFIX = Uint8Array.of(0x63)

/** The key contract code with hash `codeHash` is stored under. */
export function codeKey(codeHash: Uint8Array): Uint8Array {
  return concatBytes(CODE_PREFIX, codeHash)
}

export interface MarkStats {
  /** Trie nodes read and marked. */
  nodes: number
  /** Contract code entries marked (not read: code has no references). */
  code: number
  /** Referenced keys that were not in the database (a partial download's, or state already gone). */
  missing: number
}

/** Keys read per LevelDB round trip. */
const BATCH = 256

type Kind = 'account' | 'storage'

/**
 * Adds to `live` (trieKeyId form) every key the tries at `roots` reach: account trie nodes,
 * the storage tries and code of their accounts. A key already in `live` is not walked again (its
 * subtree was reached before), so marking many roots of one chain costs about the live state
 * plus what the roots changed, not roots × state. Missing nodes are counted and skipped.
 * Gives the event loop a turn every few milliseconds.
 */
export async function markLive(roots: Uint8Array[], read: TrieNodesReader, live: Set<string>, stop?: () => boolean): Promise<MarkStats> {
  const stats: MarkStats = { nodes: 0, code: 0, missing: 0 }
  const queue: Array<{ key: Uint8Array; kind: Kind }> = []
  const slice = new TimeSlice()
  // No node is stored for an empty trie: ethereumjs answers its root without a read.
  live.add(trieKeyId(KECCAK256_RLP))
  const enqueue = (key: Uint8Array, kind: Kind): void => {
    const id = trieKeyId(key)
    if (live.has(id)) return
    live.add(id)
    queue.push({ key, kind })
  }
  const account = (rlp: Uint8Array): void => {
    const fields = RLP.decode(rlp) as Uint8Array[]
    const storageRoot = fields[2]
    const codeHash = fields[3]
    if (storageRoot !== undefined && storageRoot.length === 32) enqueue(storageRoot, 'storage')
    if (codeHash !== undefined && codeHash.length === 32 && !equalsBytes(codeHash, KECCAK256_NULL)) {
      const id = trieKeyId(codeKey(codeHash))
      if (!live.has(id)) {
        live.add(id)
        stats.code++
      }
    }
  }
  const child = (ref: Uint8Array | NestedUint8Array, kind: Kind): void => {
    if (ref instanceof Uint8Array) {
      if (ref.length === 32) enqueue(ref, kind)
    } else {
      // A node under 32 bytes is embedded in its parent, not stored on its own.
      node(ref, kind)
    }
  }
  const node = (n: NestedUint8Array, kind: Kind): void => {
    if (n.length === 17) {
      for (let i = 0; i < 16; i++) child(n[i]!, kind)
    } else if (n.length === 2) {
      const path = n[0] as Uint8Array
      const leaf = path.length > 0 && path[0]! >> 4 >= 2
      if (!leaf) child(n[1]!, kind)
      else if (kind === 'account') account(n[1] as Uint8Array)
    }
  }
  for (const root of roots) enqueue(root, 'account')
  while (queue.length > 0) {
    if (stop?.() === true) break
    const batch = queue.splice(queue.length - Math.min(BATCH, queue.length))
    const values = await read(batch.map((b) => b.key))
    for (const [i, raw] of values.entries()) {
      if (raw === undefined) {
        stats.missing++
        continue
      }
      stats.nodes++
      node(RLP.decode(raw) as NestedUint8Array, batch[i]!.kind)
    }
    if (slice.due()) await slice.yield()
  }
  return stats
}
