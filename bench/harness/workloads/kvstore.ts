import { encodeFunctionData, type Hex } from 'viem'
import { kvStoreAbi, kvStoreBytecode } from '../../../contracts/generated/bench/kv-store.ts'
import { hexToU8, runContractSetup, type ContractSetup, type SetupTx } from './contract-setup.ts'
import type { Workload, WorkloadPlan } from './types.ts'
import { createZipf, seededRandom } from './zipf.ts'
import { catalogEntry, KV_RECORDS, KV_VALUE_BYTES } from './catalog.ts'

/** Records per loading transaction: measured 2.88M gas for 25 fresh records (~115k each). */
export const KV_LOAD_BATCH = 25
export const KV_LOAD_GAS_LIMIT = 4_500_000n
/** Measured (receipt gas): a read ~34k, an update of a 100-byte value ~47k; limits with headroom. */
export const KV_READ_GAS_LIMIT = 60_000n
export const KV_UPDATE_GAS_LIMIT = 100_000n
const LOAD_SEED = 0x10ad
const RUN_SEED = 0x7c5b

/** YCSB's key naming. */
export const kvKey = (record: number): string => `user${record}`

function randomBytes(r: () => number): Hex {
  let h = '0x'
  for (let i = 0; i < KV_VALUE_BYTES; i++) h += Math.floor(r() * 256).toString(16).padStart(2, '0')
  return h as Hex
}

/** The value record `record` is loaded with. */
export const kvLoadValue = (record: number): Hex => randomBytes(seededRandom(LOAD_SEED, record))

/** The load phase: `records` records in batches of KV_LOAD_BATCH, from the funder. */
export function kvstoreSetup(records = KV_RECORDS): ContractSetup {
  return {
    initcode: kvStoreBytecode,
    deployGas: 1_000_000n,
    txs(contract) {
      const txs: SetupTx[] = []
      for (let first = 0; first < records; first += KV_LOAD_BATCH) {
        const ids = Array.from({ length: Math.min(KV_LOAD_BATCH, records - first) }, (_, i) => first + i)
        const data = encodeFunctionData({ abi: kvStoreAbi, functionName: 'setBatch', args: [ids.map(kvKey), ids.map(kvLoadValue)] })
        txs.push({ fields: { to: contract, data: hexToU8(data), gasLimit: KV_LOAD_GAS_LIMIT }, done: `loaded ${first + ids.length}/${records} records` })
      }
      return txs
    },
  }
}

export type KvCall = { op: 'read'; record: number } | { op: 'update'; record: number; value: Hex }

/** YCSB workload A as a pure function of (sender, seq): 50 % reads, 50 % updates, Zipfian keys. */
export function kvstoreCalls(records = KV_RECORDS): (sender: number, seq: number) => KvCall {
  const zipf = createZipf(records)
  return (sender, seq) => {
    const r = seededRandom(RUN_SEED, sender, seq)
    const read = r() < 0.5
    const record = zipf.sample(r())
    return read ? { op: 'read', record } : { op: 'update', record, value: randomBytes(r) }
  }
}

export function kvstorePlan(contract: string, records = KV_RECORDS): WorkloadPlan {
  const to = hexToU8(contract)
  const call = kvstoreCalls(records)
  return {
    contract,
    tx(sender, seq) {
      const c = call(sender, seq)
      const data =
        c.op === 'read'
          ? encodeFunctionData({ abi: kvStoreAbi, functionName: 'get', args: [kvKey(c.record)] })
          : encodeFunctionData({ abi: kvStoreAbi, functionName: 'set', args: [kvKey(c.record), c.value] })
      return { to, data: hexToU8(data), gasLimit: c.op === 'read' ? KV_READ_GAS_LIMIT : KV_UPDATE_GAS_LIMIT }
    },
  }
}

/** BlockBench's KVStore driven by YCSB workload A. */
export const kvstore: Workload = {
  ...catalogEntry('kvstore'),
  setup: async (ctx) => kvstorePlan(await runContractSetup(ctx, 'kvstore', kvstoreSetup())),
}

export { KV_RECORDS, KV_VALUE_BYTES }
