/**
 * Set-up as data: a contract's init code and the transactions that load it, so the same list runs
 * on the network (`runContractSetup`) and in a test's VM. Everything is sent by the funder.
 */
import type { TxFields, WorkloadContext } from './types.ts'

export interface SetupTx {
  fields: TxFields
  /** A progress line to print once this transaction is included, e.g. "loaded 200/1000 records". */
  done?: string
}

export interface ContractSetup {
  initcode: string
  deployGas: bigint
  /** The loading transactions to the deployed contract, in order (none for stateless workloads). */
  txs(contract: Uint8Array): SetupTx[]
}

/** Set-up transactions in flight at once: well under the pool's per-sender limit (64). */
const WINDOW = 16

export const hexToU8 = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ''), 'hex'))

/** Deploys the contract, then sends its loading transactions in windows, waiting for each window's last. */
export async function runContractSetup(ctx: WorkloadContext, name: string, setup: ContractSetup): Promise<string> {
  const contract = await ctx.deploy(setup.initcode, setup.deployGas, `the ${name} deployment`)
  const txs = setup.txs(hexToU8(contract))
  for (let i = 0; i < txs.length; i += WINDOW) {
    const window = txs.slice(i, i + WINDOW)
    let last = ''
    for (const tx of window) last = await ctx.send(tx.fields, ctx.funderKey)
    await ctx.waitIncluded(last, `${name} set-up transaction ${i + window.length} of ${txs.length}`)
    const done = window.findLast((t) => t.done !== undefined)?.done
    if (done !== undefined) ctx.progress(`${name}: ${done}`)
  }
  return contract
}
