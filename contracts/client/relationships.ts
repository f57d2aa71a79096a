import { bytesToHex, type Address, type Hex } from 'viem'
import { RELATIONSHIPS_ADDRESS } from '../addresses.ts'
import { relationshipsAbi } from '../generated/relationships.ts'
import { bind, checkAddress, pageArgs, receipt, type Bound } from './core.ts'
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
  isRelationship(address: string): Promise<boolean>
  relationshipCount(): Promise<number>
  relationships(page?: Page): Promise<Address[]>
  relationshipCountOf(provider: string): Promise<number>
  relationshipsOf(provider: string, page?: Page): Promise<Address[]>
  /** Bounties owned by `owner`: the author of each block that included a provider update. */
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

export function createRelationshipsClient(sender: Sender): RelationshipsClient {
  const c = relationshipsContract(sender)
  return {
    address: RELATIONSHIPS_ADDRESS,
    async createRelationship(patient, endpoint, opts) {
      const args = [checkAddress(patient, 'patient'), endpoint, opts?.salt ?? randomSalt()] as const
      const tx = await c.write('create', args, opts)
      return { ...receipt(tx), relationship: c.event(tx, 'RelationshipCreated').args.relationship }
    },
    predictAddress: (provider, patient, endpoint, salt) => c.read('predictAddress', [checkAddress(provider, 'provider'), checkAddress(patient, 'patient'), endpoint, salt]),
    isRelationship: (address) => c.read('isRelationship', [checkAddress(address, 'address')]),
    relationshipCount: async () => Number(await c.read('relationshipCount', [])),
    relationships: async (page) => [...(await c.read('relationships', pageArgs(page)))],
    relationshipCountOf: async (provider) => Number(await c.read('relationshipCountOf', [checkAddress(provider, 'provider')])),
    relationshipsOf: async (provider, page) => [...(await c.read('relationshipsOf', [checkAddress(provider, 'provider'), ...pageArgs(page)]))],
    async bounties(owner, page) {
      const list = await c.read('bounties', [checkAddress(owner, 'owner'), ...pageArgs(page)])
      return list.map((b) => ({ relationship: b.relationship, pointerId: Number(b.pointerId), blockNumber: b.blockNumber, timestamp: Number(b.timestamp), query: b.query }))
    },
    bountyCount: async (owner) => Number(await c.read('bountyCount', [checkAddress(owner, 'owner')])),
  }
}
