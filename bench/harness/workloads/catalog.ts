/**
 * The workloads by name, what each does and its sizes: the one place for them, and light (no
 * contract or client imports), so `medrec --help` and flag checks do not load the workloads.
 * Each Workload takes its name and description from here; test/bench/workloads.test.ts checks
 * the two lists agree.
 */

/** CPUHeavy: words quicksorted per call. */
export const CPU_SORT_SIZE = 200
/** IOHeavy: storage slots written, then scanned, per call. */
export const IO_SLOTS = 20
/** KVStore: records loaded at set-up, and each value's size. */
export const KV_RECORDS = 1000
export const KV_VALUE_BYTES = 100
/** Smallbank: accounts opened at set-up. */
export const SMALLBANK_ACCOUNTS = 1000

export interface WorkloadInfo {
  name: string
  /** One line for `--help` and the report. */
  description: string
  /** Starts its nodes with its own arguments (Workload.nodeArgs), so it cannot run against --rpc endpoints. */
  ownNodes: boolean
}

export const WORKLOAD_CATALOG: readonly WorkloadInfo[] = [
  { name: 'transfer', description: 'plain value transfers between the senders', ownNodes: false },
  { name: 'donothing', description: 'BlockBench DoNothing: calls to a contract function that does nothing', ownNodes: false },
  { name: 'cpuheavy', description: `BlockBench CPUHeavy: each call quicksorts ${CPU_SORT_SIZE} pseudo-random words in memory (~430k gas)`, ownNodes: false },
  { name: 'ioheavy', description: `BlockBench IOHeavy: calls alternately write ${IO_SLOTS} fresh storage slots (~470k gas) and scan the ${IO_SLOTS} written before (~75k)`, ownNodes: false },
  { name: 'kvstore', description: `BlockBench KVStore with YCSB workload A: ${KV_RECORDS} records of ${KV_VALUE_BYTES} bytes, 50 % reads / 50 % updates (both transactions) over Zipfian keys (theta 0.99)`, ownNodes: false },
  { name: 'smallbank', description: `Smallbank as in BlockBench: ${SMALLBANK_ACCOUNTS} accounts, the standard mix of six transactions over uniformly chosen accounts`, ownNodes: false },
  { name: 'medrec', description: "MedRec flows: providers create relationships, add pointers with bounties and link them; patients accept, grant a viewer and revoke; a third party fetches records from the nodes' gatekeepers", ownNodes: true },
]

export const WORKLOAD_NAMES: readonly string[] = WORKLOAD_CATALOG.map((w) => w.name)

export function workloadInfo(name: string): WorkloadInfo | undefined {
  return WORKLOAD_CATALOG.find((w) => w.name === name)
}

/** A workload module's own entry (a missing one is a programming error). */
export function catalogEntry(name: string): Pick<WorkloadInfo, 'name' | 'description'> {
  const info = workloadInfo(name)
  if (info === undefined) throw new Error(`workload ${name} is missing from node/bench/workloads/catalog.ts`)
  return { name: info.name, description: info.description }
}
