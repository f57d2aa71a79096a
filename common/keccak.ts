/**
 * keccak-256, the hash under every Ethereum structure: transaction and block hashes, trie nodes,
 * state keys, SHA3 in contracts, log blooms. It is the node's most called function (~12 % of a
 * loaded node's main thread with @noble/hashes' JavaScript keccak). This one is hash-wasm's
 * WebAssembly build (MIT, no dependencies), 8-12x faster on the 32-600-byte inputs a node
 * hashes (`npm run bench -- keccak`). ethereumjs gets it through each Common's customCrypto
 * (evm/common.ts), the state trie through createMPT. Node's OpenSSL offers SHA3-256 only, which
 * pads differently.
 */
import { createKeccak } from 'hash-wasm'

// One instance per thread, used synchronously (init, update, digest): no interleaving possible.
const hasher = await createKeccak(256)

export function keccak256(data: Uint8Array): Uint8Array {
  hasher.init()
  hasher.update(data)
  return hasher.digest('binary')
}
