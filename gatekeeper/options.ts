import type { PostgresRecordStoreOptions } from './db/index.ts'

/** Options of the built-in gatekeeper (`medrec start --gatekeeper …`). */
export interface GatekeeperOptions {
  /** Folder for the gatekeeper's files: state.sqlite, records.sqlite, secret. */
  dir: string
  /** The provider's record database (SQLite); default DIR/records.sqlite. */
  recordsPath?: string
  /**
   * The provider's own PostgreSQL database, read through a mapping file, as the record source
   * instead of the SQLite store (which then keeps only the gatekeeper's own bookkeeping).
   */
  records?: PostgresRecordStoreOptions
  /** HTTP API listen address; absent: no HTTP (libp2p only). */
  http?: { host: string; port: number }
  /** Endpoint to publish instead of the HTTP URL (e.g. behind a proxy). */
  publicUrl?: string
  /**
   * TLS of the HTTP API: the operator's PEM certificate and key files; absent: a self-signed
   * development certificate in DIR/tls/ (made at the first start); false: plain HTTP, for a
   * gatekeeper behind a TLS-terminating proxy (then `publicUrl` must be https).
   */
  tls?: { cert: string; key: string } | false
  /** k-anonymity of bounty aggregates. */
  k: number
  /** Longest lifetime of a signed request, seconds. */
  maxRequestLifetime: number
  /** Anchor the audit head on chain after this many new entries (0: not by count); default 100. */
  auditAnchorEntries?: number
  /** …or this many seconds after the last anchor when the log grew (0: not by time); default 600. */
  auditAnchorIntervalSeconds?: number
  /** Requests per second per requester (verified address, else remote address); 0: no limit. Default 10. */
  rateLimit?: number
  /** How many requests a requester may send at once before the rate applies; default 100. */
  rateBurst?: number
  /**
   * New relationships are created by a fresh delegate account that another authority verifies
   * and funds (gatekeeper/delegates/); default true. false: by the gatekeeper's own account.
   */
  delegates?: boolean
  /** Wei this node sends to each delegate it verifies for another authority; default 1 ether. */
  delegateFunding?: bigint
  /** Lifetime of a SMART access token, seconds; default 300 (a revocation ends it at once anyway: the FHIR API asks the chain at every request). */
  smartTokenLifetime?: number
}

export const DEFAULT_GATEKEEPER = {
  httpHost: '127.0.0.1',
  httpPort: 8547,
  k: 5,
  maxRequestLifetime: 300,
  auditAnchorEntries: 100,
  auditAnchorIntervalMinutes: 10,
  // Generous: a patient's app, and the bench's timed fetches (5 per second from one third party), stay far below.
  rateLimit: 10,
  rateBurst: 100,
  delegates: true,
  delegateFunding: 10n ** 18n,
  // Delegate verifications this node does for others: each costs it gas and funding.
  delegateRate: 1,
  delegateBurst: 10,
} as const
