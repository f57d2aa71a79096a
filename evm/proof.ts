import { createMerkleProof, type MerklePatriciaTrie } from '@ethereumjs/mpt'
import type { MerkleStateManager } from '@ethereumjs/statemanager'
import { bytesToBigInt, KECCAK256_NULL, KECCAK256_RLP, setLengthLeft, type Address } from '@ethereumjs/util'
import { stateAt } from './call.ts'

/** One storage slot's EIP-1186 proof: the slot (32 bytes), its value and the storage-trie nodes from the root down. */
export interface SlotProof {
  key: Uint8Array
  value: bigint
  proof: Uint8Array[]
}

/** An account's EIP-1186 proof at one state root (eth_getProof), as geth builds it. */
export interface AccountProof {
  balance: bigint
  nonce: bigint
  codeHash: Uint8Array
  storageHash: Uint8Array
  /** Account-trie nodes from the state root to the account (or to where its path ends: proof of absence). */
  accountProof: Uint8Array[]
  storageProof: SlotProof[]
}

// The state manager's tries are protected: a proof walks the same nodes its reads do.
type TrieAccess = { _trie: MerklePatriciaTrie; _getStorageTrie(address: Address, account: unknown): MerklePatriciaTrie }

/**
 * The proof of `address` and `slots` in the state at `root`, on a fresh view (its own caches, so
 * a concurrent block cannot show through). An absent account proves its absence with the
 * account-trie path and has geth's empty values: the empty code hash and storage root, and for
 * every slot the value 0 with an empty proof (the empty storage trie has no node to show).
 */
export async function proveAccount(base: MerkleStateManager, root: Uint8Array, address: Address, slots: Uint8Array[]): Promise<AccountProof> {
  const sm = await stateAt(base, root)
  const access = sm as unknown as TrieAccess
  const accountProof = await createMerkleProof(access._trie, address.bytes)
  const account = await sm.getAccount(address)
  const keys = slots.map((s) => setLengthLeft(s, 32))
  if (account === undefined) {
    return {
      balance: 0n,
      nonce: 0n,
      codeHash: KECCAK256_NULL,
      storageHash: KECCAK256_RLP,
      accountProof,
      storageProof: keys.map((key) => ({ key, value: 0n, proof: [] })),
    }
  }
  const storage = access._getStorageTrie(address, account)
  const storageProof: SlotProof[] = []
  for (const key of keys) {
    const proof = await createMerkleProof(storage, key)
    storageProof.push({ key, value: bytesToBigInt(await sm.getStorage(address, key)), proof })
  }
  return { balance: account.balance, nonce: account.nonce, codeHash: account.codeHash, storageHash: account.storageRoot, accountProof, storageProof }
}
