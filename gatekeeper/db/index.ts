/** The provider's record database: the SQLite store, the RecordSource contract, and the k-anonymity policy. */
export * from './adapter.ts'
export { releaseCells, type ReleasedCells } from './k-anonymity.ts'
export type { CohortCell } from './aggregate.ts'
export {
  createSqliteRecordStore,
  type BundleImportOptions,
  type BundleImportResult,
  type SqliteRecordStore,
  type SqliteRecordStoreOptions,
  type UpsertOptions,
} from './sqlite.ts'
export { CSV_COLUMNS } from './csv-resources.ts'
export type { PostgresImportResult, PostgresRecordStore } from './postgres.ts'
export { DEFAULT_POSTGRES, type PostgresRecordStoreOptions } from './postgres-options.ts'
export { createPostgresRecordStore } from './postgres-open.ts'
export type { StagedBatch, StagedRecords } from './staging.ts'
export { MEDREC_IDENTITY_SYSTEM, parseFhirDate, type DateRange } from './fhir.ts'
export { SCHEMA_VERSION, TABLES, migrate, type TableSpec } from './schema.ts'
