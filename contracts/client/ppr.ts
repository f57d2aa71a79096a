import { keccak256, toHex, type Address, type Hex } from 'viem'
import { patientProviderRelationshipAbi } from '../generated/patient-provider-relationship.ts'
import { bind, checkAddress, checkHash32, pageArgs, receipt, uint, type Bound } from './core.ts'
import { ClientError, ClientErrorCode } from './errors.ts'
import { readEvents, TextCache } from './logs.ts'
import { bountyQuery, fieldMask, fieldsOfMask, MAX_FIELDS, recordQuery, type BountyQuery, type RecordQuery } from './query.ts'
import type { Rpc } from './rpc.ts'
import type { Sender } from './transactions.ts'
import type { GrantItem, GrantState, Page, Pointer, RelationshipInfo, WriteOptions, WriteResult } from './types.ts'

/** A pointer to records in the provider's database: what to query, and the hash of what it returns. */
export interface NewPointer {
  query: RecordQuery
  /** Must equal `query.fields.length` when given (it is derived from the query otherwise). */
  fieldCount?: number
  /** Hash of the data subset the query returns (e.g. hashCanonical(records)). */
  dataHash: Hex
  /** The aggregate the author of the including block may collect. */
  bountyQuery: BountyQuery
}

export interface PointerUpdate {
  dataHash: Hex
  bountyQuery: BountyQuery
}

/** One Patient-Provider Relationship contract. */
export interface RelationshipClient {
  readonly address: Address
  // provider side
  addPointer(pointer: NewPointer, opts?: WriteOptions): Promise<WriteResult<{ pointerId: number }>>
  updatePointer(pointerId: number, update: PointerUpdate, opts?: WriteOptions): Promise<WriteResult<{ version: number }>>
  /** Links the relationship into the patient's Summary (awaiting the patient's approval). */
  linkPatient(opts?: WriteOptions): Promise<WriteResult>
  setEndpoint(endpoint: string, opts?: WriteOptions): Promise<WriteResult>
  setConsentRequired(required: boolean, opts?: WriteOptions): Promise<WriteResult>
  approveGrant(viewer: string, grantId: number, opts?: WriteOptions): Promise<WriteResult>
  // patient side
  /** Grants `viewer` the listed fields of each pointer until `expiresAt` (unix seconds or a Date; none: no expiry). Replaces an earlier grant. */
  grant(viewer: string, items: readonly GrantItem[], expiresAt?: number | Date, opts?: WriteOptions): Promise<WriteResult<{ grantId: number }>>
  revoke(viewer: string, opts?: WriteOptions): Promise<WriteResult>
  // either side
  terminate(opts?: WriteOptions): Promise<WriteResult>
  // reads
  canRead(reader: string, pointerId: number, fields: readonly number[]): Promise<boolean>
  pointerCount(): Promise<number>
  pointer(pointerId: number): Promise<Pointer>
  pointers(page?: Page): Promise<Pointer[]>
  grantOf(viewer: string): Promise<GrantState>
  viewers(page?: Page): Promise<Address[]>
  patient(): Promise<Address>
  provider(): Promise<Address>
  endpoint(): Promise<string>
  info(): Promise<RelationshipInfo>
}

/** The four addPointer arguments from a NewPointer, validated. */
export function pointerArgs(p: NewPointer): readonly [string, number, Hex, string] {
  const q = recordQuery(p.query)
  if (p.fieldCount !== undefined && p.fieldCount !== q.fieldCount) {
    throw new ClientError(ClientErrorCode.INVALID_QUERY, `fieldCount ${p.fieldCount} does not match the query, which lists ${q.fieldCount} field(s)`)
  }
  return [q.json, q.fieldCount, checkHash32(p.dataHash, 'dataHash'), bountyQuery(p.bountyQuery).json]
}

function expirySeconds(expiresAt: number | Date | undefined): bigint {
  if (expiresAt === undefined) return 0n
  const s = expiresAt instanceof Date ? Math.floor(expiresAt.getTime() / 1000) : expiresAt
  return uint(s, 'expiresAt (unix seconds)', 64)
}

export function pprContract(sender: Sender, address: Address): Bound<typeof patientProviderRelationshipAbi> {
  return bind(sender, patientProviderRelationshipAbi, address, 'PatientProviderRelationship')
}

interface RawPointer {
  dataHash: Hex
  queryHash: Hex
  fieldCount: number
  version: number
  createdBlock: number
  updatedBlock: number
}

/**
 * A relationship's reads and writes. A pointer's query text is its PointerAdded event, read from
 * the one block that added it and checked against the 160-bit hash the pointer keeps, so `rpc`
 * (the client's JSON-RPC transport) is needed for `pointer` and `pointers`. `texts` keeps the
 * checked texts (one cache per client and transport: what one node served is not another's word).
 */
