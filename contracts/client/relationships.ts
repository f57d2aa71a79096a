import { bytesToHex, type Address, type Hex } from 'viem'
import { RELATIONSHIPS_ADDRESS } from '../addresses.ts'
import { relationshipsAbi } from '../generated/relationships.ts'
import { bind, checkAddress, pageArgs, receipt, type Bound } from './core.ts'
import { blockTimes, LogIndex, readEvents } from './logs.ts'
import type { Rpc } from './rpc.ts'
import type { Sender } from './transactions.ts'
import type { Bounty, Page, WriteOptions, WriteResult } from './types.ts'

/** The Relationships factory and bounty ledger. */
export interface RelationshipsClient {
  readonly address: Address
  /**
   * Provider account only: a new Patient-Provider Relationship for a registered patient. Its
   * address depends on (provider, patient, endpoint, salt); the salt is random unless given.
   */
  createRelationship(patient: string, endpoint: string, opts?: WriteOptions & { salt?: Hex }): Promise<WriteResult<{ relationship: Address }>>
  /** The address `createRelationship` gives for these arguments (CREATE2). */
  predictAddress(provider: string, patient: string, endpoint: string, salt: Hex): Promise<Address>
  /** Whether the factory made `address` (recomputed from its code, as the contracts check it). */
  isRelationship(address: string): Promise<boolean>
  // The lists below are the factory's events (the contract keeps no list), read through the
  // client's LogIndex: the first read scans from genesis (LOG_WINDOW blocks per eth_getLogs), later
  // ones only the blocks since. They need the JSON-RPC transport.
  relationshipCount(): Promise<number>
  relationships(page?: Page): Promise<Address[]>
  relationshipCountOf(provider: string): Promise<number>
  relationshipsOf(provider: string, page?: Page): Promise<Address[]>
  /** Bounties owned by `owner` (the author of each block that included a provider update), from the BountyCreated events. */
  bounties(owner: string, page?: Page): Promise<Bounty[]>
  bountyCount(owner: string): Promise<number>
}

export function relationshipsContract(sender: Sender): Bound<typeof relationshipsAbi> {
  return bind(sender, relationshipsAbi, RELATIONSHIPS_ADDRESS, 'Relationships')
}

/** A fresh 32-byte salt for a relationship's CREATE2 address. */
export function randomSalt(): Hex {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
}

/** A page of a list (the contracts' Paging: an offset past the end is empty). */
function slice<T>(list: readonly T[], page?: Page): T[] {
  const [offset, limit] = pageArgs(page)
  return list.slice(Number(offset), Number(offset + limit))
}

export function createRelationshipsClient(sender: Sender, rpc?: Rpc, logs: LogIndex = new LogIndex()): RelationshipsClient {
  const c = relationshipsContract(sender)
  const created = async (provider?: Address) =>
    (await readEvents(rpc, { abi: relationshipsAbi, address: RELATIONSHIPS_ADDRESS, eventName: 'RelationshipCreated', ...(provider === undefined ? {} : { args: { provider } }) }, logs)).map((e) => e.args.relationship)
  return {
    address: RELATIONSHIPS_ADDRESS,
    async createRelationship(patient, endpoint, opts) {
      const args = [checkAddress(patient, 'patient'), endpoint, opts?.salt ?? randomSalt()] as const
      const tx = await c.write('create', args, opts)
      return { ...receipt(tx), relationship: c.event(tx, 'RelationshipCreated').args.relationship }
    },
    predictAddress: (provider, patient, endpoint, salt) => c.read('predictAddress', [checkAddress(provider, 'provider'), checkAddress(patient, 'patient'), endpoint, salt]),
    isRelationship: (address) => c.read('isRelationship', [checkAddress(address, 'address')]),
    relationshipCount: async () => (await created()).length,
    relationships: async (page) => slice(await created(), page),
    relationshipCountOf: async (provider) => (await created(checkAddress(provider, 'provider'))).length,
    relationshipsOf: async (provider, page) => slice(await created(checkAddress(provider, 'provider')), page),
    async bounties(owner, page) {
      const events = await readEvents(rpc, { abi: relationshipsAbi, address: RELATIONSHIPS_ADDRESS, eventName: 'BountyCreated', args: { owner: checkAddress(owner, 'owner') } }, logs)
      const list = slice(events, page)
      const times = await blockTimes(rpc, list.map((e) => e.blockNumber))
      return list.map((e) => ({ index: Number(e.args.index), relationship: e.args.relationship, pointerId: Number(e.args.pointerId), blockNumber: e.blockNumber, timestamp: times.get(e.blockNumber) ?? 0, query: e.args.query }))
    },
    bountyCount: async (owner) => Number(await c.read('bountyCount', [checkAddress(owner, 'owner')])),
  }
}
