import type { Address, Hex } from 'viem'

export type { Address, Hex } from 'viem'

/** Summary entry statuses, in the order of `enum Status` (contracts/src/MedRecSystem.sol). */
export const SUMMARY_STATUSES = ['none', 'awaiting-approval', 'update-pending', 'accepted', 'rejected', 'deleted'] as const
export type SummaryStatus = Exclude<(typeof SUMMARY_STATUSES)[number], 'none'>

/** Why a relationship is in a Summary, in the order of `enum Role`. */
export const SUMMARY_ROLES = ['patient', 'viewer'] as const
export type SummaryRole = (typeof SUMMARY_ROLES)[number]

/** A page of a list held on chain. Defaults: offset 0, limit 100. */
export interface Page {
  offset?: number | bigint
  limit?: number | bigint
}

/** Per-write overrides. Normally none: the client estimates gas, prices EIP-1559 fees and counts nonces. */
export interface WriteOptions {
  gas?: bigint
  maxFeePerGas?: bigint
  maxPriorityFeePerGas?: bigint
  /** Send with this nonce instead of the client's counter (the counter resyncs from the node afterwards). */
  nonce?: bigint
  /** Called once the node accepted the transaction, before waiting for inclusion (e.g. to show the hash). */
  onSent?: (tx: { hash: Hex; nonce: bigint }) => void
}

/** An included, successful transaction. */
export interface TxReceipt {
  hash: Hex
  blockNumber: bigint
  blockHash: Hex
  gasUsed: bigint
  nonce: bigint
}

/** What every write resolves to: the receipt plus the values the flow produced (from its events). */
export type WriteResult<T extends object = Record<never, never>> = TxReceipt & T

export interface ProviderEntry {
  name: string
  /** Gatekeeper HTTP URL (may be empty when `multiaddr` is set). */
  url: string
  /** Gatekeeper libp2p multiaddr with peer id (may be empty when `url` is set). */
  multiaddr: string
  encryptionKey: Hex
  /** SHA-256 of the DER of the gatekeeper's TLS certificate (requesters pin `url` to it); `undefined` when the entry names none. */
  tlsFingerprint: Hex | undefined
  /** Whether the address ever published an entry. */
  listed: boolean
  /** Whether the address is a current authority. */
  authority: boolean
}

export interface ProviderInfo {
  name: string
  url?: string
  multiaddr?: string
  /** Public key the gatekeeper encrypts to (bytes as hex); `0x` when none. */
  encryptionKey?: Hex
  /** SHA-256 of the DER of the gatekeeper's TLS certificate (32 bytes as hex); absent: none. */
  tlsFingerprint?: Hex
}

export interface Bounty {
  /** Its place among the owner's bounties (BountyCreated's index, from 0). */
  index: number
  /** The relationship whose update created the bounty. */
  relationship: Address
  pointerId: number
  blockNumber: bigint
  /** Block timestamp, seconds. */
  timestamp: number
  query: string
}

export interface Pointer {
  pointerId: number
  /**
   * The query text (canonical JSON when written by this client; see parseRecordQuery), from the
   * PointerAdded event, checked against `queryHash`.
   */
  query: string
  /** What the relationship stores of the query: the first 20 bytes of its keccak-256. */
  queryHash: Hex
  fieldCount: number
  dataHash: Hex
  /** The block that added the pointer (its PointerAdded event is in it). */
  createdBlock: number
  /** The block of the last update (the block that added it while never updated). */
  updatedBlock: number
  version: number
}

/** One pointer of a grant and the field indexes (bits of the pointer's query) it covers. */
export interface GrantItem {
  pointerId: number
  fields: number[]
}

export interface GrantState {
  /** 0 when the viewer was never granted anything. */
  grantId: number
  grantedAt: number
  /** Seconds; 0 means no expiry. */
  expiresAt: number
  active: boolean
  providerApproved: boolean
  items: GrantItem[]
}

export interface SummaryEntry {
  relationship: Address
  status: SummaryStatus
  role: SummaryRole
  addedAt: number
  changedAt: number
}

export interface RelationshipInfo {
  provider: Address
  patient: Address
  patientSummary: Address
  endpoint: string
  consentRequired: boolean
  linked: boolean
  terminated: boolean
}