export function createRelationshipClient(sender: Sender, address: string, rpc?: Rpc, texts: TextCache = new TextCache()): RelationshipClient {
  const at = checkAddress(address, 'relationship')
  const c = pprContract(sender, at)
  const key = (id: number, p: RawPointer) => `${at.toLowerCase()}:${id}:${p.queryHash.toLowerCase()}`
  /** The query texts of `list` (ids from `first`), from the PointerAdded logs of their blocks. */
  const withTexts = async (first: number, list: readonly RawPointer[]): Promise<Pointer[]> => {
    const missing = new Set<number>()
    list.forEach((p, i) => {
      if (texts.get(key(first + i, p)) === undefined) missing.add(p.createdBlock)
    })
    await Promise.all(
      [...missing].map(async (block) => {
        const logs = await readEvents(rpc, { abi: patientProviderRelationshipAbi, address: at, eventName: 'PointerAdded', fromBlock: BigInt(block), toBlock: BigInt(block) })
        for (const ev of logs) {
          const id = Number(ev.args.pointerId)
          const p = list[id - first]
          // only a text whose hash the pointer keeps is believed (a reorged or foreign log is not)
          if (p !== undefined && keccak256(toHex(ev.args.query)).slice(0, 42) === p.queryHash.toLowerCase()) texts.set(key(id, p), ev.args.query)
        }
      }),
    )
    return list.map((p, i) => {
      const id = first + i
      const query = texts.get(key(id, p))
      if (query === undefined) {
        throw new ClientError(ClientErrorCode.NOT_FOUND, `pointer ${id} of ${at}: no PointerAdded log in block ${p.createdBlock} carries a query with hash ${p.queryHash} (is the node's log index complete?)`, { relationship: at, pointerId: id })
      }
      return { pointerId: id, query, queryHash: p.queryHash, fieldCount: p.fieldCount, dataHash: p.dataHash, createdBlock: p.createdBlock, updatedBlock: p.updatedBlock, version: p.version }
    })
  }
  return {
    address: at,
    async addPointer(pointer, opts) {
      const tx = await c.write('addPointer', pointerArgs(pointer), opts)
      return { ...receipt(tx), pointerId: Number(c.event(tx, 'PointerAdded').args.pointerId) }
    },
    async updatePointer(pointerId, update, opts) {
      const tx = await c.write('updatePointer', [uint(pointerId, 'pointerId'), checkHash32(update.dataHash, 'dataHash'), bountyQuery(update.bountyQuery).json], opts)
      return { ...receipt(tx), version: c.event(tx, 'PointerUpdated').args.version }
    },
    linkPatient: async (opts) => receipt(await c.write('linkPatient', [], opts)),
    setEndpoint: async (endpoint, opts) => receipt(await c.write('setEndpoint', [endpoint], opts)),
    setConsentRequired: async (required, opts) => receipt(await c.write('setConsentRequired', [required], opts)),
    approveGrant: async (viewer, grantId, opts) => receipt(await c.write('approveGrant', [checkAddress(viewer, 'viewer'), uint(grantId, 'grantId')], opts)),
    async grant(viewer, items, expiresAt, opts) {
      if (items.length === 0) throw new ClientError(ClientErrorCode.INVALID_ARGUMENT, 'a grant must list at least one pointer')
      const ids = items.map((i) => uint(i.pointerId, 'pointerId'))
      const masks = items.map((i) => fieldMask(i.fields, MAX_FIELDS))
      const tx = await c.write('grant', [checkAddress(viewer, 'viewer'), ids, masks, expirySeconds(expiresAt)], opts)
      return { ...receipt(tx), grantId: Number(c.event(tx, 'Granted').args.grantId) }
    },
    revoke: async (viewer, opts) => receipt(await c.write('revoke', [checkAddress(viewer, 'viewer')], opts)),
    terminate: async (opts) => receipt(await c.write('terminate', [], opts)),
    canRead: (reader, pointerId, fields) => c.read('canRead', [checkAddress(reader, 'reader'), uint(pointerId, 'pointerId'), fieldMask(fields, MAX_FIELDS)]),
    pointerCount: async () => Number(await c.read('pointerCount', [])),
    async pointer(pointerId) {
      const [p] = await withTexts(pointerId, [await c.read('pointer', [uint(pointerId, 'pointerId')])])
      return p!
    },
    async pointers(page) {
      const [offset] = pageArgs(page)
      return withTexts(Number(offset), await c.read('pointers', pageArgs(page)))
    },
    async grantOf(viewer) {
      const [g, pointerIds, masks] = await c.read('grantOf', [checkAddress(viewer, 'viewer')])
      return {
        grantId: Number(g.id),
        grantedAt: Number(g.grantedAt),
        expiresAt: Number(g.expiresAt),
        active: g.active,
        providerApproved: g.providerApproved,
        items: pointerIds.map((id, i) => ({ pointerId: Number(id), fields: fieldsOfMask(masks[i] ?? 0n) })),
      }
    },
    viewers: async (page) => [...(await c.read('viewers', pageArgs(page)))],
    patient: () => c.read('patient', []),
    provider: () => c.read('provider', []),
    endpoint: () => c.read('endpoint', []),
    async info() {
      const [provider, patient, patientSummary, endpoint, consentRequired, linked, terminated] = await Promise.all([
        c.read('provider', []),
        c.read('patient', []),
        c.read('patientSummary', []),
        c.read('endpoint', []),
        c.read('consentRequired', []),
        c.read('linked', []),
        c.read('terminated', []),
      ])
      return { provider, patient, patientSummary, endpoint, consentRequired, linked, terminated }
    },
  }
}
