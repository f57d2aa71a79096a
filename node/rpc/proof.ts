import type { BlockHeader } from '@ethereumjs/block'
import { Address } from '@ethereumjs/util'
import { toData, toQuantity } from '../../common/index.ts'
import type { Chain } from '../chain/index.ts'
import { RpcError } from './errors.ts'
import type { RpcMethods } from './types.ts'
import * as v from './validate.ts'

/** Slots one eth_getProof may ask for (our bound; geth has none), so one request stays a bounded walk. */
export const MAX_PROOF_KEYS = 1024

/**
 * eth_getProof (EIP-1186) as geth answers it: `[address, storageKeys, block]`, the account's
 * fields and the trie nodes from the block's stateRoot down, each slot with its value (a
 * quantity) and its storage-trie nodes. Keys are echoed as sent, as geth does.
 */
export function createProofMethods(chain: Chain, stateAt: (params: unknown[], index: number) => Promise<BlockHeader>): RpcMethods {
  return {
    eth_getProof: async (p) => {
      v.params(p, 2, 3)
      const address = new Address(v.address(p[0], 0))
      if (!Array.isArray(p[1])) throw RpcError.invalidParams(`invalid argument 1: expected an array of storage keys, got ${v.kindOf(p[1])}`)
      if (p[1].length > MAX_PROOF_KEYS) throw RpcError.invalidParams(`invalid argument 1: too many storage keys (${p[1].length}), at most ${MAX_PROOF_KEYS}`)
      const keys = p[1] as unknown[]
      const slots = keys.map((k, i) => v.storageSlot(k, `invalid argument 1: key ${i}`))
      const h = await stateAt(p, 2)
      const proof = await chain.executor.getProof(address, slots, h.stateRoot)
      return {
        address: address.toString(),
        accountProof: proof.accountProof.map(toData),
        balance: toQuantity(proof.balance),
        codeHash: toData(proof.codeHash),
        nonce: toQuantity(proof.nonce),
        storageHash: toData(proof.storageHash),
        storageProof: proof.storageProof.map((s, i) => ({ key: keys[i] as string, value: toQuantity(s.value), proof: s.proof.map(toData) })),
      }
    },
  }
}
