import { concatHex, getContractAddress, keccak256, toHex, type Address, type Hex } from 'viem'
import { PPR_IMPLEMENTATION_ADDRESS, RELATIONSHIPS_ADDRESS } from './addresses.ts'

/**
 * The EIP-1167 clones of contracts/src/MedRecSystem.sol's CloneArgs, computed off chain: a clone's
 * runtime code is the 45-byte proxy to its implementation followed by its arguments, deployed with
 * CREATE2 and salt keccak256(arguments). Pure (no RPC): the bench workloads and clients address
 * a relationship before it exists.
 */

/** The runtime code of a clone of `implementation` carrying `args`. */
export function cloneCode(implementation: Address, args: Hex): Hex {
  return concatHex(['0x363d3d373d3d3d363d73', implementation, '0x5af43d82803e903d91602b57fd5bf3', args])
}

/** The 10-byte init code that returns `runtime` (CloneArgs.initCode), then `runtime`. */
function initCode(runtime: Hex): Hex {
  const size = (runtime.length - 2) / 2
  return concatHex([`0x61${size.toString(16).padStart(4, '0')}80600a3d393df3`, runtime])
}

/** Where `deployer` puts the clone of `implementation` carrying `args`. */
export function cloneAddress(deployer: Address, implementation: Address, args: Hex): Address {
  return getContractAddress({ opcode: 'CREATE2', from: deployer, salt: keccak256(args), bytecodeHash: keccak256(initCode(cloneCode(implementation, args))) }).toLowerCase() as Address
}

/**
 * The address `Relationships.create(patient, endpoint, salt)` called by `provider` gives, as
 * `Relationships.predictAddress` (which reads the patient's Summary from the Registrar).
 */
export function relationshipAddress(provider: Address, patientSummary: Address, endpoint: string, salt: Hex): Address {
  return cloneAddress(RELATIONSHIPS_ADDRESS, PPR_IMPLEMENTATION_ADDRESS, concatHex([provider, patientSummary, salt, toHex(endpoint)]))
}
