import { encodeFunctionData } from 'viem'
import { cpuHeavyAbi, cpuHeavyBytecode } from '../../../contracts/generated/bench/cpu-heavy.ts'
import { hexToU8, runContractSetup, type ContractSetup } from './contract-setup.ts'
import type { Workload, WorkloadPlan } from './types.ts'
import { seededRandom } from './zipf.ts'
import { catalogEntry, CPU_SORT_SIZE } from './catalog.ts'

/**
 * Headroom over what CPU_SORT_SIZE words cost. Measured (solc 0.8.37, optimiser 200 runs,
 * receipt gas): 200 random words cost 420–470k a call (128: ~280k, 256: ~590k); quicksort's cost
 * varies with the data. ~470k is the worst seen: a rare bad pivot sequence must not run out of gas.
 */
export const CPU_GAS_LIMIT = 1_000_000n
const SEED = 0xc0de

export const cpuheavySetup: ContractSetup = { initcode: cpuHeavyBytecode, deployGas: 1_000_000n, txs: () => [] }

/** The seed of the array that call (sender, seq) sorts. */
export function cpuheavySeed(sender: number, seq: number): bigint {
  const r = seededRandom(SEED, sender, seq)
  return (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32))
}

export function cpuheavyPlan(contract: string, size = CPU_SORT_SIZE): WorkloadPlan {
  const to = hexToU8(contract)
  return {
    contract,
    tx: (sender, seq) => ({
      to,
      data: hexToU8(encodeFunctionData({ abi: cpuHeavyAbi, functionName: 'sort', args: [BigInt(size), cpuheavySeed(sender, seq)] })),
      gasLimit: CPU_GAS_LIMIT,
    }),
  }
}

/** BlockBench's CPUHeavy: each call quicksorts an in-memory array of pseudo-random words. */
export const cpuheavy: Workload = {
  ...catalogEntry('cpuheavy'),
  setup: async (ctx) => cpuheavyPlan(await runContractSetup(ctx, 'cpuheavy', cpuheavySetup)),
}

export { CPU_SORT_SIZE }
