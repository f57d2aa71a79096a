import { RLP } from '@ethereumjs/rlp'
import { CacheType, MerkleStateManager } from '@ethereumjs/statemanager'
import { type Address, unpadBytes } from '@ethereumjs/util'

/**
 * The executor's MerkleStateManager: an SSTORE stays in the storage cache until the block's
 * flush writes it to the storage trie.
 *
 * ethereumjs 10.1.3 stores with `this._caches?.storage?.put(...) ?? (await
 * this._writeContractStorage(...))`, and the cache's put returns nothing, so every SSTORE also
 * writes (and re-hashes) the storage trie and re-writes the account, then flush() writes every
 * changed slot again: a sixth of a contract write's execution time. The flush alone gives the
 * same trie, hence the same roots. Deferring is safe only with an ordered-map storage cache,
 * which never evicts (an LRU cache could drop a write before the flush); with any other cache
 * the upstream path runs.
 */
export class BlockStateManager extends MerkleStateManager {
  override async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    const cache = this._caches?.storage
    // Malformed arguments and missing accounts take the upstream path, which throws for them.
    const account = cache !== undefined && this._caches!.settings.storage.type === CacheType.ORDERED_MAP && key.length === 32 && value.length <= 32 ? await this.getAccount(address) : undefined
    if (cache === undefined || account === undefined) return super.putStorage(address, key, value)
    cache.put(address, key, RLP.encode(unpadBytes(value)))
  }
}
