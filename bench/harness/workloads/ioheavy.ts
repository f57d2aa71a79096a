import { encodeFunctionData } from 'viem'
import { ioHeavyAbi, ioHeavyBytecode } from '../../../contracts/generated/bench/io-heavy.ts'
import { hexToU8, runContractSetup, type ContractSetup } from './contract-setup.ts'
import type { Workload, WorkloadPlan } from './types.ts'
import { catalogEntry, IO_SLOTS } from './catalog.ts'

/**
 * Gas limits with headroom (about 1.5×), scaled by the slot count. Measured in the VM: writing
 * 20 fresh slots costs ~473k gas (22.1k each: a cold zero-to-nonzero SSTORE), scanning 20
 * written slots ~75k.
 */
export const ioWriteGasLimit = (slots: number): bigint => 50_000n + 33_000n * BigInt(slots)
export const ioScanGasLimit = (slots: number): bigint => 50_000n + 5_000n * BigInt(slots)

export const ioheavySetup: ContractSetup = { initcode: ioHeavyBytecode, deployGas: 1_000_000n, txs: () => [] }

/**
 * What call (sender, seq) does: even seqs write the sender's next fresh key range, odd seqs scan
 * the range the sender wrote just before (its nonces order the two, so the scan reads what the
 * write stored). Each sender owns keys from sender << 128 up, so ranges never overlap.
 */
export function ioheavyCall(sender: number, seq: number, slots = IO_SLOTS): { op: 'write' | 'scan'; start: bigint; n: bigint } {
  const start = (BigInt(sender) << 128n) + BigInt(Math.floor(seq / 2) * slots)
  return { op: seq % 2 === 0 ? 'write' : 'scan', start, n: BigInt(slots) }
}

export function ioheavyPlan(contract: string, slots = IO_SLOTS): WorkloadPlan {
  const to = hexToU8(contract)
  return {
    contract,
    tx: (sender, seq) => {
      const { op, start, n } = ioheavyCall(sender, seq, slots)
      return {
        to,
        data: hexToU8(encodeFunctionData({ abi: ioHeavyAbi, functionName: op, args: [start, n] })),
        gasLimit: op === 'write' ? ioWriteGasLimit(slots) : ioScanGasLimit(slots),
      }
    },
  }
}

/** BlockBench's IOHeavy: calls alternately write fresh storage slots and scan them back. */
export const ioheavy: Workload = {
  ...catalogEntry('ioheavy'),
  setup: async (ctx) => ioheavyPlan(await runContractSetup(ctx, 'ioheavy', ioheavySetup)),
}

export { IO_SLOTS }
