import { hexToBytes } from '@ethereumjs/util'
import type { Hex } from 'viem'

/**
 * The standalone contract VM is evm/contract-vm.ts (in-memory ethereumjs, the chain's fork rules);
 * contracts/vm.ts puts the MedRec predeploys in it. The tests call it by its old name here:
 * `createContractVM(authorities, funded)` is a VM holding the genesis predeploys.
 */
export { actor, type Actor, type ContractVM, type Outcome } from '../../evm/index.ts'
export { createSystemVM as createContractVM } from '../../contracts/vm.ts'

/** Opcodes of runtime code, skipping PUSH data and solc's trailing CBOR metadata. */
export function runtimeOpcodes(code: Hex): number[] {
  const bytes = hexToBytes(code)
  const metaLen = ((bytes[bytes.length - 2] ?? 0) << 8) | (bytes[bytes.length - 1] ?? 0)
  const end = bytes.length - metaLen - 2
  const ops: number[] = []
  for (let i = 0; i < end; i++) {
    const op = bytes[i]!
    ops.push(op)
    if (op >= 0x60 && op <= 0x7f) i += op - 0x5f
  }
  return ops
}
