import type { Proposal } from '../../consensus/index.ts'

/**
 * This node's pending signer votes (clique_propose / clique_discard). Like geth, they live in
 * memory: the producer carries one in each block it seals until the operator discards it; a
 * vote that would change nothing any more (the signer is already in, or already out) is skipped.
 */
export interface Proposals {
  propose(address: string, authorize: boolean): void
  discard(address: string): void
  list(): Proposal[]
}

export function createProposals(): Proposals {
  const votes = new Map<string, boolean>()
  return {
    propose: (address, authorize) => void votes.set(address.toLowerCase(), authorize),
    discard: (address) => void votes.delete(address.toLowerCase()),
    list: () => [...votes].map(([address, authorize]) => ({ address, authorize })),
  }
}
