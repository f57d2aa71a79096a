// The workloads `medrec bench run --workload` knows; add one by writing a Workload and listing it here.
import { cpuheavy } from './cpuheavy.ts'
import { donothing } from './donothing.ts'
import { ioheavy } from './ioheavy.ts'
import { kvstore } from './kvstore.ts'
import { medrec } from './medrec.ts'
import { smallbank } from './smallbank.ts'
import { transfer } from './transfer.ts'
import type { Workload } from './types.ts'

export const WORKLOADS: readonly Workload[] = [transfer, donothing, cpuheavy, ioheavy, kvstore, smallbank, medrec]

export function findWorkload(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name)
}

export { WORKLOAD_CATALOG, WORKLOAD_NAMES, workloadInfo, type WorkloadInfo } from './catalog.ts'
export { DONOTHING_INITCODE, NOTHING_SELECTOR } from './donothing.ts'
export { runContractSetup, type ContractSetup, type SetupTx } from './contract-setup.ts'
export { cpuheavy, cpuheavyPlan, cpuheavySeed, cpuheavySetup, CPU_GAS_LIMIT, CPU_SORT_SIZE } from './cpuheavy.ts'
export { ioheavy, ioheavyCall, ioheavyPlan, ioheavySetup, ioScanGasLimit, ioWriteGasLimit, IO_SLOTS } from './ioheavy.ts'
export { kvKey, kvLoadValue, kvstore, kvstoreCalls, kvstorePlan, kvstoreSetup, KV_RECORDS, type KvCall } from './kvstore.ts'
export { medrec } from './medrec.ts'
export { smallbank, smallbankCall, smallbankOpening, smallbankPlan, smallbankSetup, SMALLBANK_ACCOUNTS, type SmallbankCall } from './smallbank.ts'
export { createZipf, seededRandom, uniformInt, ZIPF_THETA } from './zipf.ts'
export { defaultSenders, prepareWorkload, type PreparedWorkload, type SignedTx, type WorkloadOptions } from './prepare.ts'
export type { TxFields, Workload, WorkloadContext, WorkloadPlan } from './types.ts'
