/** Options of the built-in gatekeeper (`medrec start --gatekeeper …`). */
export interface GatekeeperOptions {
  /** Folder for the gatekeeper's files: state.sqlite, records.sqlite, secret. */
  dir: string
  /** The provider's record database (SQLite); default DIR/records.sqlite. */
  recordsPath?: string
  /** HTTP API listen address; absent: no HTTP (libp2p only). */
  http?: { host: string; port: number }
  /** Endpoint to publish instead of the HTTP URL (e.g. behind a proxy). */
  publicUrl?: string
  /** k-anonymity of bounty aggregates. */
  k: number
  /** Longest lifetime of a signed request, seconds. */
  maxRequestLifetime: number
}

export const DEFAULT_GATEKEEPER = { httpHost: '127.0.0.1', httpPort: 8547, k: 5, maxRequestLifetime: 300 } as const
