import type { BountyQuery, RecordQuery } from '../contracts/client/index.ts'
import type { AggregateCell, FhirBundle, FhirResource } from './types.ts'

/**
 * The gatekeeper's operations as the node exposes them over JSON-RPC (`medrec_*`, one object
 * parameter each) and the CLI calls them. They act with the node's gatekeeper account, so like
 * geth's `clique_propose` they belong on a local RPC endpoint only. Numbers are JSON numbers,
 * addresses and hashes 0x strings.
 */
export const MEDREC_METHODS = [
  'medrec_gatekeeperInfo',
  'medrec_addPatient',
  'medrec_addRecord',
  'medrec_update',
  'medrec_import',
  'medrec_consentRequests',
  'medrec_requireConsent',
  'medrec_approve',
  'medrec_relationships',
  'medrec_accept',
  'medrec_reject',
  'medrec_delete',
  'medrec_share',
  'medrec_revoke',
  'medrec_fetch',
  'medrec_audit',
  'medrec_anchorAudit',
  'medrec_bounties',
  'medrec_collectBounty',
  'medrec_collectedBounties',
  'medrec_notifications',
] as const
export type MedrecMethod = (typeof MEDREC_METHODS)[number]

export interface GatekeeperInfo {
  /** The account this gatekeeper serves and requests as. */
  account: string
  chainId: number
  /** HTTP base URL of the gatekeeper API, when it listens. */
  url?: string
  /** SHA-256 of the DER of the HTTPS API's certificate (0x-hex), as published in the Registrar for requesters to pin; absent over plain HTTP. */
  tlsFingerprint?: string
  /** libp2p multiaddrs (with peer id) serving `/medrec/gatekeeper/1`, when p2p is on. */
  multiaddrs: string[]
  /** The endpoint new relationships record (url, else the first multiaddr). */
  endpoint: string
  /** Uncompressed secp256k1 public key (0x04…) responses to this account are encrypted to. */
  publicKey: string
  k: number
  patients: number
  relationships: number
  /** The head of the audit log patients read (operator only: never on the public GET /v1/info). */
  audit: { seq: number; hash: string }
  /** The seq last anchored in the Registrar, as far as this gatekeeper knows. */
  auditAnchored: number
  /** The head of the provider-only log (refusals of unverified or rate-limited requests). */
  providerAudit: { seq: number; hash: string }
}

// ---- provider side ----

export interface AddPatientParams {
  /** The MedRec identity string (a name or an ID hash; never health data). */
  identity: string
  /** The patient's account. Registered in the Registrar when not yet (needs an authority). */
  address: string
  /** A FHIR Patient resource to store (its id is the local patient id); a minimal one is made when absent. */
  patient?: FhirResource
  /**
   * With a PostgreSQL record database: the key of a patient it holds already, put on chain as it
   * is (nothing is written to its tables). Not with `patient`; not with the embedded store.
   */
  patientId?: string
}
export interface AddPatientResult {
  patientId: string
  identity: string
  address: string
  summary: string
  /** Whether this call registered the identity on chain. */
  registered: boolean
}

export interface AddRecordParams {
  /** The patient, by identity (as given to addPatient) or local patient id. */
  identity?: string
  patientId?: string
  /** Resources to store for the patient (their subject/patient reference is set to the patient). */
  resources: FhirResource[]
  /**
   * The pointer's query (stored on chain: a resource type, fields and optionally code systems,
   * never values; see recordQuery); default: the resource type of the first resource with its
   * default fields.
   */
  query?: RecordQuery
  /** The bounty attached to the update; default: count of that resource type grouped by code. */
  bounty?: BountyQuery
}
export interface AddRecordResult {
  relationship: string
  /** For a new relationship: the account that created it and acts as its provider (a fresh delegate by default). */
  provider?: string
  pointerId: number
  dataHash: string
  /** 'created': new relationship (create + addPointer + linkPatient); 'added': new pointer; 'updated': new hash; 'unchanged'. */
  action: 'created' | 'added' | 'updated' | 'unchanged'
  transactions: string[]
}

export interface UpdateParams {
  /** Only this patient's relationships (identity or patient id); all when absent. */
  identity?: string
  patientId?: string
  bounty?: BountyQuery
}
export interface UpdateResult {
  updated: { relationship: string; pointerId: number; dataHash: string }[]
  unchanged: number
  /**
   * Pointers left alone because their stored query is outside the query grammar (e.g. one with
   * search values, written by a hand-made transaction or an older client): the gatekeeper never
   * serves them, so their hash is not kept either. Absent when there are none.
   */
  outsideGrammar?: { relationship: string; pointerId: number; reason: string }[]
}

export interface ImportParams {
  /** A FHIR Bundle (JSON object). */
  bundle?: unknown
  /** CSV text, with `resourceType`. */
  csv?: string
  resourceType?: string
  /** Then run `update` so changed pointers get new hashes on chain. */
  publish?: boolean
}
export interface ImportResult {
  imported: number
  byType: Record<string, number>
  update?: UpdateResult
}

/** A relationship this gatekeeper serves whose provider approval a patient's shares now need (or no longer need). */
export interface RequireConsentParams {
  relationship: string
  required: boolean
}

