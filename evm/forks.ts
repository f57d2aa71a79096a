import { CHAIN_FORKS, forkAtLeast, type ChainFork } from '../common/forks.ts'

export { CHAIN_FORKS, DEFAULT_FORK, NEWEST_FORK, forkAtLeast, isChainFork, type ChainFork } from '../common/forks.ts'

/**
 * The EIPs each fork of common/forks.ts adds on top of the previous
 * one. Each is Ethereum's fork of that name as ethereumjs 10.1 implements it, without what only a
 * beacon chain or a blob market needs: a PoA/PoW chain has neither, and those EIPs would change
 * the header layout that EIP-225 seals (withdrawals, blob gas, beacon root, requests hash).
 */
export const CHAIN_FORK_EIPS = {
  // Warm coinbase, PUSH0, initcode limit. Left out: 4895 (beacon-chain withdrawals).
  shanghai: [3651, 3855, 3860],
  // TSTORE/TLOAD, MCOPY, SELFDESTRUCT only in the creating transaction; BLOBHASH and
  // BLOBBASEFEE come from fork-opcodes.ts. Left out: 4844 (blob transactions, the KZG
  // point-evaluation precompile, blob header fields), 7516 (ethereumjs reads the fee from 4844's
  // header field), 4788 (beacon block root).
  cancun: [1153, 5656, 6780],
  // BLS12-381 precompiles, calldata floor cost, set-code transactions (type 4). Left out: 2935
  // (history contract: a system contract written by a system call each block), 6110/7002/7251/
  // 7685 (validator deposits, exits, consolidations, requests), 7691 (blob throughput).
  prague: [2537, 7623, 7702],
  // MODEXP bounds and gas, the transaction gas cap (2^24), CLZ, the secp256r1 precompile. Left
  // out: 7594 (PeerDAS), 7892 (blob-parameter forks), 7918 (blob base fee bound).
  osaka: [7823, 7825, 7883, 7939, 7951],
} as const satisfies Record<ChainFork, readonly number[]>

/** The EIPs active at `fork`: its own and every earlier fork's. */
export function forkEips(fork: ChainFork): number[] {
  return CHAIN_FORKS.slice(0, CHAIN_FORKS.indexOf(fork) + 1).flatMap((f) => [...CHAIN_FORK_EIPS[f]])
}

/** EIP-2718 transaction types this node decodes (legacy ones are RLP lists, no type byte). */
const TX_TYPES: ReadonlyArray<readonly [type: number, since: ChainFork, name: string]> = [
  [1, 'shanghai', 'EIP-2930 (1)'],
  [2, 'shanghai', 'EIP-1559 (2)'],
  [4, 'prague', 'EIP-7702 (4)'],
]

/**
 * Why a typed transaction (EIP-2718 type byte `type`) cannot be on a chain running `fork`, or
 * undefined when it can. The pool and block import give the same reason. Blob transactions
 * (type 3) never can: a permissioned chain has no blob market, and its blocks no blob space.
 */
export function txTypeRefusal(type: number, fork: ChainFork): string | undefined {
  const names = ['legacy', ...TX_TYPES.filter(([, since]) => forkAtLeast(fork, since)).map(([, , name]) => name)]
  const accepted = `this chain accepts ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]!} transactions`
  const known = TX_TYPES.find(([t]) => t === type)
  if (known !== undefined && forkAtLeast(fork, known[1])) return undefined
  if (type === 3) return `transaction type not supported: type 3; blob transactions are refused: a medrec chain has no blob market and its blocks carry no blobs, put the data in calldata (${accepted})`
  if (known !== undefined) return `transaction type not supported: type ${type}; set-code transactions need the ${known[1]} fork and this chain runs ${fork} (${accepted})`
  return `transaction type not supported: type ${type}; ${accepted}`
}
