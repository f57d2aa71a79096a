/** How the PostgreSQL record source connects (`--gatekeeper.records postgres://…` and its options). */
export interface PostgresRecordStoreOptions {
  /** A libpq connection URL: postgres://user:password@host:port/database (the password is never logged). */
  url: string
  /** The mapping file (JSON). */
  mappingFile: string
  /** Connections for reads; default 10. */
  poolSize?: number
  /** Longest a statement may run, ms; default 5000. */
  statementTimeoutMs?: number
  /** Longest to wait for a connection, ms; default 5000. */
  connectTimeoutMs?: number
}

/** Pool and timeout defaults of the PostgreSQL record source. */
export const DEFAULT_POSTGRES = { poolSize: 10, statementTimeoutMs: 5000, connectTimeoutMs: 5000 } as const