/**
 * A grant waiting for this provider's consent: on a relationship this gatekeeper serves that
 * requires it, active, not expired and not yet approved.
 */
export interface ConsentRequest {
  relationship: string
  patient: string
  viewer: string
  /** The grant the approval is for: a later grant to the same viewer needs its own. */
  grantId: number
  /** Unix seconds. */
  grantedAt: number
  /** Unix seconds; 0: no expiry. */
  expiresAt: number
  items: { pointerId: number; fields: number[] }[]
}

export interface ApproveParams {
  relationship: string
  viewer: string
  /** The grant seen (ConsentRequest.grantId): refused when the patient has replaced it since. */
  grantId: number
}
export interface ApproveResult {
  relationship: string
  viewer: string
  grantId: number
  transaction: string
}

// ---- patient / viewer side ----

export interface RelationshipView {
  relationship: string
  role: 'patient' | 'viewer'
  status: string
  provider: string
  patient: string
  endpoint: string
  terminated: boolean
  pointers: { pointerId: number; query: string; fieldCount: number; dataHash: string; version: number }[]
  /** For a viewer: what the patient granted it. */
  grant?: { grantId: number; expiresAt: number; active: boolean; items: { pointerId: number; fields: number[] }[] }
  /** What the local cache holds. */
  cached: { pointerId: number; version: number; status: 'verified' | 'tampered'; fetchedAt: number }[]
}

export interface ShareParams {
  relationship: string
  viewer: string
  items: { pointerId: number; fields: number[] }[]
  /** Unix seconds; 0 or absent: no expiry. */
  expiresAt?: number
}

export interface FetchParams {
  relationship: string
  /** Default: every pointer the account may read, with every field it may read. */
  pointerIds?: number[]
  /** Default: the relationship's endpoint. 'p2p' or 'http' use the provider's Registrar entry instead. */
  transport?: 'http' | 'p2p'
}
export interface FetchedPointer {
  pointerId: number
  version: number
  fields: number[]
  /** 'verified': matches the hash on chain; 'tampered': does not (the records are kept apart and flagged). */
  status: 'verified' | 'tampered'
  dataHash: string
  bundle: FhirBundle
}
export interface FetchResult {
  relationship: string
  gatekeeper: string
  transport: 'http' | 'p2p'
  pointers: FetchedPointer[]
}

export interface AuditParams {
  /** One relationship; all of the account's relationships at that gatekeeper when absent. */
  relationship?: string
  /** Which gatekeeper to ask (provider account); default: the relationship's provider. */
  gatekeeper?: string
}
export interface AuditEntryView {
  seq: number
  /** Unix milliseconds. */
  time: number
  requester: string
  method: string
  relationship: string
  /** Decimal strings. */
  pointerIds: string[]
  fieldMasks: string[]
  decision: 'granted' | 'refused'
  reason: string
  hash: string
  prevHash: string
  /** Whether the latest on-chain anchor covers this entry (seq ≤ anchored seq). */
  covered: boolean
}
export interface AuditResult {
  gatekeeper: string
  entries: AuditEntryView[]
  /** The head the gatekeeper holds now. */
  head: { seq: number; hash: string }
  /** The entries open their commitments and the whole chain recomputes to the head. */
  linked: boolean
  /** Why the check failed ('' when linked). */
  problem: string
  /** The gatekeeper's latest anchor in the Registrar, read from this node's chain; null when none. */
  anchor: { seq: number; head: string; blockNumber: number; transaction: string } | null
  /**
   * Entries up to the anchored seq: 'verified' (the recomputed chain ends in the anchored head),
   * 'mismatch' (it does not: the log was rewritten after the anchor), 'none' (no anchor covers them).
   */
  covered: { throughSeq: number; status: 'verified' | 'mismatch' | 'none'; entries: number }
  /** Entries after the anchored seq: only the gatekeeper's word until the next anchor. */
  uncovered: { fromSeq: number; entries: number }
}

export interface BountyView {
  index: number
  relationship: string
  pointerId: number
  blockNumber: number
  timestamp: number
  query: string
  /** Collected already (stored locally). */
  collected: boolean
}
/** The earlier release a bounty's answer repeats. */
export interface BountyRepeat {
  owner: string
  index: number
  blockNumber: number
}

/** What a provider releases for a bounty: the k-anonymous cells, as the signed result and the collector's view carry them. */
export interface BountyRelease {
  provider: string
  k: number
  cells: AggregateCell[]
  /** Cells withheld because fewer than k patients were in them. */
  suppressed: number
  /** When the provider computed the cells (unix seconds); every later collection returns the same release. */
  computedAt: number
  /** Set when the cells are an earlier release's: this bounty's cohort differed from it by fewer than k patients. */
  repeats?: BountyRepeat
}

export interface BountyResult extends BountyRelease {
  index: number
  relationship: string
  /** The provider's signature over the result (EIP-191 over the canonical JSON's keccak). */
  signature: string
  /** Recovered from the signature; equals `provider` when valid. */
  signer: string
}

export type NotificationKind = 'relationship-added' | 'update-pending' | 'grant' | 'accepted' | 'rejected' | 'terminated' | 'records-fetched' | 'records-tampered'
export interface Notification {
  id: number
  time: number
  kind: NotificationKind
  relationship: string
  message: string
}
