import { RLP } from '@ethereumjs/rlp'
import { CacheType, type MerkleStateManager } from '@ethereumjs/statemanager'
import { type Address, bytesToHex, bytesToUnprefixedHex, createAccountFromRLP, unpadBytes, type Account } from '@ethereumjs/util'
import { keccak256 } from '../common/keccak.ts'

/**
 * Trie reads of a call VM's state, kept across its calls. Each call runs in a checkpoint that is
 * reverted, and the revert also drops from the state manager's caches whatever the call first
 * read: without this, every call (every run of an estimate) walks the trie again for each account
 * and slot it touches. A value is keyed by the root of the trie it was read from, so it holds
 * whatever the call wrote: a write changes that root, and the next read misses.
 */

/** The MerkleStateManager (ethereumjs 10.1) internals the reads go through. */
interface Internals {
  _trie: { root(): Uint8Array; get(key: Uint8Array): Promise<Uint8Array | null> }
  _caches?: {
    settings?: { storage?: { type?: CacheType } }
    account?: { get(a: Address): unknown; put(a: Address, account: Account | undefined): void }
    storage?: { get(a: Address, key: Uint8Array): unknown; put(a: Address, key: Uint8Array, value: Uint8Array): void }
  }
  _getStorageTrie(a: Address, account: Account): { root(): Uint8Array; get(key: Uint8Array): Promise<Uint8Array | null> }
  /** Storage tries made since the last revert, by keccak(address) in hex without 0x. */
  _storageTries: Record<string, Internals['_trie'] | undefined>
}

/** Entries kept per VM before the memo starts over. */
const MAX_ENTRIES = 100_000
const EMPTY_SLOT = Uint8Array.of(0x80)

/** Routes `sm`'s account and storage reads that miss its caches through a memo keyed by trie root. */
export function keepTrieReads(sm: MerkleStateManager): void {
  const inner = sm as unknown as Internals
  const caches = inner._caches
  if (caches?.account === undefined || caches.storage === undefined) return
  const { account: accounts, storage: slots } = caches
  const stockAccount = sm.getAccount.bind(sm)
  const stockStorage = sm.getStorage.bind(sm)
  const stockPut = sm.putStorage.bind(sm)
  const memo = new Map<string, Uint8Array | null>()
  const read = async (trie: Internals['_trie'], key: Uint8Array): Promise<Uint8Array | null> => {
    const at = bytesToHex(trie.root()) + bytesToHex(key)
    let value = memo.get(at)
    if (value === undefined) {
      value = await trie.get(key)
      if (memo.size >= MAX_ENTRIES) memo.clear()
      memo.set(at, value)
    }
    return value
  }
  const readAt = async (root: Uint8Array, key: Uint8Array, trie: () => Internals['_trie']): Promise<Uint8Array | null> => {
    const value = memo.get(bytesToHex(root) + bytesToHex(key))
    return value !== undefined ? value : read(trie(), key)
  }
  sm.getAccount = async (address: Address): Promise<Account | undefined> => {
    if (accounts.get(address) !== undefined) return stockAccount(address)
    const rlp = await read(inner._trie, address.bytes)
    const account = rlp === null ? undefined : createAccountFromRLP(rlp)
    accounts.put(address, account)
    return account
  }
  // ethereumjs 10.1's putStorage also writes the storage trie (and re-puts the account) on every
  // SSTORE even with a storage cache (`caches.storage.put(...) ?? write`: put returns undefined).
  // A call is reverted and never flushed or asked for a root, so its writes need only the cache:
  // reads of a written slot hit the cache, reads of the others the unchanged storage root.
  // Only over a cache that never evicts (stateAt's copies: ordered maps), or a write could be lost.
  if (inner._caches?.settings?.storage?.type === CacheType.ORDERED_MAP) sm.putStorage = async (address: Address, key: Uint8Array, value: Uint8Array): Promise<void> => {
    if (key.length !== 32 || value.length > 32 || (await sm.getAccount(address)) === undefined) return stockPut(address, key, value) // its errors
    slots.put(address, key, RLP.encode(unpadBytes(value)))
  }
  sm.getStorage = async (address: Address, key: Uint8Array): Promise<Uint8Array> => {
    // Malformed keys, cached slots and missing accounts: the upstream path (and its errors).
    if (key.length !== 32 || slots.get(address, key) !== undefined) return stockStorage(address, key)
    const account = await sm.getAccount(address)
    if (account === undefined) return stockStorage(address, key)
    // The storage trie is a fresh MPT per account after each revert (shallowCopy): build it only
    // when the memo misses. A trie the call already made (an override's) may have another root.
    const made = inner._storageTries[bytesToUnprefixedHex(keccak256(address.bytes))]
    const value = made !== undefined ? await read(made, key) : await readAt(account.storageRoot, key, () => inner._getStorageTrie(address, account))
    slots.put(address, key, value ?? EMPTY_SLOT)
    return RLP.decode(value ?? new Uint8Array(0)) as Uint8Array
  }
}
