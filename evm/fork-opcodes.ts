import type { EVMOpts } from '@ethereumjs/evm'
import { forkAtLeast, type ChainFork } from './forks.ts'

/** An opcode added to a VM (ethereumjs exports the list's type, not the entry's). */
type AddOpcode = Extract<NonNullable<EVMOpts['customOpcodes']>[number], { logicFunction: unknown }>

/** EIP-4844's minimum blob base fee, in wei: what the fee stays at when no block carries blobs. */
const MIN_BLOB_BASE_FEE = 1n

/**
 * Cancun's BLOBHASH (EIP-4844) and BLOBBASEFEE (EIP-7516) on a chain that carries no blobs,
 * answered as geth answers them there: no transaction has blob hashes, so BLOBHASH(i) is 0, and
 * the excess blob gas never leaves 0, so the blob base fee is its minimum. ethereumjs ties both
 * opcodes to EIP-4844, which would bring the blob header fields and the KZG point-evaluation
 * precompile with it (forks.ts), so they are added to the fork's VMs here instead.
 */
export function forkOpcodes(fork: ChainFork): AddOpcode[] {
  if (!forkAtLeast(fork, 'cancun')) return []
  return [
    {
      opcode: 0x49,
      opcodeName: 'BLOBHASH',
      baseFee: 3,
      logicFunction: (runState) => {
        runState.stack.pop()
        runState.stack.push(0n)
      },
    },
    { opcode: 0x4a, opcodeName: 'BLOBBASEFEE', baseFee: 2, logicFunction: (runState) => runState.stack.push(MIN_BLOB_BASE_FEE) },
  ]
}
