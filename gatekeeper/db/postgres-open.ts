import type { PostgresRecordStoreOptions } from './postgres-options.ts'
import type { PostgresRecordStore } from './postgres.ts'

/**
 * Opens the PostgreSQL record source, loading the pg driver only then: a node on the embedded
 * SQLite store (the default) and every CLI command never load it.
 */
export async function createPostgresRecordStore(opts: PostgresRecordStoreOptions): Promise<PostgresRecordStore> {
  const { createPostgresRecordStore: create } = await import('./postgres.ts')
  return create(opts)
}
