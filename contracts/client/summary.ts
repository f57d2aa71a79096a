import type { Address } from 'viem'
import { summaryAbi } from '../generated/summary.ts'
import { bind, checkAddress, pageArgs, receipt, type Bound } from './core.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import type { Sender } from './transactions.ts'
import { SUMMARY_ROLES, SUMMARY_STATUSES, type Page, type SummaryEntry, type SummaryStatus, type WriteOptions, type WriteResult } from './types.ts'

/** A participant's Summary: the relationships linked to it and the owner's decisions on them. */
export interface SummaryClient {
  /** The Summary's address (resolved through the Registrar for the caller's own Summary). */
  address(): Promise<Address>
  owner(): Promise<Address>
  /** Owner only: AwaitingApproval or UpdatePending → Accepted. */
  accept(relationship: string, opts?: WriteOptions): Promise<WriteResult<{ status: SummaryStatus }>>
  reject(relationship: string, opts?: WriteOptions): Promise<WriteResult<{ status: SummaryStatus }>>
  /** Owner only: any open entry → Deleted (the record of it stays). */
  remove(relationship: string, opts?: WriteOptions): Promise<WriteResult<{ status: SummaryStatus }>>
  count(): Promise<number>
  entries(page?: Page): Promise<SummaryEntry[]>
  /** undefined when the relationship was never linked here. */
  entryOf(relationship: string): Promise<SummaryEntry | undefined>
}

interface RawEntry {
  relationship: Address
  status: number
  role: number
  addedAt: bigint
  changedAt: bigint
}

function toEntry(e: RawEntry): SummaryEntry | undefined {
  const status = SUMMARY_STATUSES[e.status]
  if (status === undefined || status === 'none') return undefined
  return { relationship: e.relationship, status, role: SUMMARY_ROLES[e.role] ?? 'viewer', addedAt: Number(e.addedAt), changedAt: Number(e.changedAt) }
}

/** `resolveAddress` is called once, on first use (the caller's own Summary needs a Registrar read). */
export function createSummaryClient(sender: Sender, resolveAddress: () => Promise<Address>): SummaryClient {
  let contract: Promise<Bound<typeof summaryAbi>> | undefined
  const c = (): Promise<Bound<typeof summaryAbi>> => {
    contract ??= resolveAddress().then((a) => bind(sender, summaryAbi, a, 'Summary'))
    contract.catch(() => (contract = undefined))
    return contract
  }
  const move = async (fn: 'accept' | 'reject' | 'remove', relationship: string, opts?: WriteOptions) => {
    const s = await c()
    const tx = await s.write(fn, [checkAddress(relationship, 'relationship')], opts)
    const status = toEntry({ relationship: s.address, status: s.event(tx, 'StatusChanged').args.status, role: 0, addedAt: 0n, changedAt: 0n })?.status
    if (status === undefined) throw new ClientError(ClientErrorCode.NOT_FOUND, `Summary.${fn}: unexpected status in ${tx.hash}`, { hash: tx.hash })
    return { ...receipt(tx), status }
  }
  return {
    address: async () => (await c()).address,
    owner: async () => (await c()).read('owner', []),
    accept: (relationship, opts) => move('accept', relationship, opts),
    reject: (relationship, opts) => move('reject', relationship, opts),
    remove: (relationship, opts) => move('remove', relationship, opts),
    count: async () => Number(await (await c()).read('count', [])),
    async entries(page) {
      const list = await (await c()).read('entries', pageArgs(page))
      return list.map(toEntry).filter((e): e is SummaryEntry => e !== undefined)
    },
    entryOf: async (relationship) => toEntry(await (await c()).read('entryOf', [checkAddress(relationship, 'relationship')])),
  }
}
