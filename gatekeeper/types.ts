import type { BountyQuery, RecordQuery } from '../contracts/client/index.ts'

/**
 * Shared shapes of the gatekeeper: the provider-database adapter, the signed request, and
 * what a requester receives. Transport-independent (HTTP and libp2p carry the same JSON).
 */

/** A FHIR R4 resource as JSON. `id` is the provider's local resource id. */
export interface FhirResource {
  resourceType: string
  id: string
  [element: string]: unknown
}

/** A FHIR Bundle of type `searchset` (what record reads return). */
export interface FhirBundle {
  resourceType: 'Bundle'
  type: 'searchset' | 'collection' | 'transaction'
  total?: number
  entry: { fullUrl?: string; resource: FhirResource }[]
}

/** One released cell of an aggregate: the group's values, how many distinct patients and records it covers. */
export interface AggregateCell {
  /** groupBy field → value (empty object when the query has no groupBy). */
  group: Record<string, string | number | boolean | null>
  patients: number
  records: number
  /** The aggregate's value (count, sum, mean, min or max); null when no record has the field. */
  value: number | null
}

/**
 * The provider's database as the gatekeeper sees it. The SQLite store is the default; a provider
 * with its own database implements this (see gatekeeper/db/adapter.ts and the README).
 * Every method must scope by the arguments it is given and build its SQL with bound parameters.
 */
export interface RecordSource {
  /**
   * The full resources of one local patient of `query.resourceType` whose coded element has a
   * coding in one of `query.codeSystems` (all of them when absent), sorted by id. Field
   * projection is the gatekeeper's job, not the adapter's. Must throw a GatekeeperError
   * UNSUPPORTED_SEARCH for a filter it cannot apply (ignoring one would widen the result).
   */
  query(patientId: string, query: RecordQuery): Promise<FhirResource[]>
  /** Whether a local patient exists. */
  hasPatient(patientId: string): Promise<boolean>
  /** The aggregate over all of the provider's patients, one cell per group, with distinct-patient counts. */
  aggregate(query: BountyQuery): Promise<AggregateCell[]>
  close(): Promise<void>
}

/** What a request asks for. */
export const REQUEST_METHODS = ['records', 'bounty', 'audit'] as const
export type RequestMethod = (typeof REQUEST_METHODS)[number]

/**
 * The EIP-712 message a requester signs (primary type `GatekeeperRequest`, domain
 * `{ name: 'MedRec Gatekeeper', version: '1', chainId }`). Numbers travel as decimal strings in JSON.
 */
export interface GatekeeperRequest {
  /** The provider account this gatekeeper answers for: binds the request to one gatekeeper. */
  gatekeeper: `0x${string}`
  method: RequestMethod
  /** The Patient-Provider Relationship asked about (zero address: all of the requester's, for `audit`). */
  relationship: `0x${string}`
  /** Pointers of the relationship (records); [pointerId] for bounty; [] for audit. */
  pointerIds: bigint[]
  /** One field mask per pointer (bit i = field i of the pointer's query); [] unless records. */
  fieldMasks: bigint[]
  /** Bounty: the index in Relationships.bounties(requester); 0 otherwise. */
  index: bigint
  /** 32 random bytes: a request is served at most once. */
  nonce: `0x${string}`
  /** Unix seconds. */
  issuedAt: bigint
  /** Unix seconds; the gatekeeper refuses lifetimes above its maximum (default 300 s). */
  expiresAt: bigint
}

/** The wire form: the message with numbers as decimal strings, the requester's claimed address, and its 65-byte signature. */
export interface SignedRequestJson {
  request: {
    gatekeeper: string
    method: string
    relationship: string
    pointerIds: string[]
    fieldMasks: string[]
    index: string
    nonce: string
    issuedAt: string
    expiresAt: string
  }
  /** The requester's address; must equal the signer. */
  from: string
  /** 0x + r(32) s(32) v(1), v 27/28 or 0/1. */
  signature: string
}

/** ECIES envelope: secp256k1 ECDH with an ephemeral key, HKDF-SHA256, AES-256-GCM. All hex. */
export interface EncryptedPayload {
  v: 1
  ephemeralPublicKey: string
  iv: string
  ciphertext: string
  tag: string
}

/** The proof that lets a receiver check a (possibly partial) result against the pointer's dataHash. */
export interface FieldProof {
  /** Salts of the fields returned (field index → 0x salt). */
  salts: Record<string, string>
  /** Commitments of the fields withheld (field index → 0x commitment). */
  commitments: Record<string, string>
}

/** One pointer's part of a records response. */
export interface PointerRecords {
  pointerId: number
  /** The pointer's query as stored on chain (canonical JSON). */
  query: string
  /** The pointer's dataHash on chain when the gatekeeper answered. */
  dataHash: string
  version: number
  /** Indexes of the fields returned (the rest are withheld). */
  fields: number[]
  bundle: FhirBundle
  proof: FieldProof
}
