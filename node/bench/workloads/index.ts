// The workloads `medrec bench run --workload` knows; add one by writing a Workload and listing it here.
import { donothing } from './donothing.ts'
import { transfer } from './transfer.ts'
import type { Workload } from './types.ts'

export const WORKLOADS: readonly Workload[] = [transfer, donothing]
export const WORKLOAD_NAMES: readonly string[] = WORKLOADS.map((w) => w.name)

export function findWorkload(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name)
}

export { DONOTHING_INITCODE, NOTHING_SELECTOR } from './donothing.ts'
export { defaultSenders, prepareWorkload, type PreparedWorkload, type SignedTx, type WorkloadOptions } from './prepare.ts'
export type { TxFields, Workload, WorkloadContext, WorkloadPlan } from './types.ts'
